"""Wireless plant rules over a session (sync; flush, never commit): sector checks, coverage wedges,
channel overlaps, utilisation and the full-sector refusal, the CPE's predicted signal.

Coverage is recomputed whenever a sector or its tower changes: the API's write hooks call
:func:`prepare_sector` / :func:`prepare_tower` before the change is flushed, and
:func:`recompute_coverage` redoes any set of sectors (after the tenant changes its rules, say).
"""

from __future__ import annotations

import datetime as dt
import math
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ispops.errors import Conflict, NotFound, ValidationFailed
from ispops.models import BandwidthProfile, Subscriber, WirelessSector, WirelessSubscriber, WirelessTower
from ispops.wireless import budget, geometry
from ispops.wireless.settings import Rules, load


def _num(value: Decimal | int | float | None, default: float) -> float:
    return default if value is None else float(value)


def radio_of(sector: WirelessSector, tower: WirelessTower, rules: Rules) -> budget.Radio:
    """The sector's radio with the tenant's defaults filled in; 422 naming ``radio_family`` if unknown."""
    family = rules.families().get(sector.radio_family)
    if family is None:
        known = ", ".join(sorted(rules.families()))
        raise ValidationFailed(f"radio_family: one of {known}", field="radio_family")
    return budget.Radio(
        frequency_mhz=float(sector.frequency_mhz),
        channel_width_mhz=sector.channel_width_mhz or rules.default_channel_width_mhz,
        tx_power_dbm=_num(sector.tx_power_dbm, rules.default_tx_power_dbm),
        antenna_gain_dbi=_num(sector.antenna_gain_dbi, rules.default_antenna_gain_dbi),
        cable_loss_db=_num(sector.cable_loss_db, 0.0),
        family=family,
        streams=sector.spatial_streams or 2,
        height_m=_num(tower.height_meters, rules.default_tower_height_m),
        ground_m=None if tower.elevation_meters is None else float(tower.elevation_meters),
    )


def check_sector(sector: WirelessSector, rules: Rules) -> None:
    """The rules a CHECK cannot state: the tenant's bands and their EIRP limits, the radio family."""
    band = rules.band_for(sector.frequency_mhz)
    if band is None:
        allowed = "; ".join(f"{b.name} {b.low_mhz:g}-{b.high_mhz:g}" for b in rules.bands)
        raise ValidationFailed(
            f"frequency_mhz: {sector.frequency_mhz} MHz is outside the bands this tenant may use ({allowed})",
            field="frequency_mhz",
        )
    if sector.radio_family not in rules.families():
        raise ValidationFailed(f"radio_family: one of {', '.join(sorted(rules.families()))}", field="radio_family")
    tx = _num(sector.tx_power_dbm, rules.default_tx_power_dbm)
    gain = _num(sector.antenna_gain_dbi, rules.default_antenna_gain_dbi)
    eirp = tx + gain - _num(sector.cable_loss_db, 0.0)
    if eirp > band.max_eirp_dbm + 1e-9:
        raise ValidationFailed(
            f"tx_power_dbm: EIRP {eirp:g} dBm (Tx {tx:g} + gain {gain:g} - cable loss) exceeds the "
            f"{band.max_eirp_dbm:g} dBm limit of {band.name}",
            field="tx_power_dbm",
        )


def apply_coverage(sector: WirelessSector, tower: WirelessTower, rules: Rules, now: dt.datetime) -> None:
    """Set the sector's range, wedge and bounding box from its link budget at the required fade margin."""
    radio = radio_of(sector, tower, rules)
    reach = budget.range_km(
        radio,
        cpe_gain_dbi=rules.default_cpe_gain_dbi,
        noise_figure_db=rules.noise_figure_db,
        fade_margin_db=rules.required_fade_margin_db,
    )
    cap = budget.MAX_RANGE_KM if sector.max_range_km is None else float(sector.max_range_km)
    reach = max(0.001, min(reach, cap))
    lat, lng = float(tower.latitude), float(tower.longitude)
    polygon = geometry.wedge(lat, lng, float(sector.azimuth), float(sector.beamwidth_degrees), reach)
    box = geometry.bounding_box(polygon, lng)
    sector.coverage_range_km = Decimal(f"{reach:.3f}")
    sector.coverage_area_geojson = polygon
    sector.coverage_min_lat = Decimal(f"{box.min_lat:.7f}")
    sector.coverage_min_lng = Decimal(f"{box.min_lng:.7f}")
    sector.coverage_max_lat = Decimal(f"{box.max_lat:.7f}")
    sector.coverage_max_lng = Decimal(f"{box.max_lng:.7f}")
    sector.coverage_computed_at = now


