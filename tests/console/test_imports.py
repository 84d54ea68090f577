"""The console's subscriber import (/console/import): a 1,000-row CSV with two bad rows is refused with both
named (row + column) and nothing imported; a good file is previewed, imported by its job with a progress
bar and summed up; another tenant's import is a 404; a role that may not create subscribers gets 403."""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import Any

import psycopg
from playwright.sync_api import Page, expect

from ispops.db.session import Database
from ispops.subscribers import bulk_import
from tests.console.conftest import TenantFactory, console_login, csrf_of, signed_in
from tests.subscribers.test_bulk_import import csv_bytes, sample, setup_tenant

Admin = psycopg.Connection[tuple[Any, ...]]
BATCH_URL = re.compile(r".*/console/import/([0-9a-f-]{36})$")


def test_import_in_the_browser(
    page: Page, console_tenant: TenantFactory, db: Database, admin: Admin, tmp_path: Path
) -> None:
    tenant = console_tenant("isp-a")
    setup_tenant(db, "isp-a", exists=True)
    rows = sample(1000)
    rows[41]["plan"] = "Gold 1000"  # row 43 (the header is row 1)
    rows[776]["static_ip"] = "192.0.2.50"  # outside every pool: row 778
    bad = tmp_path / "two-bad-rows.csv"
    bad.write_bytes(csv_bytes(rows))

    console_login(page, tenant["tenant_admin"])
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Import subscribers").click()
    expect(page.get_by_role("heading", name="Import subscribers")).to_be_visible()
    page.get_by_label("CSV file").set_input_files(str(bad))
    page.get_by_role("button", name="Upload and check").click()
    page.wait_for_url(BATCH_URL)
    expect(page.locator(".import-status")).to_have_text("refused")
    expect(page.locator("#import-refused")).to_contain_text("2 problem(s): nothing was imported")
    errors = page.locator("#import-errors tbody tr")
    expect(errors).to_have_count(2)
    expect(errors.nth(0)).to_contain_text("43")
    expect(errors.nth(0).locator("td").nth(1)).to_have_text("plan")
    expect(errors.nth(0)).to_contain_text("Gold 1000")
    expect(errors.nth(1).locator("td").nth(0)).to_have_text("778")
    expect(errors.nth(1).locator("td").nth(1)).to_have_text("static_ip")
    assert admin.execute("select count(*) from subscribers").fetchone() == (0,)
    expect(page.get_by_role("button", name=re.compile("^Import"))).to_have_count(0)

    rows[41]["plan"], rows[776]["static_ip"] = "Home 50", ""
    good = tmp_path / "fixed.csv"
    good.write_bytes(csv_bytes(rows))
    page.goto("/console/import")
    page.get_by_label("CSV file").set_input_files(str(good))
    page.get_by_role("button", name="Upload and check").click()
    page.wait_for_url(BATCH_URL)
    expect(page.locator("#preview-ok")).to_contain_text("All 1,000 rows passed every check")
    page.get_by_role("button", name="Import 1,000 subscribers").click()
    page.wait_for_url(BATCH_URL)
    expect(page.locator(".import-status")).to_have_text("queued")
    expect(page.locator("#import-bar")).to_be_visible()
    match = BATCH_URL.match(page.url)
    assert match is not None
    # The worker's part, done here: the page keeps polling the import's row until the job has ended.
    assert bulk_import.run_import_job(db, "isp-a", import_id=match.group(1))["subscribers"] == 1000
    expect(page.locator(".import-status")).to_have_text("succeeded")
    expect(page.locator("#import-summary")).to_contain_text("1,000")
    expect(page.locator("#import-bar")).to_have_attribute("value", "100")
    assert admin.execute("select count(*) from subscribers where tenant_id = 'isp-a'").fetchone() == (1000,)


def _upload(client: Any, token: str, content: bytes) -> Any:
    return client.post(
        "/console/import",
        files={"file": ("s.csv", content, "text/csv")},
        data={"csrf_token": token},
    )


def test_other_tenant_gets_404_and_read_only_role_403(
    console_url: str, console_tenant: TenantFactory, db: Database, admin: Admin
) -> None:
    a = console_tenant("isp-a")
    b = console_tenant("isp-b")
    setup_tenant(db, "isp-a", exists=True)
    owner = signed_in(console_url, a["tenant_admin"])
    made = _upload(owner, csrf_of(owner), csv_bytes(sample(5)))
    assert made.status_code == 303, made.text
    batch = made.headers["location"].rsplit("/", 1)[1]
    uuid.UUID(batch)
    assert owner.get(f"/console/import/{batch}").status_code == 200

    stranger = signed_in(console_url, b["tenant_admin"])
    for path in (f"/console/import/{batch}", f"/console/import/{batch}/progress"):
        assert stranger.get(path).status_code == 404, path
    assert stranger.post(f"/console/import/{batch}/start", data={"csrf_token": csrf_of(stranger)}).status_code == 404
    assert "s.csv" not in stranger.get("/console/import").text

    # A field technician reads subscribers but may not create them: no upload form, and 403 when posting.
    tech = signed_in(console_url, a["field_tech"])
    page = tech.get("/console/import")
    assert page.status_code == 200 and 'id="import-form"' not in page.text
    token = csrf_of(tech)
    assert _upload(tech, token, csv_bytes(sample(3, prefix="t"))).status_code == 403
    assert tech.post(f"/console/import/{batch}/start", data={"csrf_token": token}).status_code == 403
    assert admin.execute("select count(*) from subscriber_imports").fetchone() == (1,)
    assert admin.execute("select status from subscriber_imports").fetchone() == ("validated",)
    # Without the CSRF token even the owner is refused.
    assert owner.post(f"/console/import/{batch}/start").status_code == 403
