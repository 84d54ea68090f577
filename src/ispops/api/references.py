"""Which rows still use a row: the references between tenant tables, read from the ORM's foreign keys.

Two rules, both applied inside the request's unit of work:

- **In use.** A soft delete is refused (409 ``in_use``) while live rows still reference the row, and the
  answer names them: "bandwidth profile is used by 3 subscribers". A referencing row is live while its
  ``deleted_at`` is NULL; tables without soft delete are history or the parent's own details (radacct,
  radcheck, audit events, …) and do not count, except IP allocations, which count until released.
- **Live parents.** A create or update that points a reference at a row that is soft-deleted, missing or
  another tenant's is refused (422 naming the field).

Races: the delete locks its row ``FOR UPDATE`` before counting; the parent check locks the parent
``FOR KEY SHARE``. The two locks conflict, so a child inserted concurrently with the delete either
commits first (the count, a later statement, sees it: 409) or waits and then finds the parent deleted
(422). Foreign keys to ``tenants`` are not references here (tenants are not deleted through this API).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from sqlalchemy import ColumnElement, ForeignKeyConstraint, Select, Table, and_, bindparam, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from ispops.errors import Conflict, ValidationFailed
from ispops.models.base import Base

ACRONYMS = {"ip": "IP", "nas": "NAS", "olt": "OLT", "onu": "ONU", "vpn": "VPN"}
# Tables without deleted_at whose rows still use their parents while this holds.
LIVE_WITHOUT_SOFT_DELETE: dict[str, Callable[[Table], ColumnElement[bool]]] = {
    "ip_allocations": lambda t: t.c.status != "released",
}


class InUse(Conflict):
    """The row is still referenced by live rows; ``used_by`` counts them per table."""

    code = "in_use"

    def __init__(self, message: str, *, table: str, used_by: dict[str, int]) -> None:
        super().__init__(message, table=table)
        self.used_by = used_by

    @property
    def extra(self) -> dict[str, Any]:
        return {"used_by": self.used_by}


def label(table: str, count: int) -> str:
    """``wireless_sectors`` -> "wireless sector" (1) or "wireless sectors"; acronyms in capitals."""
    words = table.split("_")
    last = words[-1]
    singular = last if last == "nas" or not last.endswith("s") else last[:-1]
    words[-1] = singular
    text = " ".join(ACRONYMS.get(w, w) for w in words)
    if count != 1 and singular != "nas":
        text += "s"
    return text


def _foreign_keys(table: Table) -> list[ForeignKeyConstraint]:
    return sorted(
        (c for c in table.constraints if isinstance(c, ForeignKeyConstraint) and c.referred_table.name != "tenants"),
        key=lambda c: str(c.name),
    )


def _live(table: Table) -> ColumnElement[bool] | None:
    if "deleted_at" in table.c:
        return table.c.deleted_at.is_(None)
    rule = LIVE_WITHOUT_SOFT_DELETE.get(table.name)
    return rule(table) if rule is not None else None


@dataclass(frozen=True)
class Users:
    """How to count, in one statement, the live rows of every table that references ``parent``."""

    parent: Table
    tables: tuple[str, ...]
    statement: Select[Any] | None
    params: tuple[str, ...] = field(default=())
    # (referencing table, its column) for every reference counted
    columns: tuple[tuple[str, str], ...] = field(default=())

    async def refuse_if_used(self, session: AsyncSession, row: Mapping[str, Any]) -> None:
        """Raise :class:`InUse` when live rows reference ``row`` (a mapping of the parent's columns)."""
        if self.statement is None:
            return
        counts = (await session.execute(self.statement, {f"p_{c}": row[c] for c in self.params})).one()
        used = {t: int(n) for t, n in zip(self.tables, counts, strict=True) if n}
        if used:
            parts = [f"{n} {label(t, n)}" for t, n in used.items()]
            listed = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
            raise InUse(
                f"{label(self.parent.name, 1)} is used by {listed}; remove or reassign them first",
                table=self.parent.name,
                used_by=used,
            )


@cache
def users_of(parent: Table) -> Users:
    """The references to ``parent`` from every table of the metadata, grouped per referencing table."""
    conditions: dict[str, list[ColumnElement[bool]]] = defaultdict(list)
    lives: dict[str, ColumnElement[bool]] = {}
    params: set[str] = set()
    columns: list[tuple[str, str]] = []
    for child in Base.metadata.tables.values():
        live = _live(child)
        if live is None:
            continue
        for fk in _foreign_keys(child):
            if fk.referred_table is not parent:
                continue
            pairs = [(el.parent, el.column.name) for el in fk.elements]
            params.update(name for _, name in pairs)
            match = and_(*(col == bindparam(f"p_{name}") for col, name in pairs))
            if child is parent:  # a row referring to itself does not keep itself alive
                key = parent.primary_key.columns.values()[0]
                match = and_(match, key != bindparam(f"p_{key.name}"))
                params.add(key.name)
            conditions[child.name].append(match)
            lives[child.name] = live
            columns += [(child.name, col.name) for col, _ in pairs if col.name != "tenant_id"]
    if not conditions:
        return Users(parent, (), None)
    names = tuple(sorted(conditions))
    counts = [
        select(func.count()).where(lives[name], or_(*conditions[name])).scalar_subquery().label(name) for name in names
    ]
    return Users(parent, names, select(*counts), tuple(sorted(params)), tuple(sorted(columns)))


@dataclass(frozen=True)
class ParentCheck:
    """One reference of a table to a soft-deletable table: the field and how to lock its live target."""

    field: str
    parent: str
    statement: Select[Any]


@cache
def parent_checks(child: Table) -> tuple[ParentCheck, ...]:
    """Every ``(tenant_id, x) -> parent (tenant_id, id)`` reference of ``child`` to a soft-deletable table."""
    out = []
    for fk in _foreign_keys(child):
        parent = fk.referred_table
        if "deleted_at" not in parent.c:
            continue
        pairs = [(el.parent.name, el.column) for el in fk.elements]
        fields = [name for name, _ in pairs if name != "tenant_id"]
        if len(fields) != 1:
            continue
        where = [col == bindparam("tenant" if name == "tenant_id" else "value") for name, col in pairs]
        target = next(col for name, col in pairs if name != "tenant_id")
        stmt = select(target).where(*where, parent.c.deleted_at.is_(None)).with_for_update(read=True, key_share=True)
        out.append(ParentCheck(fields[0], parent.name, stmt))
    return tuple(out)


async def require_live_parents(session: AsyncSession, child: Table, tenant_id: str, data: Mapping[str, Any]) -> None:
    """422 naming the field when ``data`` points a reference at a row that is not a live row of the tenant."""
    for check in parent_checks(child):
        value = data.get(check.field)
        if value is None:
            continue
        found = await session.scalar(check.statement, {"tenant": tenant_id, "value": value})
        if found is None:
            raise ValidationFailed(
                f"{child.name}.{check.field}: no such {label(check.parent, 1)} (missing or deleted)",
                table=child.name,
                field=check.field,
            )
