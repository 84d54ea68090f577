"""Subscriber 360 (``/console/subscribers/{id}``): what it shows from real rows, its actions through the
domains (a lifecycle order run to completion by the saga engine, a Disconnect queued, a password shown
once), other tenants' subscribers as 404, and the read-only role without buttons and with 403s."""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import httpx
import psycopg
import pytest
from sqlalchemy import text

from ispops.db.session import Database
from ispops.ipam import service as ipam
from ispops.lifecycle import saga
from ispops.models import WirelessSector, WirelessSubscriber, WirelessTower
from ispops.wireless import service as wireless
from tests.console.conftest import StaffTenant, TenantFactory, console_login, csrf_of, signed_in

if TYPE_CHECKING:
    from playwright.sync_api import Page

QUEUE = ", ".join(f"procrastinate.procrastinate_{t}" for t in ("jobs", "workers", "periodic_defers", "events"))
GB = 1_000_000_000


@dataclass
class World:
    tenant: StaffTenant
    plan: uuid.UUID
    plan2: uuid.UUID
    pool: uuid.UUID
    online: uuid.UUID  # active, an open session, an address, usage
    pending: uuid.UUID  # waiting for activation
    radacctid: int


def build(db: Database, tenant: StaffTenant, nas_ip: str = "127.10.9.1") -> World:
    t = tenant.id
    now = dt.datetime.now(dt.UTC)
    with db.tenant(t) as s:
        plan, plan2 = (
            s.execute(
                text(
                    "insert into bandwidth_profiles (tenant_id, name, download_mbps, upload_mbps, monthly_data_cap_gb) "
                    "values (:t, :n, :d, 20, 500) returning id"
                ),
                {"t": t, "n": name, "d": down},
            ).scalar_one()
            for name, down in (("Home 100", 100), ("Home 300", 300))
        )
        pool = ipam.create_pool(
            s, tenant_id=t, name="subs", network_cidr="10.77.0.0/24", start_ip="10.77.0.10", end_ip="10.77.0.250"
        )
        online, pending = (
            s.execute(
                text(
                    "insert into subscribers (tenant_id, subscriber_number, service_type, status, pppoe_username, "
                    "bandwidth_profile_id) values (:t, :n, 'dsl', :st, :u, :p) returning id"
                ),
                {"t": t, "n": number, "st": status, "u": user, "p": plan},
            ).scalar_one()
            for number, status, user in (("S-1001", "active", "alice"), ("S-1002", "pending", "bob"))
        )
        ipam.allocate(s, tenant_id=t, pool_id=pool.id, ip_address="10.77.0.42", subscriber_id=online)
        s.execute(
            text(
                "insert into nas (tenant_id, nasname, shortname, type, secret) "
                "values (:t, :ip, 'bras', 'mikrotik', 'secret-123')"
            ),
            {"t": t, "ip": nas_ip},
        )
        radacctid = s.execute(
            text(
                "insert into radacct (tenant_id, subscriber_id, acctsessionid, acctuniqueid, username, nasipaddress, "
                "acctstarttime, acctupdatetime, acctinputoctets, acctoutputoctets, framedipaddress) values "
                "(:t, :s, 'sess-1', :u, 'alice', :ip, :start, now(), 1500000000, 7250000000, '10.77.0.42') "
                "returning radacctid"
            ),
            {"t": t, "s": online, "u": f"uniq-{t}", "ip": nas_ip, "start": now - dt.timedelta(hours=2)},
        ).scalar_one()
        for back, down in ((0, 3_000_000_000), (1, 12_000_000_000)):
            s.execute(
                text(
                    "insert into subscriber_usage_daily (tenant_id, subscriber_id, day, input_octets, output_octets) "
                    "values (:t, :s, :d, 1000000000, :o)"
                ),
                {"t": t, "s": online, "d": now.date() - dt.timedelta(days=back), "o": down},
            )
    return World(tenant, plan, plan2, pool.id, online, pending, int(radacctid))


