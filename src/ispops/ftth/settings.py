"""A tenant's FTTH settings (``ftth_settings``, one row per tenant): the ``classes`` section, typed.

``ftth_settings`` has one JSON object per part of the FTTH domain: ``classes`` (here: what an OLT's
technology and optical class imply), ``alarms`` (``ispops.ftth.alarms``) and ``loss``
(``ispops.ftth.loss_settings``). Each part reads and writes only its own column. A row or key that is absent
means the default, so the stored object holds only what the tenant changed, and a default changed here
reaches every tenant that has not overridden it.

Defaults (ITU-T G.984.2 for GPON B+/C+, G.9807.1 for XGS-PON N1/N2/E1, IEEE 802.3 clauses 60 and 75 for
EPON PX20 and 10G-EPON PR30):

| class | ONU Rx sensitivity / overload | OLT Tx | OLT Rx sensitivity / overload | ODN loss |
|---|---|---|---|---|
| GPON B+ | -27 / -8 dBm | +1.5 … +5 | -28 / -8 | 13-28 dB |
| GPON C+ | -30 / -8 | +3 … +7 | -32 / -12 | 17-32 |
| XGS-PON N1 | -28 / -9 | +2 … +5 | -26 / -5 | 14-29 |
| XGS-PON N2 | -28 / -9 | +4 … +7 | -28 / -7 | 16-31 |
| XGS-PON E1 | -28 / -9 | +6 … +9 | -30 / -9 | 18-33 |
| EPON PX20 | -24 / -3 | +2 … +7 | -27 / -6 | 10-24 |
| 10G-EPON PR30 | -28.5 / -10 | +2 … +5 | -28 / -6 | 15-29 |

Per technology: the default class (GPON B+, XGS-PON N1, EPON PX20, 10G-EPON PR30), the ONU ids of a PON
port (GPON 0-127, XGS-PON 0-255, EPON 0-63, 10G-EPON 0-255) and the logical reach (20 km). The database
reads ``technologies.<t>.onu_ids_per_port`` itself when it creates a PON port
(``ispops_ftth_onu_ids_per_port``, ``ftth/sql/onu_ports.sql``); tests/ftth/test_settings.py compares the
two defaults.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from sqlalchemy import text
from sqlalchemy.orm import Session

from ispops.errors import ValidationFailed
from ispops.models.ftth import OltTechnology, OpticalClass

Dbm = Annotated[float, Field(ge=-50, le=20, description="dBm")]
Db = Annotated[float, Field(ge=0, le=60, description="dB")]

# Which classes an OLT of a technology may have (not a setting: the standards).
CLASSES_OF: dict[OltTechnology, tuple[OpticalClass, ...]] = {
    OltTechnology.GPON: (OpticalClass.B_PLUS, OpticalClass.C_PLUS),
    OltTechnology.XGSPON: (OpticalClass.N1, OpticalClass.N2, OpticalClass.E1),
    OltTechnology.EPON: (OpticalClass.PX20,),
    OltTechnology.XGEPON: (OpticalClass.PR30,),
}

TECHNOLOGY_DEFAULTS: dict[str, dict[str, Any]] = {
    "gpon": {"default_class": "b_plus", "onu_ids_per_port": 128, "logical_reach_km": 20.0},
    "xgspon": {"default_class": "n1", "onu_ids_per_port": 256, "logical_reach_km": 20.0},
    "epon": {"default_class": "px20", "onu_ids_per_port": 64, "logical_reach_km": 20.0},
    "xgepon": {"default_class": "pr30", "onu_ids_per_port": 256, "logical_reach_km": 20.0},
}

_CLASS_FIELDS = (
    "onu_rx_sensitivity_dbm",
    "onu_rx_overload_dbm",
    "olt_tx_min_dbm",
    "olt_tx_max_dbm",
    "olt_rx_sensitivity_dbm",
    "olt_rx_overload_dbm",
    "loss_min_db",
    "loss_max_db",
)
CLASS_DEFAULTS: dict[str, dict[str, float]] = {
    name: dict(zip(_CLASS_FIELDS, values, strict=True))
    for name, values in {
        "b_plus": (-27.0, -8.0, 1.5, 5.0, -28.0, -8.0, 13.0, 28.0),
        "c_plus": (-30.0, -8.0, 3.0, 7.0, -32.0, -12.0, 17.0, 32.0),
        "n1": (-28.0, -9.0, 2.0, 5.0, -26.0, -5.0, 14.0, 29.0),
        "n2": (-28.0, -9.0, 4.0, 7.0, -28.0, -7.0, 16.0, 31.0),
        "e1": (-28.0, -9.0, 6.0, 9.0, -30.0, -9.0, 18.0, 33.0),
        "px20": (-24.0, -3.0, 2.0, 7.0, -27.0, -6.0, 10.0, 24.0),
        "pr30": (-28.5, -10.0, 2.0, 5.0, -28.0, -6.0, 15.0, 29.0),
    }.items()
}

SELECT = text("SELECT classes FROM ftth_settings WHERE tenant_id = :t")
UPSERT = text(
    "INSERT INTO ftth_settings (tenant_id, classes) VALUES (:t, CAST(:classes AS jsonb)) "
    "ON CONFLICT (tenant_id) DO UPDATE SET classes = EXCLUDED.classes"
)


class TechnologyProfile(BaseModel):
    """What an OLT technology implies."""

    default_class: OpticalClass = Field(description="the optical class of an OLT that names none")
    onu_ids_per_port: int = Field(ge=1, le=1024, description="ONU ids of a PON port: 0 to this - 1")
    logical_reach_km: float = Field(gt=0, le=100, description="farthest ONU the OLT ranges, km")


class ClassProfile(BaseModel):
    """What an optical class implies: the power levels and the ODN loss its optics are built for."""

    onu_rx_sensitivity_dbm: Dbm = Field(description="weakest downstream light an ONU must receive")
    onu_rx_overload_dbm: Dbm = Field(description="strongest downstream light an ONU may receive")
    olt_tx_min_dbm: Dbm
    olt_tx_max_dbm: Dbm
    olt_rx_sensitivity_dbm: Dbm = Field(description="weakest upstream light the OLT must receive")
    olt_rx_overload_dbm: Dbm
    loss_min_db: Db = Field(description="least ODN loss the class allows")
    loss_max_db: Db = Field(description="most ODN loss the class allows")

    @model_validator(mode="after")
    def _ordered(self) -> ClassProfile:
        for low, high in (
            ("onu_rx_sensitivity_dbm", "onu_rx_overload_dbm"),
            ("olt_tx_min_dbm", "olt_tx_max_dbm"),
            ("olt_rx_sensitivity_dbm", "olt_rx_overload_dbm"),
            ("loss_min_db", "loss_max_db"),
        ):
            if getattr(self, low) >= getattr(self, high):
                raise ValueError(f"{low} must be below {high}")
        return self


class TechnologyOverride(BaseModel):
    model_config = ConfigDict(extra="forbid")

    default_class: OpticalClass | None = None
    onu_ids_per_port: int | None = Field(None, ge=1, le=1024)
    logical_reach_km: float | None = Field(None, gt=0, le=100)


class ClassOverride(BaseModel):
    model_config = ConfigDict(extra="forbid")

    onu_rx_sensitivity_dbm: Dbm | None = None
    onu_rx_overload_dbm: Dbm | None = None
    olt_tx_min_dbm: Dbm | None = None
    olt_tx_max_dbm: Dbm | None = None
    olt_rx_sensitivity_dbm: Dbm | None = None
    olt_rx_overload_dbm: Dbm | None = None
    loss_min_db: Db | None = None
    loss_max_db: Db | None = None


class ClassOverrides(BaseModel):
    """What a tenant changes: any field of any technology or class; the rest keeps its default."""

    model_config = ConfigDict(extra="forbid")

    technologies: dict[OltTechnology, TechnologyOverride] = Field(default_factory=dict)
    classes: dict[OpticalClass, ClassOverride] = Field(default_factory=dict)

    def stored(self) -> dict[str, Any]:
        """The JSON kept in ``ftth_settings.classes``: only the fields given."""
        out: dict[str, Any] = {}
        for section in ("technologies", "classes"):
            dumped = {str(k): v.model_dump(exclude_none=True) for k, v in getattr(self, section).items()}
            entries = {k: v for k, v in dumped.items() if v}
            if entries:
                out[section] = entries
        return out


class OltProfile(BaseModel):
    """Everything an OLT's technology and class imply, with the tenant's settings applied."""

    technology: OltTechnology
    optical_class: OpticalClass
    onu_ids_per_port: int
    logical_reach_km: float
    thresholds: ClassProfile


class ClassSettings(BaseModel):
    """The tenant's effective settings (defaults with its overrides) and the overrides themselves."""

    technologies: dict[OltTechnology, TechnologyProfile]
    classes: dict[OpticalClass, ClassProfile]
    overrides: ClassOverrides

    def profile(self, technology: str, optical_class: str | None = None) -> OltProfile:
        """The profile of an OLT of ``technology`` and ``optical_class`` (None: the technology's default)."""
        tech = OltTechnology(technology)
        t = self.technologies[tech]
        cls = OpticalClass(optical_class) if optical_class else t.default_class
        return OltProfile(
            technology=tech,
            optical_class=cls,
            onu_ids_per_port=t.onu_ids_per_port,
            logical_reach_km=t.logical_reach_km,
            thresholds=self.classes[cls],
        )


