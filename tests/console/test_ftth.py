"""The console's FTTH pages: OLT → PON → ONUs, authorising an unconfigured ONU through the form (in a real
browser), the splitter tree and loss report with the demo's fault highlighted, the optical history chart,
roles and tenants."""

from __future__ import annotations

import re
from typing import Any

import psycopg
from playwright.sync_api import Page, expect

from ispops.db.session import Database
from tests.console.conftest import console_login, csrf_of, signed_in
from tests.console.plant_seed import (
    FIBRE,
    NEW_SERIAL,
    WISP,
    a_splitter,
    demo_pon,
    discovered_onu,
    flagged_onu,
    olt_id,
    onu_row,
    readings,
    seed,
    staff,
)

ONU_LINK = re.compile(r"/console/ftth/onus/([0-9a-f-]{36})")


def test_authorise_an_unconfigured_onu_through_the_form(
    page: Page, db: Database, admin: psycopg.Connection[Any]
) -> None:
    seed(db)
    onu = discovered_onu(db, FIBRE)
    console_login(page, staff(db, FIBRE, "noc_engineer"))
    page.goto(f"/console/ftth/olts/{olt_id(db, FIBRE)}")
    row = page.locator(f'#unconfigured-onus tr[data-serial="{NEW_SERIAL}"]')
    expect(row).to_contain_text("0/1/1")
    row.get_by_role("link", name="Authorise").click()
    page.wait_for_url(f"**/console/ftth/onus/{onu}/authorise")
    expect(page.get_by_label("PON port")).to_have_value(str(onu_row_port_id(admin, onu)))
    page.get_by_label("VLAN").fill("200")
    page.get_by_label("Line profile").fill("FTTH-LINE")
    page.get_by_role("button", name="Authorise").click()
    page.wait_for_url(f"**/console/ftth/onus/{onu}")
    expect(page.locator("#onu-status")).to_have_text("authorised")
    expect(page.locator("#onu-id")).to_have_text("0")
    expect(page.locator(".flash")).to_contain_text("authorised as ONU id 0 (provisioned by hand)")
    # Gone from the OLT's unconfigured list, and recorded as the API records it.
    page.goto(f"/console/ftth/olts/{olt_id(db, FIBRE)}")
    expect(page.locator(f'#unconfigured-onus tr[data-serial="{NEW_SERIAL}"]')).to_have_count(0)
    assert onu_row(db, FIBRE, onu) == {
        "status": "authorised",
        "onu_id": 0,
        "vlan_id": 200,
        "line_profile": "FTTH-LINE",
        "port": "0/1/1",
    }
    audit = admin.execute(
        "select changes from audit_events where tenant_id = %s and entity = 'onus' and entity_id = %s",
        (FIBRE, str(onu)),
    ).fetchall()
    assert len(audit) == 1
    assert audit[0][0]["action"] == "authorise" and audit[0][0]["provisioning"] == "manual"


def onu_row_port_id(admin: psycopg.Connection[Any], onu: Any) -> str:
    row = admin.execute("select pon_port_id from onus where id = %s", (onu,)).fetchone()
    assert row is not None
    return str(row[0])


def test_a_refused_authorisation_shows_the_error_beside_the_field_and_writes_nothing(
    console_url: str, db: Database, admin: psycopg.Connection[Any]
) -> None:
    seed(db)
    onu = discovered_onu(db, FIBRE)
    client = signed_in(console_url, staff(db, FIBRE, "field_tech"))
    token = csrf_of(client, f"/console/ftth/onus/{onu}/authorise")
    before = admin.execute("select count(*) from audit_events").fetchone()
    bad = client.post(f"/console/ftth/onus/{onu}/authorise", data={"csrf_token": token, "vlan_id": "5000"})
    assert bad.status_code == 422
    assert re.search(r'id="f-vlan_id-err" class="error" role="alert">[^<]*4094', bad.text), bad.text
    assert 'value="5000"' in bad.text  # what was typed stays in the form
    # Another tenant's splitter is not a splitter here: 422 naming splitter_id, nothing half-written.
    theirs = a_splitter(db, WISP)
    other = client.post(
        f"/console/ftth/onus/{onu}/authorise",
        data={"csrf_token": token, "splitter_id": str(theirs), "vlan_id": "100"},
    )
    assert other.status_code == 422 and 'id="f-splitter_id-err"' in other.text
    assert onu_row(db, FIBRE, onu)["status"] == "discovered" and onu_row(db, FIBRE, onu)["onu_id"] is None
    # An ONU that is already configured: 409, said above the form.
    configured, _ = flagged_onu(db, FIBRE)
    conflict = client.post(f"/console/ftth/onus/{configured}/authorise", data={"csrf_token": token})
    assert conflict.status_code == 409 and "cannot authorise an ONU that is online" in conflict.text
    assert admin.execute("select count(*) from audit_events").fetchone() == before


