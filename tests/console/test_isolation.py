"""A user of another tenant gets the 404 page for a console URL of the first tenant's object, whatever
the page; and never sees the first tenant's rows in lists, exports or the dashboard."""

from __future__ import annotations

import psycopg
from playwright.sync_api import Page, expect

from ispops.app import RESOURCES
from ispops.db.session import Database
from tests.console.conftest import TenantFactory, console_login, csrf_of, signed_in
from tests.factories import key_column, populate

Admin = psycopg.Connection[tuple[object, ...]]


def test_other_tenants_objects_are_404_on_every_resource_page(
    console_url: str, console_tenant: TenantFactory, db: Database, admin: Admin
) -> None:
    ids = populate(db, "isp-a", 1)
    populate(db, "isp-b", 2)
    intruder = signed_in(console_url, console_tenant("isp-b", exists=True)["tenant_admin"])
    token = csrf_of(intruder)
    audit = "select count(*) from audit_events where tenant_id = 'isp-a'"
    before = admin.execute(audit).fetchone()
    checked = 0
    for spec in RESOURCES:
        key = ids.get(spec.model.__tablename__)
        if key is None or "get" not in spec.verbs or spec.key_column != key_column(spec.model.__tablename__):
            continue
        url = f"/console/r/{spec.name}/{key}"
        assert intruder.get(url).status_code == 404, url
        if "update" in spec.verbs:
            assert intruder.get(url + "/edit").status_code == 404, url
            assert intruder.post(url + "/edit", data={"csrf_token": token}).status_code == 404, url
        if "delete" in spec.verbs:
            assert intruder.post(url + "/delete", data={"csrf_token": token}).status_code == 404, url
        checked += 1
    assert checked >= 30
    assert admin.execute(audit).fetchone() == before  # nothing was changed


def test_lists_and_exports_show_only_the_own_tenant(
    console_url: str, console_tenant: TenantFactory, db: Database, admin: Admin
) -> None:
    populate(db, "isp-a", 1)
    populate(db, "isp-b", 2)
    client = signed_in(console_url, console_tenant("isp-b", exists=True)["tenant_admin"])
    assert "Ada" in client.get("/console/r/customers").text  # populate's customer: one per tenant
    export = client.get("/console/r/customers/export.csv").text
    assert "isp-b" in export and "isp-a" not in export
    assert "1 records" in client.get("/console/r/customers").text


def test_the_404_page_in_the_browser(page: Page, console_tenant: TenantFactory, db: Database) -> None:
    ids = populate(db, "isp-a", 1)
    populate(db, "isp-b", 2)
    console_login(page, console_tenant("isp-b", exists=True)["noc_engineer"])
    response = page.goto(f"/console/r/devices/{ids['devices']}")
    assert response is not None and response.status == 404
    expect(page.get_by_role("heading", name="Not found")).to_be_visible()
    response = page.goto(f"/console/subscribers/{ids['subscribers']}")
    assert response is not None and response.status == 404
    assert page.goto("/console/no/such/page") is not None
    expect(page.get_by_role("heading", name="Not found")).to_be_visible()
