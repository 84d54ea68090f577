"""Serviceability: the GiST pre-filter, exact geodesics, ranking; the staff route and the public,
rate-limited, tenant-branded "check my address" page that records leads."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from ispops.db.session import Database
from ispops.wireless import serviceability
from tests.wireless.conftest import HILL, Isp

EAST = (HILL[0], 36.82)  # ~2.2 km east of the hill


def enable_portal(isp: Isp, name: str | None = "Hill Wireless", per_hour: int = 30) -> None:
    rules = isp.get("wireless/settings")
    rules.update(portal_enabled=True, portal_name=name, portal_checks_per_hour=per_hour)
    assert isp.client.put("/api/v1/wireless/settings", json=rules, headers=isp.headers).status_code == 200


def test_candidates_are_ranked_by_fade_margin_then_headroom(isp: Isp) -> None:
    near = isp.tower("Near")
    far = isp.tower("Far", lat=HILL[0], lng=36.77)  # 3.3 km west of the hill: farther from EAST
    west_facing = isp.sector(near, "West", azimuth=270)  # the point is behind it: not a candidate
    busy = isp.sector(near, "East busy", azimuth=90, max_capacity_mbps=100)
    isp.sector(near, "East idle", azimuth=90, max_capacity_mbps=100)
    distant = isp.sector(far, "Far east", azimuth=90)
    plan = isp.plan("Home 25", 25)
    isp.plan("Pro 900", 900)
    isp.cpe(busy, "02:00:00:00:00:01", *EAST, plan=plan)
    answer = isp.get("wireless/serviceability", lat=EAST[0], lng=EAST[1])
    names = [c["sector_name"] for c in answer["candidates"]]
    assert names == ["East idle", "East busy", "Far east"]
    assert west_facing["name"] not in names and distant["name"] in names
    first, second, third = answer["candidates"]
    assert first["budget"]["fade_margin_db"] == second["budget"]["fade_margin_db"] > third["budget"]["fade_margin_db"]
    assert first["headroom_mbps"] == 400 and second["headroom_mbps"] == 375  # 100 Mbps x 4, minus one 25 Mbps plan
    assert first["bearing_from_tower"] == pytest.approx(90, abs=0.1)
    assert first["distance_km"] == pytest.approx(2.226, abs=0.01)
    plans = {p["name"]: p["supported"] for p in first["plans"]}
    assert plans == {"Home 25": True, "Pro 900": False}
    assert answer["serviceable"] is True
    nowhere = isp.get("wireless/serviceability", lat=10.0, lng=10.0)
    assert nowhere == {"latitude": 10.0, "longitude": 10.0, "serviceable": False, "candidates": []}


def test_another_tenants_sectors_are_never_candidates(isp: Isp, other: Isp) -> None:
    isp.sector(isp.tower(), "Mine")
    assert other.get("wireless/serviceability", lat=EAST[0], lng=EAST[1])["candidates"] == []
    assert len(isp.get("wireless/serviceability", lat=EAST[0], lng=EAST[1])["candidates"]) == 1


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"lat": 91, "lng": 0}, "lat"),
        ({"lat": "nan", "lng": 0}, "lat"),
        ({"lat": 0, "lng": "inf"}, "lng"),
        ({"lat": 0, "lng": 0, "cpe_height_m": 0}, "cpe_height_m"),
    ],
)
def test_bad_points_are_refused_naming_the_field(isp: Isp, params: dict[str, Any], field: str) -> None:
    response = isp.client.get("/api/v1/wireless/serviceability", params=params, headers=isp.headers)
    assert response.status_code == 422 and response.json()["field"] == field, response.text


def test_the_service_refuses_nan_itself(db: Database) -> None:
    with db.tenant("nobody", enforce_status=False) as session, pytest.raises(Exception, match="latitude"):
        serviceability.check(session, "nobody", lat=float("nan"), lng=0.0)


def test_the_prefilter_is_an_index_scan_under_row_level_security(isp: Isp, db: Database) -> None:
    tower = isp.tower()
    for i in range(3):
        isp.sector(tower, f"S{i}", azimuth=i * 120)
    with db.tenant(isp.tenant) as session:
        # What is asked is whether the GiST index *can* serve the nearest-first prefilter under RLS (its
        # operators must be leakproof), not what the planner prefers on whatever rows earlier tests left:
        # leave it no other path.
        session.execute(text("set local enable_seqscan = off"))
        session.execute(text("set local enable_bitmapscan = off"))
        session.execute(text("set local enable_sort = off"))
        plan = "\n".join(
            r[0]
            for r in session.execute(
                text("explain " + str(serviceability.PREFILTER)),
                {"t": isp.tenant, "lat": EAST[0], "lng": EAST[1], "k": 64},
            )
        )
        assert "Index Scan using idx_wireless_sectors_coverage" in plan
        assert "Order By" in plan
        found = serviceability.prefilter(session, isp.tenant, EAST[0], EAST[1])
    assert len(found) == 2  # the boxes of the north- and east-facing wedges hold the point, not the south-west one


def test_staff_record_a_lead(isp: Isp, other: Isp) -> None:
    sector = isp.sector(isp.tower(), "East")
    created = isp.post("wireless/leads", {"latitude": EAST[0], "longitude": EAST[1], "contact_name": "Wanjiru"})
    assert created["serviceable"] is True
    lead = isp.get(f"wireless_leads/{created['id']}")
    assert lead["source"] == "staff" and lead["best_sector_id"] == sector["id"] and lead["contact_name"] == "Wanjiru"
    assert lead["answer"]["candidates"][0]["sector_name"] == "East"
    other.get(f"wireless_leads/{created['id']}", status=404)
    assert other.get("wireless_leads")["total"] == 0


def public(client: TestClient, slug: str, body: dict[str, Any], address: str = "127.0.0.7") -> Any:
    client_at = TestClient(client.app, client=(address, 40000), raise_server_exceptions=False)
    return client_at.post(f"/api/v1/public/wireless/{slug}/check", json=body)


def test_the_public_page_is_branded_records_a_lead_and_leaks_nothing(
    isp: Isp, other: Isp, client: TestClient, admin: Any
) -> None:
    isp.sector(isp.tower(), "East")
    isp.plan("Home 25", 25)
    body = {"latitude": EAST[0], "longitude": EAST[1], "contact_email": "a@example.org"}
    assert public(client, isp.tenant, body).status_code == 404  # the portal is off until the tenant turns it on
    enable_portal(isp)
    answer = public(client, isp.tenant, body)
    assert answer.status_code == 200, answer.text
    got = answer.json()
    assert got["provider"] == "Hill Wireless" and got["serviceable"] is True
    assert [p["name"] for p in got["plans"]] == ["Home 25"]
    assert "sector_id" not in answer.text and "candidates" not in got
    lead = admin.execute(
        "select tenant_id, source, host(client_address), contact_email from wireless_leads where id = %s",
        (got["reference"],),
    ).fetchone()
    assert lead == (isp.tenant, "portal", "127.0.0.7", "a@example.org")
    # Another tenant's page answers for its own plant only (it has none), under its own name.
    enable_portal(other, name=None)
    theirs = public(client, other.tenant, body).json()
    assert theirs["provider"] == other.tenant and theirs["serviceable"] is False and theirs["plans"] == []
    assert public(client, "no-such-isp", body).status_code == 404
    bad = public(client, isp.tenant, {"latitude": 95, "longitude": 1})
    assert bad.status_code == 422 and bad.json()["field"] == "latitude"


def test_the_public_page_is_rate_limited_per_client_address(isp: Isp, client: TestClient, admin: Any) -> None:
    isp.sector(isp.tower(), "East")
    enable_portal(isp, per_hour=2)
    body = {"latitude": EAST[0], "longitude": EAST[1]}
    assert [public(client, isp.tenant, body).status_code for _ in range(3)] == [200, 200, 429]
    assert public(client, isp.tenant, body, address="127.0.0.8").status_code == 200  # another address
    assert admin.execute("select count(*) from wireless_leads").fetchone() == (3,)  # the refused one is not kept


def test_a_suspended_tenants_page_is_gone(isp: Isp, client: TestClient, admin: Any) -> None:
    enable_portal(isp)
    admin.execute("update tenants set status = 'suspended' where id = %s", (isp.tenant,))
    assert public(client, isp.tenant, {"latitude": 0, "longitude": 0}).status_code == 404