def test_a_read_only_role_sees_no_authorise_button_and_gets_403(
    console_url: str, db: Database, admin: psycopg.Connection[Any]
) -> None:
    seed(db)
    onu = discovered_onu(db, FIBRE)
    client = signed_in(console_url, staff(db, FIBRE, "support_agent"))  # may read ONUs, not change them
    olt_page = client.get(f"/console/ftth/olts/{olt_id(db, FIBRE)}")
    assert olt_page.status_code == 200 and NEW_SERIAL in olt_page.text
    assert "/authorise" not in olt_page.text and ">Authorise<" not in olt_page.text
    onu_page = client.get(f"/console/ftth/onus/{onu}")
    assert onu_page.status_code == 200 and "/authorise" not in onu_page.text
    assert client.get(f"/console/ftth/onus/{onu}/authorise").status_code == 403
    token = csrf_of(client, f"/console/ftth/onus/{onu}")
    refused = client.post(f"/console/ftth/onus/{onu}/authorise", data={"csrf_token": token, "vlan_id": "100"})
    assert refused.status_code == 403
    assert onu_row(db, FIBRE, onu)["status"] == "discovered"
    # A role that may: the button is there.
    noc = signed_in(console_url, staff(db, FIBRE, "noc_engineer"))
    assert f"/console/ftth/onus/{onu}/authorise" in noc.get(f"/console/ftth/olts/{olt_id(db, FIBRE)}").text


def test_another_tenants_olt_pon_and_onu_are_404(console_url: str, db: Database) -> None:
    seed(db)
    onu = discovered_onu(db, FIBRE)
    theirs = signed_in(console_url, staff(db, WISP, "tenant_admin"))
    mine = signed_in(console_url, staff(db, FIBRE, "tenant_admin"))
    token = csrf_of(theirs)
    for path in (
        f"/console/ftth/olts/{olt_id(db, FIBRE)}",
        f"/console/ftth/pon/{demo_pon(db, FIBRE)}",
        f"/console/ftth/onus/{onu}",
        f"/console/ftth/onus/{onu}/authorise",
    ):
        assert mine.get(path).status_code == 200, path
        answer = theirs.get(path)
        assert answer.status_code == 404, path
        assert NEW_SERIAL not in answer.text
    post = theirs.post(f"/console/ftth/onus/{onu}/authorise", data={"csrf_token": token})
    assert post.status_code == 404
    assert onu_row(db, FIBRE, onu)["status"] == "discovered"


def test_the_pon_page_shows_the_tree_and_highlights_the_demo_fault(console_url: str, db: Database) -> None:
    seed(db)
    client = signed_in(console_url, staff(db, FIBRE, "field_tech"))
    olt = client.get("/console/ftth")
    assert olt.status_code == 200 and f"/console/ftth/olts/{olt_id(db, FIBRE)}" in olt.text
    html = client.get(f"/console/ftth/pon/{demo_pon(db, FIBRE)}").text
    fault, serial = flagged_onu(db, FIBRE)
    # The splitter tree: FDH-01 at the root, NAP-01 and NAP-02 on its ports, 8 ONUs under them.
    tree = html[html.index('id="splitter-tree"') : html.index('id="loss-report"')]
    assert tree.index("FDH-01") < tree.index("NAP-01") < tree.index("NAP-02")
    assert len(set(ONU_LINK.findall(tree))) == 8
    # The report: one suspect, the flagged ONU's drop; its rows (and only its) highlighted.
    assert f"Drop of {serial}" in html and "5.0 dB below budget" in html
    assert re.findall(r'<tr data-health="(\w+)" class="suspect">', html) == ["critical"]
    assert re.findall(r'<tr class="suspect" data-onu="([0-9a-f-]+)"', html) == [str(fault)]
    assert f'<li id="onu-{fault}" class="suspect">' in html
    assert "DROP-" + serial in html  # the suspect drop's cable, from the trace


def test_the_onu_page_draws_its_optical_history(page: Page, db: Database, admin: psycopg.Connection[Any]) -> None:
    seed(db)
    onu, serial = flagged_onu(db, FIBRE)
    readings(db, FIBRE, onu, n=12)
    row = admin.execute("select count(*) from onu_optical_readings where onu_id = %s", (onu,)).fetchone()
    assert row is not None and row[0] >= 12  # the demo's own readings and these (no rollup has run)
    console_login(page, staff(db, FIBRE, "support_agent"))
    page.goto(f"/console/ftth/onus/{onu}")
    expect(page.get_by_role("heading", name=f"ONU {serial}")).to_be_visible()
    expect(page.locator("#optics-chart")).to_have_attribute("data-points", str(row[0]))
    expect(page.locator("#optics-chart canvas")).to_have_count(1)
    expect(page.locator("#onu-budget")).to_contain_text("this ONU's drop")


def test_an_olt_with_a_driver_gets_the_driver_job_as_through_the_api(
    console_url: str, db: Database, admin: psycopg.Connection[Any]
) -> None:
    seed(db)
    onu = discovered_onu(db, FIBRE)
    admin.execute("update olts set driver = 'lab' where tenant_id = %s", (FIBRE,))
    client = signed_in(console_url, staff(db, FIBRE, "noc_engineer"))
    token = csrf_of(client, f"/console/ftth/onus/{onu}/authorise")
    done = client.post(f"/console/ftth/onus/{onu}/authorise", data={"csrf_token": token, "vlan_id": "300"})
    assert done.status_code == 303 and done.headers["location"] == f"/console/ftth/onus/{onu}"
    assert onu_row(db, FIBRE, onu)["status"] == "authorising"  # until the driver's job ends
    jobs = admin.execute(
        "select action, driver, status, queue_job_id is not null from onu_provisioning_jobs"
        " where tenant_id = %s and onu_id = %s",
        (FIBRE, onu),
    ).fetchall()
    assert jobs == [("authorise", "lab", "queued", True)]
    page = client.get(done.headers["location"])
    assert "is being authorised (ONU id 0, job" in page.text and ">authorising<" in page.text