def _now(session: Session) -> dt.datetime:
    return session.scalar(select(func.now())) or dt.datetime.now(dt.UTC)


def _tower(session: Session, tenant_id: str, tower_id: uuid.UUID) -> WirelessTower:
    tower = session.scalars(
        select(WirelessTower).where(
            WirelessTower.tenant_id == tenant_id, WirelessTower.id == tower_id, WirelessTower.deleted_at.is_(None)
        )
    ).first()
    if tower is None:
        raise ValidationFailed("tower_id: no such wireless tower", field="tower_id")
    return tower


def prepare_sector(session: Session, tenant_id: str, sector: WirelessSector) -> None:
    """Before a sector is written: check it against the tenant's rules and compute its coverage."""
    # A new row's server defaults (migration 0030) are not on the object before its INSERT.
    if sector.radio_family is None:
        sector.radio_family = "802.11ac"
    if sector.spatial_streams is None:
        sector.spatial_streams = 2
    if sector.cable_loss_db is None:
        sector.cable_loss_db = Decimal(0)
    with session.no_autoflush:
        rules = load(session, tenant_id)
        check_sector(sector, rules)
        tower = _tower(session, tenant_id, sector.tower_id)
        apply_coverage(sector, tower, rules, _now(session))
        if sector.id is not None:
            _repredict(session, tenant_id, [(sector, tower)], rules)


def prepare_tower(session: Session, tenant_id: str, tower: WirelessTower) -> None:
    """Before a tower is written: its live sectors' coverage follows it."""
    if tower.id is None:
        return  # a new tower has no sectors yet
    with session.no_autoflush:
        rules = load(session, tenant_id)
        now = _now(session)
        sectors = _live_sectors(session, tenant_id, [tower.id])
        for sector in sectors:
            apply_coverage(sector, tower, rules, now)
        _repredict(session, tenant_id, [(s, tower) for s in sectors], rules)


def _repredict(
    session: Session, tenant_id: str, pairs: Sequence[tuple[WirelessSector, WirelessTower]], rules: Rules
) -> None:
    """The predicted signal of the live CPEs of these sectors, after the sector or its tower changed."""
    by_id = {s.id: (s, t) for s, t in pairs}
    if not by_id:
        return
    cpes = session.scalars(
        select(WirelessSubscriber).where(
            WirelessSubscriber.tenant_id == tenant_id,
            WirelessSubscriber.sector_id.in_(list(by_id)),
            WirelessSubscriber.deleted_at.is_(None),
        )
    ).all()
    for cpe in cpes:
        sector, tower = by_id[cpe.sector_id]
        predict_cpe(cpe, sector, tower, rules)


def _live_sectors(session: Session, tenant_id: str, tower_ids: Iterable[uuid.UUID]) -> Sequence[WirelessSector]:
    return session.scalars(
        select(WirelessSector).where(
            WirelessSector.tenant_id == tenant_id,
            WirelessSector.tower_id.in_(list(tower_ids)),
            WirelessSector.deleted_at.is_(None),
        )
    ).all()


def recompute_coverage(session: Session, tenant_id: str, sector_ids: Sequence[uuid.UUID] | None = None) -> int:
    """Recompute the coverage of the given live sectors (all of the tenant's when None); returns how many."""
    rules = load(session, tenant_id)
    stmt = (
        select(WirelessSector, WirelessTower)
        .join(
            WirelessTower,
            (WirelessTower.tenant_id == WirelessSector.tenant_id) & (WirelessTower.id == WirelessSector.tower_id),
        )
        .where(WirelessSector.tenant_id == tenant_id, WirelessSector.deleted_at.is_(None))
    )
    if sector_ids is not None:
        stmt = stmt.where(WirelessSector.id.in_(list(sector_ids)))
    now = _now(session)
    count = 0
    for sector, tower in session.execute(stmt).all():
        apply_coverage(sector, tower, rules, now)
        count += 1
    session.flush()
    return count


@dataclass(frozen=True)
class Overlap:
    sector_a: uuid.UUID
    sector_b: uuid.UUID
    name_a: str
    name_b: str
    frequency_a_mhz: int
    frequency_b_mhz: int


