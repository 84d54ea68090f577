"""The link budget's formulas, the radio tables, the geometry, and the terrain (DEM) hook."""

from __future__ import annotations

import math
from typing import Any

import pytest

from ispops.errors import ValidationFailed
from ispops.wireless import budget, geometry, radio


def a_radio(**changes: object) -> budget.Radio:
    values: dict[str, object] = {
        "frequency_mhz": 5800.0,
        "channel_width_mhz": 20,
        "tx_power_dbm": 20.0,
        "antenna_gain_dbi": 16.0,
        "cable_loss_db": 1.0,
        "family": radio.BUILT_IN["802.11ac"],
        "streams": 2,
        "height_m": 30.0,
        "ground_m": None,
    }
    values.update(changes)
    return budget.Radio(**values)  # type: ignore[arg-type]


def test_the_textbook_figures() -> None:
    assert budget.fspl_db(5800, 1) == pytest.approx(32.44 + 20 * math.log10(5800), abs=1e-9)  # 107.71 dB
    assert budget.fspl_db(5800, 10) - budget.fspl_db(5800, 1) == pytest.approx(20)
    assert budget.noise_floor_dbm(20, 0) == pytest.approx(-100.99, abs=0.01)  # kTB of 20 MHz
    assert budget.noise_floor_dbm(40, 6) - budget.noise_floor_dbm(20, 6) == pytest.approx(3.01, abs=0.01)
    # First Fresnel zone at mid-path of 10 km at 5.8 GHz: 17.32 * sqrt(5 * 5 / (5.8 * 10)) = 11.37 m
    assert budget.fresnel_radius_m(5800, 5, 5) == pytest.approx(11.37, abs=0.01)
    # Earth bulge at mid-path of 10 km with k = 4/3: 25 / (12.74 * 4/3) = 1.47 m
    assert budget.earth_bulge_m(5, 5, 4 / 3) == pytest.approx(1.47, abs=0.01)


def test_the_budget_adds_up() -> None:
    r = a_radio()
    b = budget.link_budget(
        r,
        distance_km=5,
        cpe_gain_dbi=23,
        cpe_height_m=6,
        noise_figure_db=6,
        required_fade_margin_db=10,
        eirp_limit_dbm=36,
        mac_efficiency=0.65,
        k_factor=4 / 3,
    )
    assert b.eirp_dbm == 35 and b.eirp_ok
    assert b.received_dbm == pytest.approx(35 - budget.fspl_db(5800, 5) + 23, abs=0.01)
    assert b.snr_db == pytest.approx(b.received_dbm - b.noise_floor_dbm, abs=0.02)
    assert b.fade_margin_db == pytest.approx(b.received_dbm - (b.noise_floor_dbm + 2.0), abs=0.02)
    row = radio.BUILT_IN["802.11ac"].best(b.snr_db)
    assert row is not None and b.mcs == row.mcs and b.expected_mbps == pytest.approx(b.phy_mbps * 0.65, abs=0.1)
    over = budget.link_budget(
        a_radio(tx_power_dbm=30),
        distance_km=5,
        cpe_gain_dbi=23,
        cpe_height_m=6,
        noise_figure_db=6,
        required_fade_margin_db=10,
        eirp_limit_dbm=36,
        mac_efficiency=0.65,
        k_factor=4 / 3,
    )
    assert over.eirp_ok is False


def test_the_range_is_where_the_fade_margin_is_exactly_the_required_one() -> None:
    r = a_radio()
    reach = budget.range_km(r, cpe_gain_dbi=23, noise_figure_db=6, fade_margin_db=10)
    at = budget.link_budget(
        r,
        distance_km=reach,
        cpe_gain_dbi=23,
        cpe_height_m=6,
        noise_figure_db=6,
        required_fade_margin_db=10,
        eirp_limit_dbm=None,
        mac_efficiency=0.65,
        k_factor=4 / 3,
    )
    assert at.fade_margin_db == pytest.approx(10, abs=0.01)


