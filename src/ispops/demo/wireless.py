"""Demo wireless plant: the tenant's wireless rules, every sector's coverage wedge computed from its link
budget, each CPE's predicted signal, and a day of readings at the prediction (within ±1.5 dB) — except one
CPE 8 dB below it, which raises the signal-drift alarm. The WISP also gets a second tower and its public
"check my address" page (``POST /api/v1/public/wireless/<slug>/check``).

Idempotent: the settings row is made once; readings are pushed once (when the tenant has none).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from ispops.models import WirelessCpeReading, WirelessSector, WirelessSettings, WirelessSubscriber, WirelessTower
from ispops.models.wireless import CpeReadingSource
from ispops.wireless import service, settings, telemetry

DRIFTED_DB = 8.0


def _rules(session: Session, t: str, portal_name: str | None) -> tuple[settings.Rules, int]:
    """The tenant's rules, made (with the portal on for the WISP) when it has none; (rules, rows made)."""
    if session.scalar(select(WirelessSettings.id).where(WirelessSettings.tenant_id == t)) is not None:
        return settings.load(session, t), 0
    rules = settings.Rules(portal_enabled=portal_name is not None, portal_name=portal_name)
    settings.save(session, t, rules)
    return rules, 1


def _second_tower(session: Session, t: str, lat: float, lng: float) -> int:
    tower = session.scalars(
        select(WirelessTower).where(WirelessTower.tenant_id == t, WirelessTower.name == "Ridge Site")
    ).first()
    if tower is not None:
        return 0
    tower = WirelessTower(
        tenant_id=t,
        name="Ridge Site",
        tower_type="lattice",
        height_meters=Decimal("40.00"),
        latitude=Decimal(f"{lat + 0.045:.6f}"),
        longitude=Decimal(f"{lng - 0.03:.6f}"),
        power_type="solar",
        has_backup_power=True,
    )
    session.add(tower)
    session.flush()
    for n, (azimuth, freq) in enumerate(((45, 5745), (225, 5785)), start=1):
        session.add(
            WirelessSector(
                tenant_id=t,
                tower_id=tower.id,
                name=f"Ridge {n}",
                sector_number=n,
                frequency_mhz=freq,
                channel_width_mhz=20,
                azimuth=azimuth,
                beamwidth_degrees=60,
                antenna_gain_dbi=Decimal("16.00"),
                tx_power_dbm=20,
                radio_family="802.11ax",
                radio_mac=f"0a:20:00:00:01:{n:02x}",
                max_subscribers=48,
                max_capacity_mbps=250,
                operational_status="online",
            )
        )
    session.flush()
    return 3


def seed_wireless(session: Session, t: str, *, portal_name: str | None, wisp: bool, lat: float, lng: float) -> int:
    """Rules, wedges and predictions for the tenant ``t``; readings (and the drifted CPE) once. Returns how
    many rows it made (0 on a second run)."""
    rules, made = _rules(session, t, portal_name)
    if wisp:
        made += _second_tower(session, t, lat, lng)
    # The earlier seed's sectors carry no antenna gain: a 6 dBi panel keeps their EIRP (24 dBm Tx) at the
    # 30 dBm of UNII-2A.
    session.execute(
        text("UPDATE wireless_sectors SET antenna_gain_dbi = 6 WHERE tenant_id = :t AND antenna_gain_dbi IS NULL"),
        {"t": t},
    )
    for sector in session.scalars(select(WirelessSector).where(WirelessSector.tenant_id == t)).all():
        service.check_sector(sector, rules)  # the demo's plant obeys the rules the API enforces
    service.recompute_coverage(session, t)  # derived, not made: a second run counts nothing here
    cpes = session.execute(
        select(WirelessSubscriber, WirelessSector, WirelessTower)
        .join(
            WirelessSector,
            (WirelessSector.tenant_id == WirelessSubscriber.tenant_id)
            & (WirelessSector.id == WirelessSubscriber.sector_id),
        )
        .join(
            WirelessTower,
            (WirelessTower.tenant_id == WirelessSector.tenant_id) & (WirelessTower.id == WirelessSector.tower_id),
        )
        .where(WirelessSubscriber.tenant_id == t, WirelessSubscriber.deleted_at.is_(None))
        .order_by(WirelessSubscriber.cpe_mac)
    ).all()
    for cpe, sector, tower in cpes:
        service.predict_cpe(cpe, sector, tower, rules)
    session.flush()
    if not wisp or not cpes:
        return made
    if session.scalar(select(func.count()).select_from(WirelessCpeReading).where(WirelessCpeReading.tenant_id == t)):
        return made
    session.execute(text("SELECT count(*) FROM ispops_wireless_readings_maintain(7, 90)"))  # today's partition
    now = session.scalar(select(func.now())) or dt.datetime.now(dt.UTC)
    readings = []
    for i, (cpe, _sector, _tower) in enumerate(cpes):
        predicted = float(cpe.predicted_signal_dbm or -70)
        drifted = i == len(cpes) - 1
        for hour in range(24, 0, -1):
            wobble = ((i * 7 + hour * 3) % 31 - 15) / 10  # -1.5 .. +1.5 dB, deterministic
            signal = predicted - DRIFTED_DB if drifted and hour <= 6 else predicted + wobble
            readings.append(
                telemetry.Reading(
                    read_at=now - dt.timedelta(hours=hour),
                    wireless_subscriber_id=cpe.id,
                    signal_dbm=round(signal, 1),
                    noise_dbm=-95.0,
                    link_speed_mbps=cpe.link_speed_mbps,
                    distance_km=None if cpe.distance_km is None else float(cpe.distance_km),
                    registered_sector_id=cpe.sector_id,
                )
            )
    telemetry.ingest(session, t, readings, source=CpeReadingSource.PUSH, rules=rules)
    return made + len(readings)
