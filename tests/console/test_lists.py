"""The generic resource pages: search, filters, sorting, keyset pages, CSV export, forms with the API's
validation beside the fields, delete with confirmation."""

from __future__ import annotations

import csv
import io
import re
from typing import cast

import psycopg
import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import text

from ispops.api.permissions import MATRIX
from ispops.app import RESOURCES
from ispops.db.session import Database
from tests.console.conftest import TenantFactory, console_login, csrf_of, signed_in
from tests.factories import populate

Admin = psycopg.Connection[tuple[object, ...]]
ROW = re.compile(r'<td data-label="[^"]*"><a href="/console/r/customers/([0-9a-f-]+)">([^<]*)</a>')


def add_customers(admin: Admin, tenant: str, n: int, *, status: str = "active", prefix: str = "C") -> None:
    admin.execute(
        "insert into customers (tenant_id, customer_number, name, status) "
        "select %s, %s || '-' || lpad(i::text, 5, '0'), 'Customer ' || i, %s from generate_series(1, %s) i",
        (tenant, prefix, status, n),
    )


def numbers(html: str) -> list[str]:
    return [m.group(2) for m in ROW.finditer(html)]


def test_list_search_filter_sort(console_url: str, console_tenant: TenantFactory, admin: Admin) -> None:
    client = signed_in(console_url, console_tenant("isp-a")["support_agent"])
    add_customers(admin, "isp-a", 30)
    add_customers(admin, "isp-a", 3, status="inactive", prefix="S")
    page = client.get("/console/r/customers", params={"sort": "customer_number"})
    assert page.status_code == 200
    assert numbers(page.text)[:3] == ["Customer 1", "Customer 2", "Customer 3"]
    assert "33 records" in page.text
    desc = client.get("/console/r/customers", params={"sort": "-customer_number"})
    assert numbers(desc.text)[0] == "Customer 3"  # S-00003 sorts last ascending, first descending
    assert 'aria-sort="descending"' in desc.text
    searched = client.get("/console/r/customers", params={"q": "Customer 2"})
    assert set(numbers(searched.text)) == {"Customer 2", *(f"Customer {n}" for n in range(20, 30))}
    filtered = client.get("/console/r/customers", params={"status": "inactive"})
    assert len(numbers(filtered.text)) == 3 and "3 records" in filtered.text
    bad = client.get("/console/r/customers", params={"status": "sleeping"})
    assert bad.status_code == 200 and 'id="f-status-err"' in bad.text


def test_keyset_pages_walk_forward_and_back(console_url: str, console_tenant: TenantFactory, admin: Admin) -> None:
    client = signed_in(console_url, console_tenant("isp-a")["tenant_admin"])
    add_customers(admin, "isp-a", 60)
    seen: list[str] = []
    url: str | None = "/console/r/customers?sort=customer_number&per_page=25"
    pages = []
    while url:
        html = client.get(url).text
        pages.append(html)
        seen += numbers(html)
        nxt = re.search(r'<a href="([^"]+)" rel="next">', html)
        url = "/console/r/customers" + nxt.group(1).replace("&amp;", "&") if nxt else None
    assert seen == [f"Customer {i}" for i in range(1, 61)]
    assert len(pages) == 3
    prev = re.search(r'<a href="([^"]+)" rel="prev">', pages[-1])
    assert prev is not None
    back = client.get("/console/r/customers" + prev.group(1).replace("&amp;", "&")).text
    assert numbers(back) == [f"Customer {i}" for i in range(26, 51)]


def test_count_is_capped(console_url: str, console_tenant: TenantFactory, admin: Admin) -> None:
    client = signed_in(console_url, console_tenant("isp-a")["tenant_admin"])
    add_customers(admin, "isp-a", 1005)
    assert "more than 1,000 records" in client.get("/console/r/customers").text