def channel_overlaps(session: Session, tenant_id: str, tower_id: uuid.UUID) -> list[Overlap]:
    """Pairs of live sectors of the tower whose channels overlap in frequency and whose beams overlap."""
    tower = session.scalars(
        select(WirelessTower).where(
            WirelessTower.tenant_id == tenant_id, WirelessTower.id == tower_id, WirelessTower.deleted_at.is_(None)
        )
    ).first()
    if tower is None:
        raise NotFound("wireless_towers: no such record", table="wireless_towers")
    rules = load(session, tenant_id)
    sectors = sorted(_live_sectors(session, tenant_id, [tower_id]), key=lambda s: s.name)
    found = []
    for i, a in enumerate(sectors):
        for b in sectors[i + 1 :]:
            wa = a.channel_width_mhz or rules.default_channel_width_mhz
            wb = b.channel_width_mhz or rules.default_channel_width_mhz
            same_channel = abs(a.frequency_mhz - b.frequency_mhz) < (wa + wb) / 2
            if same_channel and geometry.arcs_overlap(a.azimuth, a.beamwidth_degrees, b.azimuth, b.beamwidth_degrees):
                found.append(Overlap(a.id, b.id, a.name, b.name, a.frequency_mhz, b.frequency_mhz))
    return found


@dataclass(frozen=True)
class Utilisation:
    sector_id: uuid.UUID
    name: str
    subscribers: int
    max_subscribers: int | None
    capacity_mbps: float
    capacity_estimated: bool
    oversubscription_ratio: float
    sellable_mbps: float
    sold_mbps: int
    sold_percent: float
    warning: bool
    full: bool


def sold_mbps(session: Session, tenant_id: str, sector_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, int]:
    """Download Mbps of the plans of each sector's live CPEs."""
    rows = session.execute(
        select(WirelessSubscriber.sector_id, func.coalesce(func.sum(BandwidthProfile.download_mbps), 0))
        .join(
            Subscriber,
            (Subscriber.tenant_id == WirelessSubscriber.tenant_id)
            & (Subscriber.id == WirelessSubscriber.subscriber_id),
        )
        .join(
            BandwidthProfile,
            (BandwidthProfile.tenant_id == Subscriber.tenant_id)
            & (BandwidthProfile.id == Subscriber.bandwidth_profile_id),
        )
        .where(
            WirelessSubscriber.tenant_id == tenant_id,
            WirelessSubscriber.sector_id.in_(list(sector_ids)),
            WirelessSubscriber.deleted_at.is_(None),
        )
        .group_by(WirelessSubscriber.sector_id)
    ).all()
    return {sid: int(total) for sid, total in rows}


def estimated_capacity_mbps(sector: WirelessSector, rules: Rules) -> float:
    """The sector's throughput at its fastest MCS (when ``max_capacity_mbps`` is not set)."""
    family = rules.families().get(sector.radio_family)
    if family is None:
        return 0.0
    top = max(family.rows, key=lambda r: r.mbps_20mhz)
    width = sector.channel_width_mhz or rules.default_channel_width_mhz
    return family.phy_mbps(top, width, sector.spatial_streams or 2) * rules.mac_efficiency


def utilisation_of(sector: WirelessSector, sold: int, rules: Rules) -> Utilisation:
    estimated = sector.max_capacity_mbps is None
    capacity = estimated_capacity_mbps(sector, rules) if estimated else float(sector.max_capacity_mbps or 0)
    ratio = _num(sector.oversubscription_ratio, rules.oversubscription_ratio)
    sellable = capacity * ratio
    percent = 100.0 * sold / sellable if sellable > 0 else (100.0 if sold else 0.0)
    at_max = sector.max_subscribers is not None and sector.current_subscribers >= sector.max_subscribers
    return Utilisation(
        sector_id=sector.id,
        name=sector.name,
        subscribers=sector.current_subscribers,
        max_subscribers=sector.max_subscribers,
        capacity_mbps=round(capacity, 1),
        capacity_estimated=estimated,
        oversubscription_ratio=ratio,
        sellable_mbps=round(sellable, 1),
        sold_mbps=sold,
        sold_percent=round(percent, 1),
        warning=percent >= rules.utilisation_warning_percent,
        full=at_max or (not estimated and percent >= 100.0),
    )


def utilisation(session: Session, tenant_id: str, sector_id: uuid.UUID) -> Utilisation:
    sector = _sector(session, tenant_id, sector_id, field="sector_id", missing=NotFound)
    return utilisation_of(
        sector, sold_mbps(session, tenant_id, [sector.id]).get(sector.id, 0), load(session, tenant_id)
    )


