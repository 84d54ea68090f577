"""Sectors through the API: coverage wedges computed on write and following their tower, channel overlaps,
link budgets, and bad input refused naming the field."""

from __future__ import annotations

import math
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pyproj import Geod

from tests.wireless.conftest import HILL, Isp

GEOD = Geod(ellps="WGS84")


def ring(sector: dict[str, Any]) -> list[list[float]]:
    return list(sector["coverage_area_geojson"]["coordinates"][0])


def test_a_new_sector_gets_a_wedge_at_its_link_budget_range(isp: Isp) -> None:
    tower = isp.tower()
    sector = isp.sector(tower, "East", azimuth=90, beamwidth_degrees=60)
    points = ring(sector)
    assert points[0] == points[-1] == [HILL[1], HILL[0]]  # apex at the tower, ring closed
    reach = float(sector["coverage_range_km"])
    assert 1 < reach < 100
    for lng, lat in points[1:-1]:
        az, _, metres = GEOD.inv(HILL[1], HILL[0], lng, lat)
        assert metres / 1000 == pytest.approx(reach, rel=1e-4)
        assert 60 - 1e-6 <= az % 360 <= 120 + 1e-6
    assert float(sector["coverage_min_lng"]) == pytest.approx(HILL[1], abs=1e-6)  # all east of the tower
    assert float(sector["coverage_max_lng"]) > HILL[1]
    assert sector["coverage_computed_at"] is not None


def test_max_range_caps_the_wedge_and_moving_the_tower_moves_it(isp: Isp) -> None:
    tower = isp.tower()
    sector = isp.sector(tower, "Capped", max_range_km=2)
    assert float(sector["coverage_range_km"]) == 2.0
    isp.patch(f"wireless_towers/{tower['id']}", {"latitude": -1.0, "longitude": 37.0})
    moved = isp.get(f"wireless_sectors/{sector['id']}")
    assert ring(moved)[0] == [37.0, -1.0]
    assert float(moved["coverage_min_lat"]) < -1.0 < float(moved["coverage_max_lat"])
    isp.patch(f"wireless_sectors/{sector['id']}", {"azimuth": 270})
    west = isp.get(f"wireless_sectors/{sector['id']}")
    assert float(west["coverage_max_lng"]) == pytest.approx(37.0, abs=1e-6)


def test_more_power_reaches_farther_and_the_eirp_limit_refuses(isp: Isp) -> None:
    tower = isp.tower()
    low = isp.sector(tower, "Low", tx_power_dbm=10)
    high = isp.sector(tower, "High", tx_power_dbm=20)
    # 10 dB more EIRP: FSPL grows 20·log10(d), so the range grows by 10^(10/20)
    assert float(high["coverage_range_km"]) / float(low["coverage_range_km"]) == pytest.approx(10**0.5, rel=1e-3)
    refused = isp.client.post(
        "/api/v1/wireless_sectors",
        json={
            "tower_id": tower["id"],
            "name": "Loud",
            "frequency_mhz": 5800,
            "azimuth": 0,
            "beamwidth_degrees": 90,
            "tx_power_dbm": 27,
            "antenna_gain_dbi": 16,
        },
        headers=isp.headers,
    )
    assert refused.status_code == 422
    assert refused.json()["field"] == "tx_power_dbm"
    assert "exceeds the 36 dBm limit of 5 GHz UNII-3" in refused.json()["detail"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"azimuth": 360}, "azimuth"),
        ({"azimuth": -1}, "azimuth"),
        ({"beamwidth_degrees": 0}, "beamwidth_degrees"),
        ({"beamwidth_degrees": 361}, "beamwidth_degrees"),
        ({"frequency_mhz": 4200}, "frequency_mhz"),
        ({"radio_family": "802.11zz"}, "radio_family"),
    ],
)
def test_bad_sector_input_is_refused_naming_the_field(isp: Isp, admin: Any, change: dict[str, Any], field: str) -> None:
    tower = isp.tower()
    body = {"tower_id": tower["id"], "name": "Bad", "frequency_mhz": 5800, "azimuth": 90, "beamwidth_degrees": 60}
    response = isp.client.post("/api/v1/wireless_sectors", json={**body, **change}, headers=isp.headers)
    assert response.status_code == 422, response.text
    assert response.json()["field"] == field
    assert admin.execute("select count(*) from wireless_sectors").fetchone() == (0,)  # nothing half-written


