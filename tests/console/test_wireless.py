"""The console's wireless pages: towers and sectors with utilisation as the wireless domain computes it,
the serviceability check (in a real browser) giving the API's answer, bad input beside the field, tenants."""

from __future__ import annotations

import re
from typing import Any

import httpx
import psycopg
from playwright.sync_api import Page, expect
from sqlalchemy import text

from ispops.db.session import Database
from ispops.wireless import service
from tests.console.conftest import PASSWORD, StaffUser, console_login, signed_in
from tests.console.plant_seed import FIBRE, WISP, seed, staff


def api_token(base_url: str, user: StaffUser) -> dict[str, str]:
    answer = httpx.post(
        f"{base_url}/api/v1/auth/login",
        json={"tenant": user.tenant, "email": user.email, "password": PASSWORD},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


def cpe_point(admin: psycopg.Connection[Any]) -> tuple[float, float]:
    row = admin.execute(
        "select install_latitude::float8, install_longitude::float8 from wireless_subscribers"
        " where tenant_id = %s order by cpe_mac limit 1",
        (WISP,),
    ).fetchone()
    assert row is not None
    return float(row[0]), float(row[1])


def test_the_serviceability_form_gives_the_apis_answer(
    page: Page, console_url: str, db: Database, admin: psycopg.Connection[Any]
) -> None:
    seed(db)
    user = staff(db, WISP, "support_agent")
    headers = api_token(console_url, user)
    console_login(page, user)
    lat, lng = cpe_point(admin)
    for point, expected_serviceable in (((lat, lng), True), ((lat + 2.0, lng), False)):
        api = httpx.get(
            f"{console_url}/api/v1/wireless/serviceability",
            params={"lat": point[0], "lng": point[1]},
            headers=headers,
            timeout=30,
        ).json()
        assert api["serviceable"] is expected_serviceable
        page.goto("/console/serviceability")
        page.get_by_label("Address (note)").fill("12 Ridge Road")
        page.get_by_label("Latitude").fill(repr(point[0]))
        page.get_by_label("Longitude").fill(repr(point[1]))
        page.get_by_role("button", name="Check").click()
        answer = page.locator("#answer")
        expect(answer).to_have_attribute("data-serviceable", "true" if api["serviceable"] else "false")
        expect(answer).to_have_attribute("data-candidates", str(len(api["candidates"])))
        expect(answer).to_contain_text("Serviceable — 12 Ridge Road" if expected_serviceable else "Not serviceable")
        rows = page.locator("#candidates tbody tr")
        expect(rows).to_have_count(len(api["candidates"]))
        shown = [(r.get_attribute("data-sector"), r.get_attribute("data-usable")) for r in rows.all()]
        usable = [
            c["budget"]["meets_fade_margin"] and c["budget"]["eirp_ok"] and not c["full"] for c in api["candidates"]
        ]
        assert shown == [
            (c["sector_id"], "true" if u else "false") for c, u in zip(api["candidates"], usable, strict=True)
        ]
        for row, c in zip(rows.all(), api["candidates"], strict=True):
            expect(row).to_contain_text(f"{c['budget']['expected_mbps']:.1f}")
            expect(row).to_contain_text(f"{c['budget']['fade_margin_db']:.1f}")


def test_bad_coordinates_are_named_beside_the_field(console_url: str, db: Database) -> None:
    seed(db)
    client = signed_in(console_url, staff(db, WISP, "field_tech"))
    for query, field, words in (
        ("latitude=95&longitude=10", "latitude", "between -90 and 90"),
        ("latitude=abc&longitude=10", "latitude", "must be a number"),
        ("latitude=10&longitude=nan", "longitude", "finite"),
        ("latitude=10&longitude=10&cpe_height_m=900", "cpe_height_m", "at most 500"),
        ("latitude=10", "longitude", "required"),
    ):
        page = client.get(f"/console/serviceability?{query}")
        assert page.status_code == 422, query
        assert re.search(rf'id="f-{field}-err" class="error" role="alert">[^<]*{words}', page.text), query
        assert 'id="answer"' not in page.text


def test_towers_and_sectors_show_the_domains_utilisation(console_url: str, db: Database) -> None:
    seed(db)
    client = signed_in(console_url, staff(db, WISP, "support_agent"))
    html = client.get("/console/wireless").text
    with db.tenant(WISP, enforce_status=False) as s:
        sectors = s.execute(
            text("select id, tower_id from wireless_sectors where tenant_id = :t and deleted_at is null"), {"t": WISP}
        ).all()
        uses = {row.id: service.utilisation(s, WISP, row.id) for row in sectors}
    assert len(uses) == 5  # Hill Site's three, Ridge Site's two
    for sector_id, use in uses.items():
        match = re.search(rf'<tr id="sector-{sector_id}" data-subscribers="(\d+)">(.*?)</tr>', html, re.S)
        assert match is not None, sector_id
        assert int(match.group(1)) == use.subscribers
        assert f"{use.sold_mbps} of {use.sellable_mbps} Mbps ({use.sold_percent} %)" in match.group(2)
    assert sum(u.subscribers for u in uses.values()) == 4  # the demo's four CPEs
    tower = sectors[0].tower_id
    detail = client.get(f"/console/wireless/towers/{tower}")
    assert detail.status_code == 200 and f'id="sector-{sectors[0].id}"' in detail.text


def test_another_tenants_tower_is_404(console_url: str, db: Database) -> None:
    seed(db)
    with db.tenant(WISP, enforce_status=False) as s:
        tower = s.execute(text("select id from wireless_towers where tenant_id = :t limit 1"), {"t": WISP}).scalar_one()
    assert (
        signed_in(console_url, staff(db, WISP, "tenant_admin")).get(f"/console/wireless/towers/{tower}").status_code
        == 200
    )
    other = signed_in(console_url, staff(db, FIBRE, "tenant_admin"))
    assert other.get(f"/console/wireless/towers/{tower}").status_code == 404