def test_csv_export_is_what_is_filtered(console_url: str, console_tenant: TenantFactory, admin: Admin) -> None:
    client = signed_in(console_url, console_tenant("isp-a")["support_agent"])
    add_customers(admin, "isp-a", 2500)
    add_customers(admin, "isp-a", 4, status="inactive", prefix="S")
    everything = client.get("/console/r/customers/export.csv")
    assert everything.status_code == 200 and everything.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(everything.text)))
    assert len(rows) == 2504 and "tenant_id" in rows[0]
    some = client.get("/console/r/customers/export.csv", params={"status": "inactive", "sort": "customer_number"})
    assert [r["customer_number"] for r in csv.DictReader(io.StringIO(some.text))] == [f"S-0000{i}" for i in range(1, 5)]


def test_create_shows_api_errors_beside_fields_then_creates(
    console_url: str, console_tenant: TenantFactory, admin: Admin
) -> None:
    client = signed_in(console_url, console_tenant("isp-a")["noc_engineer"])
    token = csrf_of(client)
    form = client.get("/console/r/bandwidth_profiles/new")
    assert form.status_code == 200 and '<label for="f-download_mbps">' in form.text
    bad = client.post(
        "/console/r/bandwidth_profiles/new",
        data={"csrf_token": token, "name": "  ", "download_mbps": "-5", "upload_mbps": "10"},
    )
    assert bad.status_code == 422
    assert re.search(r'id="f-name-err" class="error" role="alert">a value is required', bad.text)
    assert 'id="f-download_mbps-err"' in bad.text
    assert admin.execute("select count(*) from bandwidth_profiles").fetchone() == (0,)
    good = client.post(
        "/console/r/bandwidth_profiles/new",
        data={"csrf_token": token, "name": "100M", "download_mbps": "100", "upload_mbps": "20"},
    )
    assert good.status_code == 303
    row = admin.execute("select id::text, name from bandwidth_profiles").fetchone()
    assert (
        row is not None and row[1] == "100M" and good.headers["location"] == f"/console/r/bandwidth_profiles/{row[0]}"
    )
    audit = admin.execute("select action from audit_events where entity = 'bandwidth_profiles'").fetchall()
    assert audit == [("create",)]


def test_duplicate_is_a_conflict_shown_on_the_form(
    console_url: str, console_tenant: TenantFactory, admin: Admin
) -> None:
    client = signed_in(console_url, console_tenant("isp-a")["support_agent"])
    add_customers(admin, "isp-a", 1)
    token = csrf_of(client)
    dup = client.post(
        "/console/r/customers/new", data={"csrf_token": token, "customer_number": "C-00001", "name": "Twin"}
    )
    assert dup.status_code == 409
    assert 'role="alert"' in dup.text and "C-00001" in dup.text  # the value is kept in the form
    assert admin.execute("select count(*) from customers").fetchone() == (1,)


def test_edit_sends_only_changes_and_delete_confirms(page: Page, console_tenant: TenantFactory, admin: Admin) -> None:
    console_login(page, console_tenant("isp-a")["tenant_admin"])
    add_customers(admin, "isp-a", 12)
    page.goto("/console/r/customers")
    expect(page.locator("#results tbody tr")).to_have_count(12)
    # Search as you type (htmx): the results change, the search box keeps the focus, the URL follows.
    page.get_by_label("Search").press_sequentially("Customer 1")
    expect(page.locator("#results tbody tr")).to_have_count(4)  # 1, 10, 11, 12
    assert page.evaluate("() => document.activeElement.id") == "f-q"
    expect(page).to_have_url(re.compile(r"q=Customer(%20|\+)1"))
    page.get_by_role("link", name="Customer 1", exact=True).click()
    page.get_by_role("link", name="Edit").click()
    page.get_by_label("Phone").fill("+254 700 000 001")
    page.get_by_role("button", name="Save").click()
    expect(page.locator(".flash")).to_contain_text("saved")
    expect(page.locator("dl.detail")).to_contain_text("+254 700 000 001")
    changes = admin.execute("select changes from audit_events where action = 'update'").fetchone()
    assert changes is not None and set(cast(dict[str, object], changes[0])) == {"phone"}
    page.once("dialog", lambda dialog: dialog.dismiss())
    page.get_by_role("button", name="Delete").click()
    assert admin.execute("select count(*) from customers where deleted_at is null").fetchone() == (12,)
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Delete").click()
    expect(page.locator(".flash")).to_contain_text("deleted")
    assert admin.execute("select count(*) from customers where deleted_at is null").fetchone() == (11,)