def test_another_tenants_tower_and_bad_coordinates_are_refused(isp: Isp, other: Isp, client: TestClient) -> None:
    theirs = other.tower()
    response = client.post(
        "/api/v1/wireless_sectors",
        json={"tower_id": theirs["id"], "name": "X", "frequency_mhz": 5800, "azimuth": 1, "beamwidth_degrees": 60},
        headers=isp.headers,
    )
    assert response.status_code == 422 and response.json()["field"] == "tower_id"
    for lat, field in ((91, "latitude"), (-90.5, "latitude")):
        bad = client.post(
            "/api/v1/wireless_towers", json={"name": "T", "latitude": lat, "longitude": 1}, headers=isp.headers
        )
        assert bad.status_code == 422 and bad.json()["field"] == field, bad.text
    for raw in ("NaN", "Infinity", "-Infinity"):
        bad = client.post(
            "/api/v1/wireless_towers",
            content='{"name": "T", "latitude": ' + raw + ', "longitude": 1}',
            headers={**isp.headers, "content-type": "application/json"},
        )
        assert bad.status_code == 422 and bad.json()["field"] == "latitude", (raw, bad.text)


def test_the_tenants_bands_decide_which_frequencies_are_allowed(isp: Isp) -> None:
    rules = isp.get("wireless/settings")
    assert rules["utilisation_warning_percent"] == 75 and rules["portal_enabled"] is False
    rules["bands"] = [{"name": "Licensed 3.6", "low_mhz": 3600, "high_mhz": 3700, "max_eirp_dbm": 50}]
    response = isp.client.put("/api/v1/wireless/settings", json=rules, headers=isp.headers)
    assert response.status_code == 200, response.text
    tower = isp.tower()
    assert isp.sector(tower, "Licensed", frequency_mhz=3650)["frequency_mhz"] == 3650
    refused = isp.client.post(
        "/api/v1/wireless_sectors",
        json={"tower_id": tower["id"], "name": "Wifi", "frequency_mhz": 5800, "azimuth": 0, "beamwidth_degrees": 90},
        headers=isp.headers,
    )
    assert refused.status_code == 422 and refused.json()["field"] == "frequency_mhz"
    assert "Licensed 3.6 3600-3700" in refused.json()["detail"]


def test_settings_are_the_tenants_own_and_only_admins_change_them(
    isp: Isp, other: Isp, client: TestClient, auth: Any
) -> None:
    rules = isp.get("wireless/settings")
    rules["required_fade_margin_db"] = 20
    assert client.put("/api/v1/wireless/settings", json=rules, headers=isp.headers).status_code == 200
    assert isp.get("wireless/settings")["required_fade_margin_db"] == 20
    assert other.get("wireless/settings")["required_fade_margin_db"] == 10
    noc = auth(isp.tenant, "noc_engineer")
    assert client.put("/api/v1/wireless/settings", json=rules, headers=noc).status_code == 403
    assert client.get("/api/v1/wireless/settings", headers=auth(isp.tenant, "field_tech")).status_code == 403
    rules["mac_efficiency"] = math.inf
    bad = client.put(
        "/api/v1/wireless/settings",
        content=str(rules)
        .replace("'", '"')
        .replace("False", "false")
        .replace("True", "true")
        .replace("None", "null")
        .replace("inf", "Infinity"),
        headers={**isp.headers, "content-type": "application/json"},
    )
    assert bad.status_code == 422 and bad.json()["field"] == "mac_efficiency", bad.text


