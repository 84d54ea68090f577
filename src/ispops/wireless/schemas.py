"""Request and response bodies of the wireless routes that are not generic resources."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

Lat = Annotated[float, Field(ge=-90, le=90, allow_inf_nan=False, description="latitude, WGS84 degrees")]
Lng = Annotated[float, Field(ge=-180, le=180, allow_inf_nan=False, description="longitude, WGS84 degrees")]
Height = Annotated[float, Field(gt=0, le=500, allow_inf_nan=False, description="CPE antenna above ground (m)")]
Db = Annotated[float, Field(ge=-200, le=200, allow_inf_nan=False)]
Mac = Annotated[str, Field(pattern=r"^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}$")]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class BandBody(Strict):
    name: Annotated[str, Field(min_length=1, max_length=50)]
    low_mhz: Annotated[float, Field(gt=0, le=100_000, allow_inf_nan=False)]
    high_mhz: Annotated[float, Field(gt=0, le=100_000, allow_inf_nan=False)]
    max_eirp_dbm: Annotated[float, Field(ge=-30, le=90, allow_inf_nan=False)]


class SettingsBody(Strict):
    """The tenant's wireless rules (every field; ``GET`` shows the current ones, defaults included)."""

    required_fade_margin_db: Annotated[float, Field(ge=0, le=100, allow_inf_nan=False)]
    noise_figure_db: Annotated[float, Field(ge=0, le=50, allow_inf_nan=False)]
    default_tx_power_dbm: Annotated[float, Field(ge=-30, le=60, allow_inf_nan=False)]
    default_antenna_gain_dbi: Annotated[float, Field(ge=-10, le=60, allow_inf_nan=False)]
    default_channel_width_mhz: Annotated[int, Field(gt=0, le=2160)]
    default_cpe_gain_dbi: Annotated[float, Field(ge=-10, le=60, allow_inf_nan=False)]
    default_cpe_height_m: Height
    default_tower_height_m: Height
    mac_efficiency: Annotated[float, Field(gt=0, le=1, allow_inf_nan=False)]
    oversubscription_ratio: Annotated[float, Field(ge=1, le=1000, allow_inf_nan=False)]
    utilisation_warning_percent: Annotated[int, Field(ge=1, le=100)]
    k_factor: Annotated[float, Field(gt=0, le=10, allow_inf_nan=False)]
    bands: Annotated[list[BandBody], Field(min_length=1, max_length=100)]
    radio_tables: dict[str, Any] = Field(
        default_factory=dict, description="vendor tables by family name (docs/wireless.md, ispops.wireless.radio)"
    )
    portal_enabled: bool
    portal_name: Annotated[str | None, Field(max_length=100)] = None
    portal_checks_per_hour: Annotated[int, Field(ge=0, le=100_000)]


class LeadBody(Strict):
    latitude: Lat
    longitude: Lng
    cpe_height_m: Height | None = None
    address: Annotated[str | None, Field(max_length=500)] = None
    contact_name: Annotated[str | None, Field(max_length=200)] = None
    contact_email: Annotated[str | None, Field(max_length=255, pattern=r"^[^@\s]+@[^@\s]+$")] = None
    contact_phone: Annotated[str | None, Field(max_length=50)] = None


class LeadCreated(BaseModel):
    id: uuid.UUID
    serviceable: bool


class ReadingBody(Strict):
    """One CPE reading: the CPE by ``wireless_subscriber_id`` or ``cpe_mac``; the sector it is registered to
    by ``registered_sector_id`` or by its radio's MAC (``ap_mac``), when the CPE says."""

    read_at: AwareDatetime
    wireless_subscriber_id: uuid.UUID | None = None
    cpe_mac: Mac | None = None
    signal_dbm: Db | None = None
    noise_dbm: Db | None = None
    snr_db: Db | None = None
    link_speed_mbps: Annotated[int | None, Field(ge=0, le=100_000)] = None
    distance_km: Annotated[float | None, Field(ge=0, le=1000, allow_inf_nan=False)] = None
    registered_sector_id: uuid.UUID | None = None
    ap_mac: Mac | None = None


class ReadingsBody(Strict):
    readings: Annotated[list[ReadingBody], Field(min_length=1, max_length=10_000)]


class RaisedAlarm(BaseModel):
    cpe: uuid.UUID
    kind: str
    detail: str
    measured: float | None
    expected: float | None


class IngestRead(BaseModel):
    accepted: int
    cpes: int
    raised: list[RaisedAlarm]
    cleared: int


class PortalPlan(BaseModel):
    name: str
    download_mbps: int
    upload_mbps: int


class PortalAnswer(BaseModel):
    """What the public page shows: the provider's name, yes or no, and the plans the link can carry."""

    provider: str
    serviceable: bool
    expected_mbps: float | None = Field(description="expected throughput of the best link, when serviceable")
    plans: list[PortalPlan]
    reference: uuid.UUID = Field(description="the enquiry's reference (quote it when you call)")


class Recomputed(BaseModel):
    recomputed: int


class AlarmRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    kind: str
    detail: str
    measured: float | None
    expected: float | None
    raised_at: AwareDatetime
    last_seen_at: AwareDatetime


class HealthRead(BaseModel):
    id: uuid.UUID
    sector_id: uuid.UUID
    registered_sector_id: uuid.UUID | None
    signal_dbm: int | None
    predicted_signal_dbm: float | None
    noise_dbm: int | None
    snr_db: int | None
    predicted_snr_db: float | None
    plan_needs_snr_db: float | None
    link_speed_mbps: int | None
    distance_km: float | None
    last_seen: AwareDatetime | None
    open_alarms: list[AlarmRead]
