"""Sector utilisation: subscribers vs max, sold Mbps vs capacity x oversubscription, the 75 % warning, and a
full sector refusing a new CPE with a 409 naming it."""

from __future__ import annotations

from typing import Any

import pytest

from tests.wireless.conftest import HILL, Isp

SPOT = (HILL[0], 36.81)


def test_sold_mbps_against_capacity_and_the_warning(isp: Isp) -> None:
    sector = isp.sector(isp.tower(), "East", max_capacity_mbps=100, oversubscription_ratio=2)
    plan = isp.plan("Home 50", 50)
    use = isp.get(f"wireless_sectors/{sector['id']}/utilisation")
    assert (use["sellable_mbps"], use["sold_mbps"], use["warning"], use["full"]) == (200, 0, False, False)
    isp.cpe(sector, "02:00:00:00:01:01", *SPOT, plan=plan)
    isp.cpe(sector, "02:00:00:00:01:02", *SPOT, plan=plan)
    use = isp.get(f"wireless_sectors/{sector['id']}/utilisation")
    assert (use["subscribers"], use["sold_mbps"], use["sold_percent"], use["warning"]) == (2, 100, 50.0, False)
    isp.cpe(sector, "02:00:00:00:01:03", *SPOT, plan=plan)
    use = isp.get(f"wireless_sectors/{sector['id']}/utilisation")
    assert (use["sold_percent"], use["warning"], use["full"]) == (75.0, True, False)  # the warning at 75 % sold


def test_the_tenants_ratio_and_warning_apply_when_the_sector_has_none(isp: Isp) -> None:
    rules = isp.get("wireless/settings")
    rules.update(oversubscription_ratio=5, utilisation_warning_percent=10)
    isp.client.put("/api/v1/wireless/settings", json=rules, headers=isp.headers)
    sector = isp.sector(isp.tower(), "East", max_capacity_mbps=100)
    isp.cpe(sector, "02:00:00:00:02:01", *SPOT, plan=isp.plan("Home 50", 50))
    use = isp.get(f"wireless_sectors/{sector['id']}/utilisation")
    assert (use["oversubscription_ratio"], use["sellable_mbps"], use["sold_percent"], use["warning"]) == (
        5.0,
        500.0,
        10.0,
        True,
    )


def test_a_full_sector_refuses_a_new_cpe_naming_it(isp: Isp, admin: Any) -> None:
    tower = isp.tower()
    small = isp.sector(tower, "Small", max_subscribers=1)
    isp.cpe(small, "02:00:00:00:03:01", *SPOT)
    refused = isp.cpe(small, "02:00:00:00:03:02", *SPOT, status=409)
    assert refused["field"] == "sector_id"
    assert "wireless sector 'Small'" in refused["detail"] and small["id"] in refused["detail"]
    assert "1 of 1 subscribers" in refused["detail"]
    sold_out = isp.sector(tower, "Sold out", max_capacity_mbps=10, oversubscription_ratio=1)
    plan = isp.plan("Home 8", 8)
    isp.cpe(sold_out, "02:00:00:00:03:03", *SPOT, plan=plan)
    refused = isp.cpe(sold_out, "02:00:00:00:03:04", *SPOT, plan=plan, status=409)
    assert "wireless sector 'Sold out'" in refused["detail"] and "16 of 10 sellable Mbps" in refused["detail"]
    assert admin.execute("select count(*) from wireless_subscribers").fetchone() == (2,)  # nothing half-written
    # Moving a CPE onto the full sector is refused the same way; other changes to its CPEs are not.
    roomy = isp.sector(tower, "Roomy")
    mover = isp.cpe(roomy, "02:00:00:00:03:05", *SPOT)
    moved = isp.patch(f"wireless_subscribers/{mover['id']}", {"sector_id": small["id"]}, status=409)
    assert moved["field"] == "sector_id"
    first = isp.get("wireless_subscribers", sector_id=small["id"])["items"][0]
    isp.patch(f"wireless_subscribers/{first['id']}", {"install_address": "Plot 7"})


def test_a_cpe_gets_its_predicted_signal(isp: Isp) -> None:
    sector = isp.sector(isp.tower(), "East")
    near = isp.cpe(sector, "02:00:00:00:04:01", HILL[0], 36.81)
    far = isp.cpe(sector, "02:00:00:00:04:02", HILL[0], 36.82)
    # twice the distance: 20·log10(2) ≈ 6.02 dB less
    assert float(near["predicted_signal_dbm"]) - float(far["predicted_signal_dbm"]) == pytest.approx(6.02, abs=0.05)
    assert float(far["distance_km"]) == pytest.approx(2.226, abs=0.01)


def test_changing_the_sector_or_moving_the_tower_updates_the_prediction(isp: Isp) -> None:
    tower = isp.tower()
    sector = isp.sector(tower, "East", tx_power_dbm=15)
    cpe = isp.cpe(sector, "02:00:00:00:04:03", HILL[0], 36.82)
    before = float(cpe["predicted_signal_dbm"])
    isp.patch(f"wireless_sectors/{sector['id']}", {"tx_power_dbm": 18})
    louder = float(isp.get(f"wireless_subscribers/{cpe['id']}")["predicted_signal_dbm"])
    assert louder - before == pytest.approx(3, abs=0.01)
    isp.patch(f"wireless_towers/{tower['id']}", {"longitude": 36.81})  # half the distance: +6.02 dB
    closer = isp.get(f"wireless_subscribers/{cpe['id']}")
    assert float(closer["predicted_signal_dbm"]) - louder == pytest.approx(6.02, abs=0.05)
    assert float(closer["distance_km"]) == pytest.approx(1.113, abs=0.005)
