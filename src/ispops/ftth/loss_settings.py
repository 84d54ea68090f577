"""The loss model a tenant's budgets use (``ftth_settings.loss``, one JSON object per tenant).

Every figure is configurable; what a tenant has not set is the default below. Splitter insertion loss is
the maximum a typical datasheet gives for the ratio (PLC: 1x2 3.6 … 1x8 10.5, 1x16 13.8, 1x32 17.2, 1x64
21 dB; FBT, equal split, a little more). Fibre: ITU-T G.652.D attenuation, 0.35 dB/km at 1310 nm, 0.25 at
1490, 0.22 at 1550; the downstream wavelength of GPON/EPON is 1490 nm, of XGS-PON/10G-EPON 1577 nm, taken
at the 1550 nm figure. OLT launch power: the middle of the class's range (GPON B+ +1.5…+5 dBm, C+ +3…+7;
XGS-PON N1 +2…+5, N2 +4…+7, E1 +6…+9; EPON PX20 +2…+7; 10G-EPON PR30 +2…+5).
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import text
from sqlalchemy.orm import Session

from ispops.models.ftth import SplitRatio

Db = Annotated[float, Field(ge=0, le=60, description="dB")]
DbPerKm = Annotated[float, Field(ge=0, le=5, description="dB/km")]
Dbm = Annotated[float, Field(ge=-20, le=20, description="dBm")]
Technology = Literal["gpon", "xgspon", "epon", "xgepon"]
OpticalClass = Literal["b_plus", "c_plus", "n1", "n2", "e1", "px20", "pr30"]
Wavelength = Literal["1310", "1490", "1550"]

PLC = {"1x2": 3.6, "1x4": 7.2, "1x8": 10.5, "1x16": 13.8, "1x32": 17.2, "1x64": 21.0, "1x128": 24.6}
PLC.update({"2x2": 3.9, "2x4": 7.6, "2x8": 10.9, "2x16": 14.2, "2x32": 17.6, "2x64": 21.5, "2x128": 25.0})
FBT = {"1x2": 3.7, "1x4": 7.4, "1x8": 11.0, "1x16": 14.5, "1x32": 18.0, "1x64": 22.0, "1x128": 25.5}
FBT.update({"2x2": 4.0, "2x4": 7.8, "2x8": 11.4, "2x16": 15.0, "2x32": 18.5, "2x64": 22.5, "2x128": 26.0})
DEFAULTS: dict[str, Any] = {
    "splitter_db": {"plc": PLC, "fbt": FBT},
    "fibre_db_per_km": {"1310": 0.35, "1490": 0.25, "1550": 0.22},
    "downstream_nm": {"gpon": "1490", "epon": "1490", "xgspon": "1550", "xgepon": "1550"},
    "olt_tx_dbm": {"b_plus": 3.0, "c_plus": 5.0, "n1": 3.5, "n2": 5.5, "e1": 7.5, "px20": 4.5, "pr30": 3.5},
    "default_class": {"gpon": "b_plus", "xgspon": "n1", "epon": "px20", "xgepon": "pr30"},
}

SELECT = text("SELECT loss FROM ftth_settings WHERE tenant_id = :t")
UPSERT = text(
    "INSERT INTO ftth_settings (tenant_id, loss) VALUES (:t, CAST(:loss AS jsonb)) "
    "ON CONFLICT (tenant_id) DO UPDATE SET loss = EXCLUDED.loss"
)


class LossSettings(BaseModel):
    """The loss model; a field or table entry left out takes its default (the tables merge entry by entry)."""

    model_config = ConfigDict(extra="forbid")

    splitter_db: dict[Literal["plc", "fbt"], dict[SplitRatio, Db]] = Field(
        description="insertion loss by splitter type and ratio"
    )
    fibre_db_per_km: dict[Wavelength, DbPerKm] = Field(description="fibre attenuation by wavelength (nm)")
    downstream_nm: dict[Technology, Wavelength] = Field(description="which attenuation a technology's downstream uses")
    olt_tx_dbm: dict[OpticalClass, Dbm] = Field(description="OLT launch power by optical class")
    default_class: dict[Technology, OpticalClass] = Field(description="the class of an OLT that names none")
    connector_db: Db = Field(0.5, description="a connector without a measured loss")
    splice_db: Db = Field(0.15, description="a splice without a measured loss")
    deviation_threshold_db: float = Field(3.0, gt=0, le=30, description="flag an ONU this much below budget")
    alike_tolerance_db: float = Field(
        2.0, ge=0, le=30, description="ONUs under one splitter whose deviations differ by at most this deviate alike"
    )

    @model_validator(mode="before")
    @classmethod
    def _defaults(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        out = dict(data)
        for key in ("fibre_db_per_km", "downstream_nm", "olt_tx_dbm", "default_class"):
            given = out.get(key, {})
            out[key] = {**DEFAULTS[key], **given} if isinstance(given, dict) else given
        given = out.get("splitter_db", {})
        if isinstance(given, dict):
            merged: dict[str, Any] = {kind: dict(table) for kind, table in DEFAULTS["splitter_db"].items()}
            for kind, table in given.items():
                if isinstance(table, dict) and kind in merged:
                    merged[kind].update(table)
                else:
                    merged[kind] = table  # not a known type or not a table: validation names it
            out["splitter_db"] = merged
        return out

    def splitter_table(self) -> dict[str, float]:
        """``{"plc:1x8": 10.5, …}``, as the budget query looks it up."""
        return {f"{kind}:{ratio}": db for kind, table in self.splitter_db.items() for ratio, db in table.items()}

    def wavelength_nm(self, technology: str) -> int:
        return int(self.downstream_nm.get(technology, "1490"))  # type: ignore[call-overload]

    def fibre_db_per_km_at(self, wavelength_nm: int) -> float:
        return self.fibre_db_per_km[str(wavelength_nm)]  # type: ignore[index]

    def olt_tx(self, technology: str, optical_class: str | None) -> float:
        cls = optical_class or self.default_class.get(technology, "b_plus")  # type: ignore[call-overload]
        return self.olt_tx_dbm[cls]  # type: ignore[index]


def default_loss_settings() -> LossSettings:
    return LossSettings.model_validate({})


def load_loss_settings(session: Session, tenant_id: str) -> LossSettings:
    stored = session.execute(SELECT, {"t": tenant_id}).scalar_one_or_none()
    return LossSettings.model_validate(stored or {})


def save_loss_settings(session: Session, tenant_id: str, settings: LossSettings) -> LossSettings:
    """Store the whole resolved model (defaults included) as the tenant's ``loss``. Flushes only."""
    session.execute(UPSERT, {"t": tenant_id, "loss": json.dumps(settings.model_dump(mode="json"))})
    return settings
