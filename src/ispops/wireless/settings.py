"""A tenant's wireless rules (``wireless_settings``), with the defaults a tenant without a row gets.

The defaults are here only: the table has no column defaults, and ``PUT /api/v1/wireless/settings``
writes every column.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ispops.errors import ValidationFailed
from ispops.models import WirelessSettings
from ispops.wireless.radio import RadioFamily, families


@dataclass(frozen=True)
class Band:
    """A band the tenant may use, and its regulatory EIRP limit (dBm)."""

    name: str
    low_mhz: float
    high_mhz: float
    max_eirp_dbm: float

    def holds(self, frequency_mhz: float) -> bool:
        return self.low_mhz <= frequency_mhz <= self.high_mhz


# A starting point, loosely the US rules for point-to-multipoint; every tenant sets its own.
DEFAULT_BANDS: tuple[Band, ...] = (
    Band("900 MHz ISM", 902, 928, 36),
    Band("2.4 GHz ISM", 2400, 2483.5, 36),
    Band("3.5 GHz CBRS", 3550, 3700, 47),
    Band("5 GHz UNII-1", 5150, 5250, 36),
    Band("5 GHz UNII-2A", 5250, 5350, 30),
    Band("5 GHz UNII-2C", 5470, 5725, 30),
    Band("5 GHz UNII-3", 5725, 5850, 36),
    Band("6 GHz", 5925, 7125, 36),
    Band("60 GHz", 57000, 71000, 40),
)


@dataclass(frozen=True)
class Rules:
    """What the link budget, coverage, utilisation and the portal use. Field names are the columns."""

    required_fade_margin_db: float = 10.0
    noise_figure_db: float = 6.0
    default_tx_power_dbm: float = 20.0
    default_antenna_gain_dbi: float = 16.0
    default_channel_width_mhz: int = 20
    default_cpe_gain_dbi: float = 23.0
    default_cpe_height_m: float = 6.0
    default_tower_height_m: float = 30.0
    mac_efficiency: float = 0.65
    oversubscription_ratio: float = 4.0
    utilisation_warning_percent: int = 75
    k_factor: float = 4 / 3
    bands: tuple[Band, ...] = DEFAULT_BANDS
    radio_tables: dict[str, Any] = field(default_factory=dict)
    portal_enabled: bool = False
    portal_name: str | None = None
    portal_checks_per_hour: int = 30

    def band_for(self, frequency_mhz: float) -> Band | None:
        return next((b for b in self.bands if b.holds(frequency_mhz)), None)

    def families(self) -> dict[str, RadioFamily]:
        return families(self.radio_tables)

    def as_columns(self) -> dict[str, Any]:
        out = asdict(self)
        out["bands"] = [asdict(b) for b in self.bands]
        return out


def parse_bands(raw: Any) -> tuple[Band, ...]:
    """Bands from JSON; 422 naming ``bands`` when one is malformed or empty."""
    try:
        bands = tuple(
            Band(str(b["name"]), float(b["low_mhz"]), float(b["high_mhz"]), float(b["max_eirp_dbm"])) for b in raw
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ValidationFailed(
            f"bands: each needs name, low_mhz, high_mhz and max_eirp_dbm ({exc})", field="bands"
        ) from exc
    for b in bands:
        if not all(math.isfinite(v) for v in (b.low_mhz, b.high_mhz, b.max_eirp_dbm)) or b.low_mhz > b.high_mhz:
            raise ValidationFailed(f"bands: {b.name}: low_mhz must not exceed high_mhz", field="bands")
    return bands


def from_row(row: WirelessSettings) -> Rules:
    return Rules(
        required_fade_margin_db=float(row.required_fade_margin_db),
        noise_figure_db=float(row.noise_figure_db),
        default_tx_power_dbm=float(row.default_tx_power_dbm),
        default_antenna_gain_dbi=float(row.default_antenna_gain_dbi),
        default_channel_width_mhz=row.default_channel_width_mhz,
        default_cpe_gain_dbi=float(row.default_cpe_gain_dbi),
        default_cpe_height_m=float(row.default_cpe_height_m),
        default_tower_height_m=float(row.default_tower_height_m),
        mac_efficiency=float(row.mac_efficiency),
        oversubscription_ratio=float(row.oversubscription_ratio),
        utilisation_warning_percent=row.utilisation_warning_percent,
        k_factor=float(row.k_factor),
        bands=parse_bands(row.bands),
        radio_tables=dict(row.radio_tables),
        portal_enabled=row.portal_enabled,
        portal_name=row.portal_name,
        portal_checks_per_hour=row.portal_checks_per_hour,
    )


def load(session: Session, tenant_id: str) -> Rules:
    row = session.scalars(select(WirelessSettings).where(WirelessSettings.tenant_id == tenant_id)).first()
    return Rules() if row is None else from_row(row)


def save(session: Session, tenant_id: str, rules: Rules) -> Rules:
    """Write the tenant's rules (every column); the radio tables and bands are checked first."""
    families(rules.radio_tables)  # 422 naming radio_tables when one is malformed
    parse_bands(
        [{"name": b.name, **{k: getattr(b, k) for k in ("low_mhz", "high_mhz", "max_eirp_dbm")}} for b in rules.bands]
    )
    columns = rules.as_columns()
    row = session.scalars(
        select(WirelessSettings).where(WirelessSettings.tenant_id == tenant_id).with_for_update()
    ).first()
    if row is None:
        row = WirelessSettings(tenant_id=tenant_id, **columns)
        session.add(row)
    else:
        for key, value in columns.items():
            setattr(row, key, value)
    session.flush()
    return rules
