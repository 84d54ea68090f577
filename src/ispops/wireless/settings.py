"""A tenant's wireless rules (``wireless_settings``), with the defaults a tenant without a row gets, and
the tenant's CPE SNMP credentials (in the secret store, never in the database).

The defaults are here only: the table has no column defaults, and ``PUT /api/v1/wireless/settings``
writes every column.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from sqlalchemy import select
from sqlalchemy.orm import Session

from ispops.devices.snmp import SnmpCredentials
from ispops.errors import ValidationFailed
from ispops.models import WirelessSettings
from ispops.secrets import SecretNotFound, SecretStore, tenant_path
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


class CpeSnmpCredentials(BaseModel):
    """How the worker reads the tenant's CPE radios over SNMP: one set for all of them (as UISP does), kept
    as one JSON object in the secret store at :func:`cpe_snmp_path`. v1/v2c need ``community``; v3 needs
    ``user`` (keys optional: noAuthNoPriv, authNoPriv, authPriv)."""

    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    version: Literal["v1", "v2c", "v3"] = "v2c"
    port: int = Field(161, ge=1, le=65535, description="the CPEs' SNMP port")
    community: str | None = Field(None, min_length=1, max_length=255, repr=False, json_schema_extra={"writeOnly": True})
    user: str | None = Field(None, min_length=1, max_length=255)
    auth_protocol: str = Field("sha", pattern=r"^(md5|sha|sha224|sha256|sha384|sha512)$")
    auth_key: str | None = Field(None, min_length=8, max_length=255, repr=False, json_schema_extra={"writeOnly": True})
    priv_protocol: str = Field("aes", pattern=r"^(des|3des|aes|aes128|aes192|aes256)$")
    priv_key: str | None = Field(None, min_length=8, max_length=255, repr=False, json_schema_extra={"writeOnly": True})

    @model_validator(mode="after")
    def _complete(self) -> Self:
        if self.version == "v3":
            if not self.user:
                raise ValueError("user: required for SNMP v3")
            if self.priv_key and not self.auth_key:
                raise ValueError("auth_key: required with priv_key (SNMP v3 has no privacy without authentication)")
        elif not self.community:
            raise ValueError(f"community: required for SNMP {self.version}")
        return self

    def snmp(self) -> SnmpCredentials:
        return SnmpCredentials(
            version=self.version,
            community=self.community,
            user=self.user,
            auth_protocol=self.auth_protocol,
            auth_key=self.auth_key,
            priv_protocol=self.priv_protocol,
            priv_key=self.priv_key,
        )


class CpeSnmpState(BaseModel):
    """What a read shows of the CPE SNMP credentials: whether they are set, never the secrets."""

    configured: bool
    version: str | None = None
    port: int | None = None


def cpe_snmp_path(tenant_id: str) -> str:
    """Where the tenant's CPE SNMP credentials live: under the tenant's own prefix, one path per tenant."""
    return tenant_path(tenant_id, "wireless", "cpe-snmp")


def save_cpe_snmp(store: SecretStore, tenant_id: str, credentials: CpeSnmpCredentials) -> None:
    store.put(cpe_snmp_path(tenant_id), credentials.model_dump_json(exclude_none=True).encode("utf-8"))


def load_cpe_snmp(store: SecretStore, tenant_id: str) -> CpeSnmpCredentials | None:
    """The tenant's CPE SNMP credentials; None when none are set. A secret that is not a credentials object
    is a ``ValidationFailed`` naming ``cpe_snmp``; a store that fails raises its own error."""
    try:
        raw = store.get(cpe_snmp_path(tenant_id))
    except SecretNotFound:
        return None
    try:
        return CpeSnmpCredentials.model_validate(json.loads(raw.decode("utf-8")))
    except (UnicodeDecodeError, json.JSONDecodeError, ValidationError) as exc:
        raise ValidationFailed(
            f"cpe_snmp: the secret at {cpe_snmp_path(tenant_id)} is not a credentials object ({type(exc).__name__})",
            field="cpe_snmp",
        ) from None


def forget_cpe_snmp(store: SecretStore, tenant_id: str) -> bool:
    """Delete the tenant's CPE SNMP credentials; whether there were any."""
    path = cpe_snmp_path(tenant_id)
    if not store.exists(path):
        return False
    store.delete(path)
    return True