@pytest.mark.parametrize("role", ["tenant_admin", "noc_engineer", "support_agent", "field_tech"])
def test_every_resource_page_renders_for_every_role(
    console_url: str, console_tenant: TenantFactory, db: Database, role: str
) -> None:
    populate(db, "isp-a", 3)  # a row in every tenant table
    client = signed_in(console_url, console_tenant("isp-a", exists=True)[role])
    menu = client.get("/console/r").text
    listed = sorted(set(re.findall(r'href="/console/r/([a-z_]+)"', menu)))
    assert listed and all(allowed(role, name) for name in listed)
    assert {name for name in RESOURCE_NAMES if allowed(role, name)} <= set(listed)
    for name in listed:
        page = client.get(f"/console/r/{name}")
        assert page.status_code == 200, name
        assert client.get(f"/console/r/{name}/export.csv").status_code == 200, name
        first = re.search(r'<td data-label="[^"]*"><a href="/console/[a-z_/]+/([^"/]+)">', page.text)
        assert first is not None, f"{name}: the populated row is not listed"
        detail = client.get(f"/console/r/{name}/{first.group(1)}")
        assert detail.status_code == 200, name
        edit = f'href="/console/r/{name}/{first.group(1)}/edit"'
        if edit in detail.text:
            assert client.get(f"/console/r/{name}/{first.group(1)}/edit").status_code == 200, name


RESOURCE_NAMES = [spec.name for spec in RESOURCES if "list" in spec.verbs]


def allowed(role: str, name: str) -> bool:
    return name in MATRIX and role in MATRIX[name].get("read", frozenset())


def test_keyset_pages_over_a_nullable_sort_column(
    console_url: str, console_tenant: TenantFactory, db: Database
) -> None:
    """Sorted by pppoe_username (nulls last, as the API sorts): every row once, forward and back."""
    populate(db, "isp-a", 1)
    with db.tenant("isp-a") as session:
        session.execute(
            text(
                "insert into subscribers (tenant_id, customer_id, subscriber_number, service_type, status, "
                "bandwidth_profile_id, pppoe_username) select tenant_id, customer_id, 'N-' || lpad(i::text, 3, '0'), "
                "service_type, 'pending', bandwidth_profile_id, "
                "case when i % 2 = 0 then 'user-' || lpad(i::text, 3, '0') end "
                "from subscribers, generate_series(1, 59) i where subscriber_number = 'SUB-1'"
            )
        )
    client = signed_in(console_url, console_tenant("isp-a", exists=True)["support_agent"])
    pattern = re.compile(r'<a href="/console/subscribers/([0-9a-f-]+)">')
    pages: list[list[str]] = []
    pages_html: list[str] = []
    url: str | None = "/console/r/subscribers?sort=pppoe_username&per_page=25"
    while url:
        html = client.get(url).text
        pages_html.append(html)
        pages.append(pattern.findall(html))
        nxt = re.search(r'<a href="([^"]+)" rel="next">', html)
        url = "/console/r/subscribers" + nxt.group(1).replace("&amp;", "&") if nxt else None
    seen = [key for page in pages for key in page]
    with db.tenant("isp-a") as session:
        expected = [
            str(r[0])
            for r in session.execute(
                text("select id from subscribers order by pppoe_username asc nulls last, id asc")
            ).all()
        ]
    assert len(expected) == 60 and seen == expected
    # and back: from the third page (partly NULL usernames) to the second, then the first
    third = pages_html[-1]
    prev = re.search(r'<a href="([^"]+)" rel="prev">', third)
    assert prev is not None
    second = client.get("/console/r/subscribers" + prev.group(1).replace("&amp;", "&")).text
    assert pattern.findall(second) == pages[1]
    prev = re.search(r'<a href="([^"]+)" rel="prev">', second)
    assert prev is not None
    first = client.get("/console/r/subscribers" + prev.group(1).replace("&amp;", "&")).text
    assert pattern.findall(first) == pages[0]