def _sector(
    session: Session,
    tenant_id: str,
    sector_id: uuid.UUID,
    *,
    field: str,
    missing: type[NotFound] | type[ValidationFailed],
    lock: bool = False,
) -> WirelessSector:
    stmt = select(WirelessSector).where(
        WirelessSector.tenant_id == tenant_id, WirelessSector.id == sector_id, WirelessSector.deleted_at.is_(None)
    )
    sector = session.scalars(stmt.with_for_update() if lock else stmt).first()
    if sector is None:
        if missing is NotFound:
            raise NotFound("wireless_sectors: no such record", table="wireless_sectors")
        raise ValidationFailed(f"{field}: no such wireless sector", field=field)
    return sector


def _plan_mbps(session: Session, tenant_id: str, subscriber_id: uuid.UUID) -> int:
    value = session.scalar(
        select(BandwidthProfile.download_mbps)
        .join(
            Subscriber,
            (Subscriber.tenant_id == BandwidthProfile.tenant_id)
            & (Subscriber.bandwidth_profile_id == BandwidthProfile.id),
        )
        .where(Subscriber.tenant_id == tenant_id, Subscriber.id == subscriber_id)
    )
    return int(value or 0)


def prepare_cpe(session: Session, tenant_id: str, cpe: WirelessSubscriber, *, joining: bool) -> None:
    """Before a CPE is written: a full sector refuses a CPE joining it (409 naming the sector), and the
    CPE's predicted signal and SNR come from the link budget at its install point."""
    with session.no_autoflush:
        rules = load(session, tenant_id)
        sector = _sector(session, tenant_id, cpe.sector_id, field="sector_id", missing=ValidationFailed, lock=joining)
        if joining:
            sold = sold_mbps(session, tenant_id, [sector.id]).get(sector.id, 0)
            use = utilisation_of(sector, sold, rules)
            adding = _plan_mbps(session, tenant_id, cpe.subscriber_id)
            over = not use.capacity_estimated and sold + adding > use.sellable_mbps
            if use.full or over:
                why = (
                    f"{use.subscribers} of {use.max_subscribers} subscribers"
                    if sector.max_subscribers is not None and use.subscribers >= sector.max_subscribers
                    else f"{sold + adding} of {use.sellable_mbps:g} sellable Mbps"
                )
                raise Conflict(f"wireless sector {sector.name!r} ({sector.id}) is full: {why}", field="sector_id")
        tower = _tower(session, tenant_id, sector.tower_id)
        predict_cpe(cpe, sector, tower, rules)


def predict_cpe(cpe: WirelessSubscriber, sector: WirelessSector, tower: WirelessTower, rules: Rules) -> budget.Budget:
    lat, lng = float(cpe.install_latitude), float(cpe.install_longitude)
    if not (math.isfinite(lat) and math.isfinite(lng)):
        raise ValidationFailed("install_latitude: must be a finite number", field="install_latitude")
    ((_, km),) = geometry.bearing_and_distance(float(tower.latitude), float(tower.longitude), [(lat, lng)])
    result = budget_for(
        sector,
        tower,
        rules,
        km,
        cpe_gain=cpe.cpe_gain_dbi,
        cpe_height=cpe.cpe_height_m,
        cpe_ground=cpe.install_elevation_meters,
    )
    cpe.predicted_signal_dbm = Decimal(f"{result.received_dbm:.2f}")
    cpe.predicted_snr_db = Decimal(f"{result.snr_db:.2f}")
    cpe.distance_km = Decimal(f"{km:.3f}")
    return result


def budget_for(
    sector: WirelessSector,
    tower: WirelessTower,
    rules: Rules,
    distance_km: float,
    *,
    cpe_gain: Decimal | float | None = None,
    cpe_height: Decimal | float | None = None,
    cpe_ground: Decimal | float | None = None,
    terrain: list[float] | None = None,
) -> budget.Budget:
    radio = radio_of(sector, tower, rules)
    band = rules.band_for(sector.frequency_mhz)
    return budget.link_budget(
        radio,
        distance_km=distance_km,
        cpe_gain_dbi=_num(cpe_gain, rules.default_cpe_gain_dbi),
        cpe_height_m=_num(cpe_height, rules.default_cpe_height_m),
        cpe_ground_m=None if cpe_ground is None else float(cpe_ground),
        noise_figure_db=rules.noise_figure_db,
        required_fade_margin_db=rules.required_fade_margin_db,
        eirp_limit_dbm=None if band is None else band.max_eirp_dbm,
        mac_efficiency=rules.mac_efficiency,
        k_factor=rules.k_factor,
        terrain_profile=terrain,
    )
