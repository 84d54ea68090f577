"""The console applies the API's roles: menus and buttons show only what a role may do, and a form posted
anyway is refused (403) without changing anything."""

from __future__ import annotations

import re

import psycopg
from playwright.sync_api import Page, expect

from ispops.db.session import Database
from tests.console.conftest import TenantFactory, console_login, csrf_of, signed_in
from tests.factories import populate

Admin = psycopg.Connection[tuple[object, ...]]


def one(admin: Admin, sql: str) -> str:
    row = admin.execute(sql).fetchone()
    assert row is not None
    return str(row[0])


def test_read_only_role_sees_no_edit_buttons(
    page: Page, console_tenant: TenantFactory, db: Database, admin: Admin
) -> None:
    populate(db, "isp-a", 1)
    tenant = console_tenant("isp-a", exists=True)
    customer = one(admin, "select id from customers where tenant_id = 'isp-a'")
    pool = one(admin, "select id from ip_pools where tenant_id = 'isp-a'")
    # support agents read IP pools but may not change them
    console_login(page, tenant["support_agent"])
    page.goto("/console/r/ip_pools")
    expect(page.get_by_role("heading", name="IP pools")).to_be_visible()
    expect(page.get_by_role("link", name="New")).to_have_count(0)
    page.goto(f"/console/r/ip_pools/{pool}")
    expect(page.locator("dl.detail")).to_be_visible()
    expect(page.get_by_role("link", name="Edit")).to_have_count(0)
    expect(page.get_by_role("button", name="Delete")).to_have_count(0)
    # ... and they may change customers, but not delete them
    page.goto(f"/console/r/customers/{customer}")
    expect(page.get_by_role("link", name="Edit")).to_have_count(1)
    expect(page.get_by_role("button", name="Delete")).to_have_count(0)
    # the menu has no entry the role may not read
    menu = page.locator("nav[aria-label=Main]")
    expect(menu.get_by_role("link", name="IP pools")).to_have_count(1)
    expect(menu.get_by_role("link", name="RADIUS check items")).to_have_count(0)
    expect(menu.get_by_role("link", name="Users", exact=True)).to_have_count(0)


def test_forms_posted_anyway_are_403_and_change_nothing(
    console_url: str, console_tenant: TenantFactory, db: Database, admin: Admin
) -> None:
    populate(db, "isp-a", 1)
    tenant = console_tenant("isp-a", exists=True)
    pool = one(admin, "select id from ip_pools where tenant_id = 'isp-a'")
    customer = one(admin, "select id from customers where tenant_id = 'isp-a'")
    client = signed_in(console_url, tenant["support_agent"])
    token = csrf_of(client)
    before = admin.execute("select name, deleted_at from ip_pools").fetchall()
    attempts = [
        ("get", f"/console/r/ip_pools/{pool}/edit", {}),
        ("get", "/console/r/ip_pools/new", {}),
        ("post", f"/console/r/ip_pools/{pool}/edit", {"name": "taken"}),
        ("post", "/console/r/ip_pools/new", {"name": "new", "network_cidr": "10.8.0.0/24"}),
        ("post", f"/console/r/ip_pools/{pool}/delete", {}),
        ("post", f"/console/r/customers/{customer}/delete", {}),
        ("get", "/console/r/radcheck", {}),
    ]
    for method, url, data in attempts:
        response = client.request(method, url, data={"csrf_token": token, **data} if method == "post" else None)
        assert response.status_code == 403, (method, url)
        assert "Not allowed" in response.text
    assert admin.execute("select name, deleted_at from ip_pools").fetchall() == before
    assert admin.execute("select count(*) from customers where deleted_at is null").fetchone() == (1,)


def test_field_tech_edits_only_installation_fields(
    console_url: str, console_tenant: TenantFactory, db: Database, admin: Admin
) -> None:
    populate(db, "isp-a", 1)
    tenant = console_tenant("isp-a", exists=True)
    subscriber = one(admin, "select id from subscribers where tenant_id = 'isp-a'")
    client = signed_in(console_url, tenant["field_tech"])
    form = client.get(f"/console/r/subscribers/{subscriber}/edit")
    assert form.status_code == 200
    fields = set(re.findall(r'<label for="f-([a-z_0-9]+)"', form.text))
    assert fields and "status" not in fields and "bandwidth_profile" not in fields
    token = csrf_of(client)
    refused = client.post(
        f"/console/r/subscribers/{subscriber}/edit", data={"csrf_token": token, "status": "terminated"}
    )
    assert refused.status_code in (303, 403)  # a field not on the form is not sent at all ...
    assert admin.execute("select status from subscribers").fetchone() == ("active",)  # ... nor applied