def _invalid(where: str, exc: ValidationError) -> ValidationFailed:
    first = exc.errors()[0]
    field = ".".join([where, *(str(p) for p in first["loc"])])
    message = str(first["msg"]).removeprefix("Value error, ")
    return ValidationFailed(f"ftth_settings.classes: {field}: {message}", table="ftth_settings", field=field)


def effective(overrides: ClassOverrides) -> ClassSettings:
    """Defaults with ``overrides`` applied, checked as a whole (a 422 naming the field when inconsistent)."""
    technologies: dict[OltTechnology, TechnologyProfile] = {}
    classes: dict[OpticalClass, ClassProfile] = {}
    for name, base in TECHNOLOGY_DEFAULTS.items():
        tech = OltTechnology(name)
        given = overrides.technologies.get(tech)
        try:
            technologies[tech] = TechnologyProfile(**{**base, **(given.model_dump(exclude_none=True) if given else {})})
        except ValidationError as exc:
            raise _invalid(f"technologies.{name}", exc) from exc
        if technologies[tech].default_class not in CLASSES_OF[tech]:
            field = f"technologies.{name}.default_class"
            allowed = ", ".join(CLASSES_OF[tech])
            raise ValidationFailed(
                f"ftth_settings.classes: {field} must be one of {allowed}", table="ftth_settings", field=field
            )
    for name, values in CLASS_DEFAULTS.items():
        cls = OpticalClass(name)
        given_class = overrides.classes.get(cls)
        try:
            classes[cls] = ClassProfile(
                **{**values, **(given_class.model_dump(exclude_none=True) if given_class else {})}
            )
        except ValidationError as exc:
            raise _invalid(f"classes.{name}", exc) from exc
    return ClassSettings(technologies=technologies, classes=classes, overrides=overrides)