@pytest.fixture
def world(console_url: str, console_tenant: TenantFactory, db: Database, admin: psycopg.Connection[Any]) -> World:
    admin.execute(f"truncate {QUEUE} restart identity cascade")
    return build(db, console_tenant("isp-a"))


def test_the_360_page_shows_sessions_address_usage_and_plan_from_the_rows(console_url: str, world: World) -> None:
    client = signed_in(console_url, world.tenant["noc_engineer"])
    page = client.get(f"/console/subscribers/{world.online}")
    assert page.status_code == 200, page.text
    html = page.text
    assert "S-1001" in html and "Home 100" in html
    session = re.search(rf'<tr data-radacctid="{world.radacctid}">(.*?)</tr>', html, re.S)
    assert session is not None, "the open session is listed"
    assert "127.10.9.1" in session.group(1) and "10.77.0.42" in session.group(1)
    assert "1.50 / 7.25 GB" in session.group(1)  # upload / download of the session
    assert re.search(r'<ul id="addresses">\s*<li><span class="mono">10\.77\.0\.42</span> from subs', html)
    # usage: today 1 + 3 GB and yesterday 1 + 12 GB, both in this billing period unless it began today
    period = re.search(r'<strong id="period-gb">([\d.]+) GB</strong>', html)
    assert period is not None and float(period.group(1)) in (4.0, 17.0)
    data = re.search(r'<script id="usage-data" type="application/json">(.*?)</script>', html, re.S)
    assert data is not None
    chart = json.loads(data.group(1))  # yesterday 13 GB, today 4 GB; the plan's monthly cap, no daily cap
    assert chart["daily"]["gb"][-2:] == [13.0, 4.0] and chart["daily"]["cap"] is None
    assert chart["periods"]["cap"] == 500


def test_a_subscriber_of_another_tenant_is_a_404(console_url: str, world: World, console_tenant: TenantFactory) -> None:
    other = console_tenant("isp-b")
    client = signed_in(console_url, other["tenant_admin"])
    for path in (f"/console/subscribers/{world.online}", f"/console/subscribers/{uuid.uuid4()}"):
        assert client.get(path).status_code == 404
    token = csrf_of(client)
    refused = client.post(
        f"/console/subscribers/{world.online}/sessions/{world.radacctid}/disconnect", data={"csrf_token": token}
    )
    assert refused.status_code == 404
    assert client.post(f"/console/subscribers/{world.online}/password", data={"csrf_token": token}).status_code == 404


def test_disconnect_queues_a_disconnect_request_for_the_session(
    console_url: str, world: World, admin: psycopg.Connection[Any]
) -> None:
    client = signed_in(console_url, world.tenant["support_agent"])
    token = csrf_of(client, f"/console/subscribers/{world.online}")
    done = client.post(
        f"/console/subscribers/{world.online}/sessions/{world.radacctid}/disconnect", data={"csrf_token": token}
    )
    assert done.status_code == 303 and done.headers["location"].startswith(f"/console/subscribers/{world.online}")
    rows = admin.execute(
        "select kind, reason, radacctid, username, tenant_id from radius_coa_queue order by id"
    ).fetchall()
    assert rows == [("disconnect", "manual", world.radacctid, "alice", "isp-a")]
    audit = admin.execute("select entity, action, changes->>'action' from audit_events where entity = 'radacct'")
    assert audit.fetchall() == [("radacct", "action", "disconnect")]
    page = client.get(f"/console/subscribers/{world.online}").text
    assert "Disconnect queued" in page and "Queued: disconnect (manual)" in page