def test_radio_tables_follow_the_standards_arithmetic() -> None:
    ac, ax = radio.BUILT_IN["802.11ac"], radio.BUILT_IN["802.11ax"]
    assert [r.mbps_20mhz for r in ac.rows[:3]] == [6.5, 13.0, 19.5]
    assert ac.phy_mbps(ac.rows[9], 80, 1) == pytest.approx(390.0, abs=0.1)  # VHT80 MCS 9, one stream, 800 ns GI
    assert ax.phy_mbps(ax.rows[11], 80, 2) == pytest.approx(1201, abs=1)  # HE80 MCS 11, two streams
    assert ac.best(1.9) is None and ac.best(2.0) == ac.rows[0] and ac.best(40) == ac.rows[9]
    assert ac.snr_for(50, 20, 2, 0.65) == 15  # MCS 4: 39 x 2 x 0.65 = 50.7
    assert ac.snr_for(10_000, 20, 2, 0.65) is None


def test_a_vendor_table_replaces_or_adds_a_family() -> None:
    tables = {
        "airmax_ac": {
            "widths": {"40": 2},
            "rows": [
                {"mcs": 0, "modulation": "BPSK 1/2", "min_snr_db": 4, "mbps_20mhz": 6.5},
                {"mcs": 1, "modulation": "QPSK 1/2", "min_snr_db": 7, "mbps_20mhz": 13},
            ],
        }
    }
    fam = radio.families(tables)["airmax_ac"]
    assert fam.floor_snr_db == 4 and fam.phy_mbps(fam.rows[1], 40, 1) == 26 and fam.width_factor(80) == 4
    bad_tables: list[Any] = [
        {"rows": [{"mcs": 0}]},
        {"rows": []},
        {"rows": [{"mcs": 0, "modulation": "x", "min_snr_db": 2, "mbps_20mhz": math.nan}]},
        "not a table",
    ]
    for bad in bad_tables:
        with pytest.raises(ValidationFailed) as err:
            radio.families({"bad": bad})
        assert err.value.field == "radio_tables"


class Ridge:
    """A DEM double: flat ground with one ridge of ``height`` metres at mid-path."""

    def __init__(self, height: float) -> None:
        self.height = height

    def profile(self, lat1: float, lng1: float, lat2: float, lng2: float, samples: int) -> list[float] | None:
        return [self.height if i == samples // 2 else 0.0 for i in range(samples)]


def test_clearance_without_terrain_and_with_a_dem() -> None:
    kwargs: dict[str, Any] = {
        "cpe_gain_dbi": 23.0,
        "cpe_height_m": 6.0,
        "noise_figure_db": 6.0,
        "required_fade_margin_db": 10.0,
        "eirp_limit_dbm": None,
        "mac_efficiency": 0.65,
        "k_factor": 4 / 3,
    }
    flat = budget.link_budget(a_radio(), distance_km=10, **kwargs)
    assert flat.terrain == "none"
    assert flat.clearance_m == pytest.approx((30 + 6) / 2 - 1.47, abs=0.01) and flat.fresnel_clear
    assert budget.NoTerrain().profile(0, 0, 1, 1, 11) is None
    low = budget.link_budget(a_radio(), distance_km=10, terrain_profile=Ridge(2).profile(0, 0, 0, 0, 11), **kwargs)
    high = budget.link_budget(a_radio(), distance_km=10, terrain_profile=Ridge(15).profile(0, 0, 0, 0, 11), **kwargs)
    assert low.terrain == "dem" and low.fresnel_clear
    assert high.fresnel_clear is False and high.clearance_m < low.clearance_m


def test_wedges_boxes_and_beams() -> None:
    omni = geometry.wedge(0, 0, 0, 360, 5)
    assert omni["coordinates"][0][0] == omni["coordinates"][0][-1] and [0, 0] not in omni["coordinates"][0]
    box = geometry.bounding_box(omni, 0)
    assert box.min_lat < 0 < box.max_lat and box.min_lng < 0 < box.max_lng
    # A wedge across the antimeridian: the box spans every longitude rather than the wrong half.
    across = geometry.wedge(0, 179.99, 90, 60, 20)
    assert (
        geometry.bounding_box(across, 179.99).min_lng == -180 and geometry.bounding_box(across, 179.99).max_lng == 180
    )
    assert geometry.in_beam(350, 10, 40) and not geometry.in_beam(330, 10, 40) and geometry.in_beam(123, 0, 360)
    assert geometry.arcs_overlap(0, 90, 80, 90) and not geometry.arcs_overlap(0, 90, 180, 90)
    ((bearing, km),) = geometry.bearing_and_distance(0, 0, [(0, 1)])
    assert bearing == pytest.approx(90) and km == pytest.approx(111.32, abs=0.01)