def load_classes(session: Session, tenant_id: str) -> ClassSettings:
    """The tenant's class settings (defaults where it has set nothing)."""
    stored = session.execute(SELECT, {"t": tenant_id}).scalar_one_or_none()
    return effective(ClassOverrides.model_validate(stored or {}))


def save_classes(session: Session, tenant_id: str, overrides: ClassOverrides) -> ClassSettings:
    """Replace the tenant's class overrides (validated as a whole first); flush, never commit."""
    settings = effective(overrides)
    session.execute(UPSERT, {"t": tenant_id, "classes": json.dumps(overrides.stored())})
    return settings


def olt_profile(session: Session, tenant_id: str, technology: str, optical_class: str | None) -> OltProfile:
    """Shortcut: the profile of one OLT (``olts.technology``, ``olts.optical_class``)."""
    return load_classes(session, tenant_id).profile(technology, optical_class)


def check_class(technology: str, optical_class: str | None) -> None:
    """422 naming ``optical_class`` when the class is not one of the technology's."""
    if optical_class is None:
        return
    tech = OltTechnology(technology)
    if OpticalClass(optical_class) not in CLASSES_OF[tech]:
        allowed = ", ".join(CLASSES_OF[tech])
        raise ValidationFailed(
            f"olts.optical_class: a {technology} OLT's class is one of {allowed}",
            table="olts",
            field="optical_class",
            errors=[{"field": "optical_class", "message": f"must be one of {allowed} for {technology}"}],
        )
