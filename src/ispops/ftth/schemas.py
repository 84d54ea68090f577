"""Bodies of the ONU and OLT action routes (``ftth/onus_api.py``)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ispops.models.ftth import OnuMode

Serial = Annotated[
    str, Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9:._-]+$", description="the ONU's serial number")
]


class PortAddress(BaseModel):
    """A PON port: its id, or ``frame/slot/port`` as operators write it (frame defaults to 0)."""

    model_config = ConfigDict(extra="forbid")

    pon_port_id: uuid.UUID | None = Field(None, description="the port's id (olt_pon_ports)")
    frame: int | None = Field(None, ge=0, le=255)
    slot: int | None = Field(None, ge=0, le=255)
    port: int | None = Field(None, ge=0, le=255, description="with slot (and frame): the port 'frame/slot/port'")

    @model_validator(mode="after")
    def _one_way(self) -> PortAddress:
        if self.pon_port_id is not None and self.port is not None:
            raise ValueError("give pon_port_id or frame/slot/port, not both")
        if self.port is None and (self.frame is not None or self.slot is not None):
            raise ValueError("port is required with frame/slot")
        return self

    def address(self) -> dict[str, Any]:
        return {"pon_port_id": self.pon_port_id, "frame": self.frame, "slot": self.slot, "port": self.port}


class OnuConfig(BaseModel):
    """What an authorisation configures (SmartOLT's authorise form)."""

    model_config = ConfigDict(extra="forbid")

    onu_type: str | None = Field(None, max_length=100, description="ONU model/type profile on the OLT")
    mode: OnuMode | None = Field(None, description="routing or bridging")
    vlan_id: int | None = Field(None, ge=1, le=4094)
    service_port: int | None = Field(None, ge=0, description="the OLT's service-port index")
    line_profile: str | None = Field(None, max_length=100)
    service_profile: str | None = Field(None, max_length=100)
    speed_profile: str | None = Field(None, max_length=100)
    zone: str | None = Field(None, max_length=100)
    subscriber_id: uuid.UUID | None = None
    splitter_id: uuid.UUID | None = Field(None, description="the ODB/NAP splitter the drop hangs off")
    splitter_port: int | None = Field(None, ge=1)

    def config(self) -> dict[str, Any]:
        own = set(OnuConfig.model_fields) - {"splitter_id", "splitter_port"}
        return self.model_dump(exclude_none=True, include=own, mode="python")


class AuthoriseDiscovered(OnuConfig, PortAddress):
    """Authorise a discovered (or ``auth_failed``) ONU; the port defaults to where it was found."""

    olt_id: uuid.UUID | None = Field(None, description="default: the OLT it was found on")
    serial_number: Serial | None = None
    auth_method: Literal["serial", "loid"] = "serial"
    loid: str | None = Field(None, min_length=1, max_length=64)


class AuthoriseNew(OnuConfig, PortAddress):
    """Authorise an ONU not discovered (yet): by serial, or by LOID (and its password on the OLT)."""

    olt_id: uuid.UUID
    serial_number: Serial | None = None
    auth_method: Literal["serial", "loid"] = "serial"
    loid: str | None = Field(None, min_length=1, max_length=64)
    vendor: str | None = Field(None, max_length=100)
    model: str | None = Field(None, max_length=100)

    def config(self) -> dict[str, Any]:
        return {**super().config(), **self.model_dump(exclude_none=True, include={"vendor", "model"})}


class Discovered(PortAddress):
    """An unconfigured ONU the OLT reports (auto-find)."""

    serial_number: Serial
    vendor: str | None = Field(None, max_length=100)
    model: str | None = Field(None, max_length=100)
    loid: str | None = Field(None, min_length=1, max_length=64)
    seen_at: dt.datetime | None = None


class Replace(BaseModel):
    model_config = ConfigDict(extra="forbid")

    serial_number: Serial
    vendor: str | None = Field(None, max_length=100)
    model: str | None = Field(None, max_length=100)


class Move(PortAddress):
    olt_id: uuid.UUID | None = Field(None, description="default: the ONU's OLT")
    splitter_id: uuid.UUID | None = None
    splitter_port: int | None = Field(None, ge=1)


class PonPortUsage(BaseModel):
    id: uuid.UUID
    name: str
    frame: int
    slot: int
    port: int
    max_onus: int
    status: str
    used: int = Field(description="ONU ids in use")
    online: int = Field(description="ONUs online")