def test_a_higher_fade_margin_shrinks_every_wedge_on_recompute(isp: Isp) -> None:
    tower = isp.tower()
    before = float(isp.sector(tower, "A")["coverage_range_km"])
    rules = isp.get("wireless/settings")
    rules["required_fade_margin_db"] = 16  # 6 dB more: range / 10^(6/20)
    isp.client.put("/api/v1/wireless/settings", json=rules, headers=isp.headers)
    assert isp.post("wireless/coverage/recompute", {}, status=200) == {"recomputed": 1}
    after = float(isp.get("wireless_sectors", tower_id=tower["id"])["items"][0]["coverage_range_km"])
    assert before / after == pytest.approx(10**0.3, rel=1e-3)


def test_overlapping_channels_at_one_tower_are_reported(isp: Isp, other: Isp) -> None:
    tower = isp.tower()
    isp.sector(tower, "A", azimuth=0, beamwidth_degrees=90, frequency_mhz=5800, channel_width_mhz=20)
    isp.sector(tower, "B", azimuth=60, beamwidth_degrees=90, frequency_mhz=5810, channel_width_mhz=20)  # overlaps A
    isp.sector(tower, "C", azimuth=180, beamwidth_degrees=90, frequency_mhz=5800, channel_width_mhz=20)  # other side
    isp.sector(tower, "D", azimuth=30, beamwidth_degrees=90, frequency_mhz=5200, channel_width_mhz=20)  # other channel
    found = isp.get(f"wireless_towers/{tower['id']}/channel-overlaps")
    assert [(o["name_a"], o["name_b"]) for o in found] == [("A", "B")]
    assert other.get(f"wireless_towers/{tower['id']}/channel-overlaps", status=404)


def test_link_budget_route_and_another_tenant_gets_404(isp: Isp, other: Isp) -> None:
    sector = isp.sector(isp.tower(), "East")
    east = (HILL[0], 36.82)  # ~2.2 km east
    budget = isp.get(f"wireless_sectors/{sector['id']}/link-budget", lat=east[0], lng=east[1])
    assert budget["distance_km"] == pytest.approx(2.226, abs=0.01)
    assert budget["eirp_dbm"] == 36 and budget["eirp_ok"] is True
    assert budget["terrain"] == "none" and budget["mcs"] is not None
    other.get(f"wireless_sectors/{sector['id']}/link-budget", status=404, lat=east[0], lng=east[1])
    other.get(f"wireless_sectors/{sector['id']}/utilisation", status=404)
    bad = isp.client.get(
        f"/api/v1/wireless_sectors/{sector['id']}/link-budget", params={"lat": "nan", "lng": 1}, headers=isp.headers
    )
    assert bad.status_code == 422 and bad.json()["field"] == "lat"


def test_every_wireless_get_route_refuses_undeclared_parameters(isp: Isp, client: TestClient) -> None:
    tower = isp.tower()
    sector = isp.sector(tower, "East")
    cpe = isp.cpe(sector, "02:00:00:00:07:01", HILL[0], 36.82)
    ids = {"wireless_towers": tower["id"], "wireless_sectors": sector["id"], "wireless_subscribers": cpe["id"]}
    paths = [
        path
        for path, item in client.app.openapi()["paths"].items()  # type: ignore[attr-defined]
        if "get" in item and "wireless" in path and "{" in path and path.split("/")[3] in ids
    ]
    assert {p.rsplit("/", 1)[-1] for p in paths} >= {"link-budget", "utilisation", "health", "channel-overlaps"}
    for path in [*paths, "/api/v1/wireless/serviceability", "/api/v1/wireless/settings"]:
        url = path.replace("{key}", ids.get(path.split("/")[3], ""))
        response = client.get(url, params={"zz_unknown": "1"}, headers=isp.headers)
        assert response.status_code == 422, (path, response.text)
        assert [e["field"] for e in response.json()["errors"]] == ["zz_unknown"], path