def test_reset_password_sets_radius_credentials_and_shows_the_password_once(
    console_url: str, world: World, admin: psycopg.Connection[Any]
) -> None:
    client = signed_in(console_url, world.tenant["noc_engineer"])
    token = csrf_of(client, f"/console/subscribers/{world.online}")
    answer = client.post(f"/console/subscribers/{world.online}/password", data={"csrf_token": token})
    assert answer.status_code == 200 and answer.headers["cache-control"] == "no-store"
    shown = re.search(r'<output id="new-password" class="mono stat">([^<]+)</output>', answer.text)
    assert shown is not None and len(shown.group(1)) == 16
    stored = admin.execute(
        "select attribute, value from radcheck where tenant_id = 'isp-a' and username = 'alice' "
        "and attribute in ('Cleartext-Password', 'NT-Password')"
    ).fetchall()
    assert stored == [("Cleartext-Password", shown.group(1))]
    assert shown.group(1) not in client.get(f"/console/subscribers/{world.online}").text  # never shown again
    audit = admin.execute("select changes from audit_events where entity = 'subscribers' and action = 'action'")
    (changes,) = audit.fetchone() or (None,)
    assert changes == {"action": "password", "attribute": "Cleartext-Password"}


def test_an_invalid_order_shows_the_error_beside_its_field_and_stores_nothing(
    console_url: str, world: World, admin: psycopg.Connection[Any]
) -> None:
    client = signed_in(console_url, world.tenant["noc_engineer"])
    token = csrf_of(client, f"/console/subscribers/{world.online}")
    answer = client.post(
        f"/console/subscribers/{world.online}/orders",
        data={"csrf_token": token, "type": "plan_change", "bandwidth_profile_id": str(world.plan), "at": "now"},
    )
    assert answer.status_code == 409  # already on this plan
    error = re.search(r'<p id="f-bandwidth_profile_id-err" class="error" role="alert">([^<]+)</p>', answer.text)
    assert error is not None and "already on this plan" in error.group(1)
    answer = client.post(
        f"/console/subscribers/{world.online}/orders",
        data={"csrf_token": token, "type": "plan_change", "bandwidth_profile_id": str(uuid.uuid4()), "at": "now"},
    )
    assert answer.status_code == 422 and "no such bandwidth profile" in answer.text
    assert admin.execute("select count(*) from service_activations").fetchone() == (0,)
    assert admin.execute(f"select count(*) from {QUEUE.split(', ')[0]}").fetchone() == (0,)


def test_a_plan_change_order_runs_through_the_lifecycle_and_the_page_follows_it(
    console_url: str, world: World, db: Database, admin: psycopg.Connection[Any]
) -> None:
    client = signed_in(console_url, world.tenant["noc_engineer"])
    token = csrf_of(client, f"/console/subscribers/{world.online}")
    answer = client.post(
        f"/console/subscribers/{world.online}/orders",
        data={"csrf_token": token, "type": "plan_change", "bandwidth_profile_id": str(world.plan2), "at": "now"},
    )
    assert answer.status_code == 303, answer.text
    found = re.search(r"order=([0-9a-f-]{36})", answer.headers["location"])
    assert found is not None
    order_id = uuid.UUID(found.group(1))
    assert admin.execute("select activation_type, workflow_status from service_activations").fetchall() == [
        ("plan_change", "pending")
    ]
    progress = client.get(f"/console/operations/orders/{order_id}/progress").text
    assert 'data-status="pending"' in progress and 'hx-trigger="every 2s"' in progress  # still polling
    assert saga.advance(db, "isp-a", order_id) == "completed"
    progress = client.get(f"/console/operations/orders/{order_id}/progress").text
    assert 'data-status="completed"' in progress and "hx-trigger" not in progress  # settled: no more polling
    assert re.search(r'data-step="set_plan" data-state="done"', progress)
    bandwidth = admin.execute("select bandwidth_profile_id from subscribers where id = %s", (world.online,)).fetchone()
    assert bandwidth == (world.plan2,)
    # the admin's audit trail on the page shows who submitted the order
    trail = signed_in(console_url, world.tenant["tenant_admin"]).get(f"/console/subscribers/{world.online}").text
    audit = re.search(r'<section class="card" aria-labelledby="h-audit" id="audit">(.*?)</section>', trail, re.S)
    assert audit is not None and world.tenant["noc_engineer"].email in audit.group(1)
    assert "create (order)" in audit.group(1) and '"type": "plan_change"' in audit.group(1)


