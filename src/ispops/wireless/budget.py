"""Link budget of a sector to a point, by the standard formulas (docs/wireless.md).

    EIRP (dBm)        = Tx power + sector antenna gain - cable loss   (checked against the band's limit)
    FSPL (dB)         = 32.44 + 20·log10 f(MHz) + 20·log10 d(km)
    received (dBm)    = EIRP - FSPL + CPE antenna gain
    noise floor (dBm) = -174 + 10·log10 BW(Hz) + noise figure
    SNR (dB)          = received - noise floor  → MCS and throughput from the radio family
    fade margin (dB)  = received - (noise floor + SNR of the most robust MCS)
    Fresnel radius    = 17.32 · √(d1·d2 / (f(GHz)·d)) m   (first zone; d1, d2, d in km)
    earth bulge       = d1·d2 / (12.74 · k) m

There is no terrain data here: the path is assumed to run over a smooth earth at the lower end's ground
level (bulge only). :class:`TerrainSource` is the hook for a DEM (SRTM tiles, a national lidar service):
given one, clearance is checked against its profile at every sample, not only at mid-path.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

from ispops.wireless.radio import RadioFamily

MAX_RANGE_KM = 100.0  # no coverage wedge is drawn farther than this, whatever the budget says


class TerrainSource(Protocol):
    """A digital elevation model: ground heights (m above the datum) along a path."""

    def profile(self, lat1: float, lng1: float, lat2: float, lng2: float, samples: int) -> list[float] | None:
        """``samples`` ground heights from end 1 to end 2 inclusive, evenly spaced; None where unknown."""


class NoTerrain:
    """The default: no elevation data (the budget says ``terrain: "none"``)."""

    def profile(self, lat1: float, lng1: float, lat2: float, lng2: float, samples: int) -> list[float] | None:
        return None


@dataclass(frozen=True)
class Radio:
    """The sector end of a link, with everything defaulted already."""

    frequency_mhz: float
    channel_width_mhz: int
    tx_power_dbm: float
    antenna_gain_dbi: float
    cable_loss_db: float
    family: RadioFamily
    streams: int
    height_m: float  # antenna above ground
    ground_m: float | None  # ground elevation at the tower, when known


@dataclass(frozen=True)
class Budget:
    distance_km: float
    eirp_dbm: float
    eirp_limit_dbm: float | None
    eirp_ok: bool
    fspl_db: float
    received_dbm: float
    noise_floor_dbm: float
    snr_db: float
    mcs: int | None
    modulation: str | None
    phy_mbps: float
    expected_mbps: float
    sensitivity_dbm: float
    fade_margin_db: float
    meets_fade_margin: bool
    fresnel_radius_m: float
    earth_bulge_m: float
    clearance_m: float
    fresnel_clear: bool  # at least 60 % of the first zone clear
    terrain: str


def eirp(radio: Radio) -> float:
    return radio.tx_power_dbm + radio.antenna_gain_dbi - radio.cable_loss_db


def fspl_db(frequency_mhz: float, distance_km: float) -> float:
    return 32.44 + 20 * math.log10(frequency_mhz) + 20 * math.log10(max(distance_km, 0.001))


def noise_floor_dbm(width_mhz: float, noise_figure_db: float) -> float:
    return -174 + 10 * math.log10(width_mhz * 1e6) + noise_figure_db


def fresnel_radius_m(frequency_mhz: float, d1_km: float, d2_km: float) -> float:
    total = d1_km + d2_km
    if total <= 0:
        return 0.0
    return 17.32 * math.sqrt(d1_km * d2_km / (frequency_mhz / 1000 * total))


def earth_bulge_m(d1_km: float, d2_km: float, k_factor: float) -> float:
    return d1_km * d2_km / (12.74 * k_factor)


def range_km(radio: Radio, *, cpe_gain_dbi: float, noise_figure_db: float, fade_margin_db: float) -> float:
    """The distance at which the fade margin is exactly ``fade_margin_db`` (not capped)."""
    threshold = noise_floor_dbm(radio.channel_width_mhz, noise_figure_db) + radio.family.floor_snr_db
    max_fspl = eirp(radio) + cpe_gain_dbi - threshold - fade_margin_db
    return float(10 ** ((max_fspl - 32.44 - 20 * math.log10(radio.frequency_mhz)) / 20))


def _clearance(
    radio: Radio,
    *,
    distance_km: float,
    cpe_height_m: float,
    cpe_ground_m: float | None,
    k_factor: float,
    terrain: list[float] | None,
) -> tuple[float, float, float, bool]:
    """(first Fresnel radius at mid-path, earth bulge at mid-path, least clearance, 60 % of the zone clear)."""
    mid = distance_km / 2
    radius = fresnel_radius_m(radio.frequency_mhz, mid, mid)
    bulge = earth_bulge_m(mid, mid, k_factor)
    ground_a = radio.ground_m if radio.ground_m is not None else 0.0
    ground_b = cpe_ground_m if cpe_ground_m is not None else ground_a
    if radio.ground_m is None or cpe_ground_m is None:
        ground_a = ground_b = min(ground_a, ground_b)
    top_a, top_b = ground_a + radio.height_m, ground_b + cpe_height_m
    if not terrain:
        # Smooth earth at the lower end's ground level: the line of sight against the bulge at mid-path.
        clearance = (top_a + top_b) / 2 - bulge - min(ground_a, ground_b)
        return radius, bulge, clearance, clearance >= 0.6 * radius
    worst, clear = math.inf, True
    n = len(terrain)
    for i, ground in enumerate(terrain):
        if i in (0, n - 1):
            continue
        d1 = distance_km * i / (n - 1)
        d2 = distance_km - d1
        sight = top_a + (top_b - top_a) * i / (n - 1)
        room = sight - ground - earth_bulge_m(d1, d2, k_factor)
        worst = min(worst, room)
        clear = clear and room >= 0.6 * fresnel_radius_m(radio.frequency_mhz, d1, d2)
    return radius, bulge, (worst if worst != math.inf else top_a), clear


def link_budget(
    radio: Radio,
    *,
    distance_km: float,
    cpe_gain_dbi: float,
    cpe_height_m: float,
    cpe_ground_m: float | None = None,
    noise_figure_db: float,
    required_fade_margin_db: float,
    eirp_limit_dbm: float | None,
    mac_efficiency: float,
    k_factor: float,
    terrain_profile: list[float] | None = None,
) -> Budget:
    e = eirp(radio)
    loss = fspl_db(radio.frequency_mhz, distance_km)
    received = e - loss + cpe_gain_dbi
    noise = noise_floor_dbm(radio.channel_width_mhz, noise_figure_db)
    snr = received - noise
    row = radio.family.best(snr)
    phy = radio.family.phy_mbps(row, radio.channel_width_mhz, radio.streams) if row else 0.0
    sensitivity = noise + radio.family.floor_snr_db
    margin = received - sensitivity
    radius, bulge, clearance, clear = _clearance(
        radio,
        distance_km=distance_km,
        cpe_height_m=cpe_height_m,
        cpe_ground_m=cpe_ground_m,
        k_factor=k_factor,
        terrain=terrain_profile,
    )
    return Budget(
        distance_km=round(distance_km, 4),
        eirp_dbm=round(e, 2),
        eirp_limit_dbm=eirp_limit_dbm,
        eirp_ok=eirp_limit_dbm is None or e <= eirp_limit_dbm + 1e-9,
        fspl_db=round(loss, 2),
        received_dbm=round(received, 2),
        noise_floor_dbm=round(noise, 2),
        snr_db=round(snr, 2),
        mcs=row.mcs if row else None,
        modulation=row.modulation if row else None,
        phy_mbps=round(phy, 1),
        expected_mbps=round(phy * mac_efficiency, 1),
        sensitivity_dbm=round(sensitivity, 2),
        fade_margin_db=round(margin, 2),
        meets_fade_margin=margin >= required_fade_margin_db,
        fresnel_radius_m=round(radius, 2),
        earth_bulge_m=round(bulge, 2),
        clearance_m=round(clearance, 2),
        fresnel_clear=clear,
        terrain="dem" if terrain_profile else "none",
    )
