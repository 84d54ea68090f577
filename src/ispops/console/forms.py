"""Create and edit forms generated from a resource's API schemas (``Resource.create_model`` and
``update_model``): one control per field, and the submitted form turned back into the API's body.

Nothing is validated here: the body goes through the same pydantic model and the same route function as
``POST``/``PATCH /api/v1/<name>``, and their errors are shown beside the fields.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
import typing
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from sqlalchemy import Date, DateTime, Integer, Numeric, Text
from sqlalchemy.dialects.postgresql import JSONB

from ispops.api import permissions
from ispops.api.crud import Resource
from ispops.auth.principal import Principal
from ispops.console.listing import enum_options, label, table_of

WRITE_ONLY_HINTS = ("password", "secret", "community", "auth_key", "priv_key")


@dataclass(frozen=True)
class Control:
    """One form control: name, label, kind (text, number, checkbox, select, textarea, json, date,
    datetime-local, password), whether it is required and its choices."""

    name: str
    label: str
    kind: str
    required: bool = False
    options: list[tuple[str, str]] | None = None
    help: str = ""


def _base(annotation: Any) -> Any:
    """The type inside Optional/Annotated."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
            args = [a for a in typing.get_args(annotation) if a is not type(None)]
            if len(args) != 1:
                return annotation
            annotation = args[0]
        else:
            return annotation


def _kind(spec: Resource, name: str, info: FieldInfo) -> tuple[str, list[tuple[str, str]] | None]:
    column = table_of(spec).columns.get(name)
    options = enum_options(spec, name) if column is not None else None
    typ = _base(info.annotation)
    if options is not None and typ is not bool:
        return "select", options
    if isinstance(typ, type) and issubclass(typ, Enum):
        return "select", [(str(m.value), str(m.value)) for m in typ]
    if typing.get_origin(typ) is typing.Literal:
        return "select", [(str(v), str(v)) for v in typing.get_args(typ)]
    if typ is bool:
        return "checkbox", None
    if any(hint in name for hint in WRITE_ONLY_HINTS) and name not in table_of(spec).columns:
        return "password", None
    if column is not None:
        t = column.type
        if isinstance(t, JSONB):
            return "json", None
        if isinstance(t, DateTime):
            return "datetime-local", None
        if isinstance(t, Date):
            return "date", None
        if isinstance(t, Integer | Numeric):
            return "number", None
        if isinstance(t, Text):
            return "textarea", None
    if typ in (int, float, decimal.Decimal):
        return "number", None
    if typing.get_origin(typ) in (list, dict) or typ in (list, dict):
        return "json", None
    return "text", None


def controls(spec: Resource, model: type[BaseModel], *, only: frozenset[str] | None = None) -> list[Control]:
    """The form's controls, in the model's field order (``only``: the fields a limited role may change)."""
    out = []
    for name, info in model.model_fields.items():
        if only is not None and name not in only:
            continue
        kind, options = _kind(spec, name, info)
        help_text = "JSON" if kind == "json" else (info.description or "")
        if kind == "password":
            help_text = (help_text + " " if help_text else "") + "Leave empty to keep it unchanged."
        out.append(Control(name, label(name), kind, info.is_required(), options, help_text.strip()))
    return out


def editable_fields(spec: Resource, principal: Principal) -> frozenset[str] | None:
    """None when the role may update every field; the fields of its limited updates otherwise (an empty set:
    it may not update at all)."""
    if permissions.allowed(principal, spec.name, "update"):
        return None
    limited = [a for a in spec.limited_update if permissions.allowed(principal, spec.name, a)]
    return frozenset().union(*(spec.limited_update[a] for a in limited)) if limited else frozenset()


def may_edit(spec: Resource, principal: Principal) -> bool:
    fields = editable_fields(spec, principal)
    return "update" in spec.verbs and (fields is None or bool(fields))


class FormError(Exception):
    """A field that cannot even become the API's input (a JSON field that is not JSON)."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__(errors)
        self.errors = errors


def body_of(form: Mapping[str, str], items: list[Control], *, creating: bool) -> dict[str, Any]:
    """The submitted form as the API's body: empty fields left out when creating (the defaults apply);
    when editing an empty field means "no value" (None), and an empty write-only field "unchanged"."""
    data: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for control in items:
        if control.name not in form:
            continue
        raw = form[control.name]
        if control.kind == "checkbox":
            data[control.name] = raw in ("true", "on", "1")
            continue
        if raw.strip() == "":
            if not creating and control.kind != "password":
                data[control.name] = None
            continue
        if control.kind == "json":
            try:
                data[control.name] = json.loads(raw)
            except ValueError as exc:
                errors[control.name] = f"not valid JSON ({exc.args[0] if exc.args else 'syntax error'})"
            continue
        data[control.name] = raw.strip() if control.kind != "password" else raw
    if errors:
        raise FormError(errors)
    return data


def form_value(value: Any, kind: str) -> str:
    """A stored value as the form shows it."""
    if value is None:
        return ""
    if kind == "json":
        return json.dumps(value, indent=2, default=str)
    if kind == "checkbox":
        return "true" if value else "false"
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%dT%H:%M")
    if isinstance(value, dt.date | uuid.UUID | decimal.Decimal):
        return str(value)
    if isinstance(value, Enum):
        return str(value.value)
    return str(value)


def changed(current: Mapping[str, Any], parsed: Mapping[str, Any]) -> dict[str, Any]:
    """The fields whose validated value differs from the stored one (a PATCH sends only those)."""
    out = {}
    for name, value in parsed.items():
        old = current.get(name)
        if isinstance(old, Enum):
            old = old.value
        if isinstance(old, dt.datetime) and isinstance(value, dt.datetime):
            if old.tzinfo is not None and value.tzinfo is None:
                value = value.replace(tzinfo=old.tzinfo)
            same = old.replace(second=0, microsecond=0) == value.replace(second=0, microsecond=0)
        else:
            same = old == value
        if name not in current or not same:
            out[name] = value
    return out