def test_the_read_only_role_sees_no_action_and_is_refused_every_post(
    console_url: str, world: World, admin: psycopg.Connection[Any]
) -> None:
    client = signed_in(console_url, world.tenant["field_tech"])
    page = client.get(f"/console/subscribers/{world.online}")
    assert page.status_code == 200 and "S-1001" in page.text
    for button in ("Reset password", "Disconnect", "Suspend", "Change plan", "Terminate", 'id="actions"'):
        assert button not in page.text, button
    assert 'id="sessions"' not in page.text and 'id="audit"' not in page.text  # sections it may not read
    token = csrf_of(client, f"/console/subscribers/{world.online}")
    for path, data in (
        (f"/console/subscribers/{world.online}/password", {}),
        (f"/console/subscribers/{world.online}/sessions/{world.radacctid}/disconnect", {}),
        (f"/console/subscribers/{world.online}/orders", {"type": "suspend", "at": "now"}),
    ):
        assert client.post(path, data={"csrf_token": token, **data}).status_code == 403, path
    assert admin.execute("select count(*) from service_activations").fetchone() == (0,)
    assert admin.execute("select count(*) from radius_coa_queue").fetchone() == (0,)


def test_create_a_subscriber_and_watch_its_activation_complete(
    page: Page, console_url: str, world: World, db: Database, admin: psycopg.Connection[Any]
) -> None:
    """In the browser: a new subscriber (created through the API, as a front desk's system would), the
    activate order submitted from its 360 page, the saga engine run in-process, and the page's own polling
    shows the order completed; the subscriber is then active with an address."""
    noc = world.tenant["noc_engineer"]
    with httpx.Client(base_url=console_url, timeout=30) as api:
        login = api.post(
            "/api/v1/auth/login", json={"tenant": noc.tenant, "email": noc.email, "password": noc.password}
        )
        assert login.status_code == 200, login.text
        made = api.post(
            "/api/v1/subscribers",
            json={"subscriber_number": "S-2001", "service_type": "dsl", "pppoe_username": "carol"},
            headers={"Authorization": f"Bearer {login.json()['access_token']}"},
        )
        assert made.status_code == 201, made.text
        sub = made.json()["id"]
        assert made.json()["status"] == "pending"
    console_login(page, world.tenant["noc_engineer"])
    page.goto(f"/console/subscribers/{sub}")
    page.get_by_text("Activate", exact=True).click()
    form = page.get_by_role("form", name="Activate order")
    form.get_by_label("Plan").select_option(str(world.plan))
    form.get_by_role("button", name="Submit activate order").click()
    page.wait_for_url(re.compile(r".*order=.*"))
    progress = page.locator("#order-progress")
    progress.wait_for()
    row = admin.execute("select id from service_activations").fetchone()
    assert row is not None
    order_id = uuid.UUID(str(row[0]))
    assert saga.advance(db, "isp-a", order_id) == "completed"
    page.wait_for_selector('#order-progress[data-status="completed"]', timeout=20_000)
    assert page.locator("#order-progress .order-status").inner_text() == "completed"
    status = admin.execute("select status, pppoe_username from subscribers where id = %s", (sub,)).fetchone()
    assert status == ("active", "carol")
    page.reload()
    assert page.locator("h1 .badge").inner_text() == "active"
    assert page.locator("#addresses li .mono").count() == 1  # the activation allocated an address


