"""The dashboard's figures are the tenant's own counts, each linking to its list filtered to match."""

from __future__ import annotations

import re
from pathlib import Path

import psycopg
from playwright.sync_api import Browser, expect
from sqlalchemy import text

from ispops.db.session import Database
from tests.console.conftest import TenantFactory, console_login, signed_in
from tests.factories import populate

Admin = psycopg.Connection[tuple[object, ...]]


def figure(html: str, card: str, label: str) -> tuple[int, str]:
    """(count, href) of one figure of a card."""
    section = re.search(rf'<section class="card" id="card-{card}".*?</section>', html, re.S)
    assert section is not None, card
    found = re.search(
        rf'<a href="([^"]+)"><span class="count" data-figure="{re.escape(label)}">([\d,]+)</span>', section.group(0)
    )
    assert found is not None, (card, label)
    return int(found.group(2).replace(",", "")), found.group(1).replace("&amp;", "&")


def seed(db: Database, tenant: str) -> None:
    """On top of populate()'s one row per table: more subscribers, sessions, alarms, a full pool, a failed order."""
    with db.tenant(tenant) as session:
        for sql in SEED:
            session.execute(text(sql), {"t": tenant})


ONE = "(select id from subscribers where tenant_id = :t limit 1)"
SEED = [
    "insert into subscribers (tenant_id, customer_id, subscriber_number, service_type, status, "
    "bandwidth_profile_id) select tenant_id, customer_id, 'SUB-S' || i, service_type, 'suspended', "
    f"bandwidth_profile_id from subscribers, generate_series(1, 2) i where id = {ONE}",
    # 3 more open sessions (i = 3..5), 1 closed
    "insert into radacct (tenant_id, subscriber_id, acctsessionid, acctuniqueid, username, nasipaddress, "
    f"acctstarttime, acctstoptime) select cast(:t as varchar), {ONE}, 's' || i, "
    "'u-' || cast(:t as text) || i, 'user1', "
    "'192.0.2.1', now() - interval '1 hour', case when i <= 2 then now() end from generate_series(2, 5) i",
    "update devices set operational_status = 'offline' where tenant_id = :t",
    "insert into ip_pools (tenant_id, name, network_cidr, gateway, start_ip, end_ip, total_ips, "
    "warning_threshold_percent) values (:t, 'tiny', '10.9.9.0/29', '10.9.9.1', '10.9.9.2', '10.9.9.3', 2, 50)",
    "insert into ip_allocations (tenant_id, ip_pool_id, ip_address) "
    "select cast(:t as varchar), id, '10.9.9.2' from ip_pools where tenant_id = :t and name = 'tiny'",
    "update service_activations set workflow_status = 'failed', error_message = 'nas down' where tenant_id = :t",
]


def test_dashboard_counts_match_the_data(
    console_url: str, console_tenant: TenantFactory, db: Database, admin: Admin
) -> None:
    populate(db, "isp-a", 1)
    populate(db, "isp-b", 2)  # another tenant's rows never count
    seed(db, "isp-a")
    seed(db, "isp-b")
    client = signed_in(console_url, console_tenant("isp-a", exists=True)["tenant_admin"])
    html = client.get("/console/").text

    def count(sql: str) -> int:
        row = admin.execute(sql, {"t": "isp-a"}).fetchone()
        assert row is not None
        return int(str(row[0]))

    assert figure(html, "subscribers", "active") == (1, "/console/r/subscribers?status=active")
    assert figure(html, "subscribers", "suspended") == (2, "/console/r/subscribers?status=suspended")
    online = count("select count(*) from radacct where tenant_id = %(t)s and acctstoptime is null")
    assert online == 4 and figure(html, "sessions", "online") == (online, "/console/r/radacct?active=true")
    assert figure(html, "alarms", "ONU optical alarms")[0] == 1
    assert figure(html, "alarms", "CPE signal alarms") == (1, "/console/r/wireless_cpe_alarms")
    offline = figure(html, "alarms", "devices offline")
    assert offline == (count("select count(*) from devices where tenant_id = %(t)s"), offline[1])
    assert figure(html, "pools", "pools at their warning level") == (1, "/console/r/ip_pools?warning=true")
    assert "tiny: 50.00% used" in html
    assert figure(html, "orders", "failed orders") == (1, "/console/r/service_activations?workflow_status=failed")

    # Each link lists exactly what its figure counts.
    for card, label in (("subscribers", "suspended"), ("sessions", "online"), ("orders", "failed orders")):
        n, href = figure(html, card, label)
        assert f"{n:,} records" in client.get(href).text, href
    assert "1 records" in client.get(offline[1]).text
    assert ">tiny<" in client.get("/console/r/ip_pools?warning=true").text


def test_cards_follow_the_role(console_url: str, console_tenant: TenantFactory, db: Database) -> None:
    populate(db, "isp-a", 1)
    tenant = console_tenant("isp-a", exists=True)
    field = signed_in(console_url, tenant["field_tech"]).get("/console/").text
    assert 'id="card-subscribers"' in field and 'id="card-alarms"' in field
    # field techs may not read RADIUS sessions, pools or orders (docs/permissions.md)
    for hidden in ("sessions", "pools", "orders"):
        assert f'id="card-{hidden}"' not in field
    support = signed_in(console_url, tenant["support_agent"]).get("/console/").text
    assert all(f'id="card-{c}"' in support for c in ("subscribers", "sessions", "alarms", "pools", "orders"))


UNLABELLED = """() => [...document.querySelectorAll('input:not([type=hidden]), select, textarea, button')]
    .filter(el => !(el.labels && el.labels.length) && !el.getAttribute('aria-label') && !el.textContent.trim())
    .map(el => el.outerHTML)"""


def test_phone_width_keyboard_and_labels(
    browser: Browser, console_url: str, console_tenant: TenantFactory, db: Database, tmp_path: Path
) -> None:
    populate(db, "isp-a", 1)
    user = console_tenant("isp-a", exists=True)["tenant_admin"]
    context = browser.new_context(base_url=console_url, viewport={"width": 390, "height": 844}, is_mobile=True)
    page = context.new_page()
    try:
        console_login(page, user)
        for url in ("/console/", "/console/r/subscribers", "/console/r/devices/new", "/console/login"):
            page.goto(url)
            overflow = page.evaluate(
                "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
            )
            assert overflow <= 0, f"{url} scrolls sideways by {overflow}px at 390px"
            assert page.evaluate(UNLABELLED) == [], url
        page.goto("/console/")
        page.screenshot(path=str(tmp_path / "dashboard-390.png"), full_page=True)
        # The menu is collapsed behind a button on a phone, and opens.
        expect(page.get_by_role("link", name="Dashboard")).to_be_hidden()
        page.locator("summary", has_text="Menu").click()
        expect(page.get_by_role("link", name="Dashboard")).to_be_visible()
        # Keyboard: the first Tab reaches the skip link, which moves focus to the content; focus is visible.
        page.goto("/console/")
        page.keyboard.press("Tab")
        focused = page.evaluate(
            "() => [document.activeElement.textContent, getComputedStyle(document.activeElement).outlineStyle]"
        )
        assert focused == ["Skip to content", "solid"]
        page.keyboard.press("Enter")
        assert page.evaluate("() => document.activeElement.id") == "content"
    finally:
        context.close()