def test_the_360_page_shows_the_onu_light_levels_and_the_cpe_signal(
    console_url: str, world: World, db: Database
) -> None:
    now = dt.datetime.now(dt.UTC).replace(minute=0, second=0, microsecond=0)
    with db.tenant("isp-a") as s:
        device = s.execute(
            text("insert into devices (tenant_id, name, device_type) values ('isp-a', 'olt-north', 'olt') returning id")
        ).scalar_one()
        olt = s.execute(
            text("insert into olts (tenant_id, device_id, technology) values ('isp-a', :d, 'gpon') returning id"),
            {"d": device},
        ).scalar_one()
        port = s.execute(
            text(
                "insert into olt_pon_ports (tenant_id, olt_id, frame, slot, port) "
                "values ('isp-a', :o, 0, 1, 3) returning id"
            ),
            {"o": olt},
        ).scalar_one()
        onu = s.execute(
            text(
                "insert into onus (tenant_id, olt_id, pon_port_id, serial_number, subscriber_id, rx_power_dbm, "
                "tx_power_dbm) values ('isp-a', :o, :p, 'HWTC00000042', :s, -27.35, 2.10) returning id"
            ),
            {"o": olt, "p": port, "s": world.online},
        ).scalar_one()
        s.execute(
            text(
                "insert into onu_optical_hourly (tenant_id, onu_id, hour, samples, rx_min_dbm, rx_avg_dbm, rx_max_dbm) "
                "values ('isp-a', :onu, :h, 12, -27.90, -27.40, -27.10)"
            ),
            {"onu": onu, "h": now - dt.timedelta(hours=1)},
        )
        s.execute(
            text(
                "insert into ftth_alarms (tenant_id, kind, severity, olt_id, onu_id, value_dbm, threshold_dbm) "
                "values ('isp-a', 'rx_low', 'warning', :o, :onu, -27.35, -27.00)"
            ),
            {"o": olt, "onu": onu},
        )
        tower = WirelessTower(tenant_id="isp-a", name="Hill", latitude=Decimal("-1.30"), longitude=Decimal("36.80"))
        s.add(tower)
        s.flush()
        sector = WirelessSector(
            tenant_id="isp-a", tower_id=tower.id, name="East", frequency_mhz=5800, azimuth=90, beamwidth_degrees=60
        )
        wireless.prepare_sector(s, "isp-a", sector)
        s.add(sector)
        s.flush()
        s.add(
            WirelessSubscriber(
                tenant_id="isp-a",
                subscriber_id=world.online,
                sector_id=sector.id,
                cpe_mac="00:11:22:33:44:55",
                install_latitude=Decimal("-1.31"),
                install_longitude=Decimal("36.81"),
                signal_strength_dbm=-63,
                snr_db=31,
            )
        )
    html = signed_in(console_url, world.tenant["noc_engineer"]).get(f"/console/subscribers/{world.online}").text
    onu_card = re.search(r"<h2 id=\"h-onu-1\">ONU HWTC00000042.*?</section>", html, re.S)
    assert onu_card is not None
    assert "olt-north · PON 0/1/3" in onu_card.group(0) and "Rx -27.35 dBm · Tx 2.10 dBm" in onu_card.group(0)
    assert "warning: rx_low (-27.35 dBm, threshold -27.00)" in onu_card.group(0)
    assert "<td>-27.40</td><td>-27.90</td>" in onu_card.group(0)  # the hourly light levels
    cpe_card = re.search(r"<h2 id=\"h-cpe-1\">CPE 00:11:22:33:44:55.*?</section>", html, re.S)
    assert cpe_card is not None
    assert "Hill / East" in cpe_card.group(0) and "Signal -63 dBm" in cpe_card.group(0)
    assert "SNR 31 dB" in cpe_card.group(0)


def test_the_usage_chart_draws_the_days_against_the_cap(page: Page, world: World) -> None:
    console_login(page, world.tenant["support_agent"])
    page.goto(f"/console/subscribers/{world.online}")
    daily = page.locator("#usage-daily")
    daily.locator("canvas").wait_for()
    assert daily.get_attribute("data-points") == str(2)
    periods = page.locator("#usage-periods")
    periods.locator("canvas").wait_for()
    assert "monthly cap" in periods.inner_text()  # the cap's series is in the legend
