"""Recompute the derived counters (errata 11) and report drift.

The definitions are read back from the database: every trigger that calls ``ispops_bump_counter``
names its target table, the linking column, the counter column and the predicate. A counter added by
a future migration is therefore checked without touching this module.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.orm import Session

from ispops.db.session import Database
from ispops.tenancy.service import list_tenant_ids


@dataclass(frozen=True)
class CounterSource:
    source: str
    target: str
    fk: str
    column: str
    predicate: str


@dataclass(frozen=True)
class Drift:
    tenant_id: str
    table: str
    row_id: str
    column: str
    stored: int
    actual: int

    def __str__(self) -> str:
        return f"{self.tenant_id}: {self.table}[{self.row_id}].{self.column} is {self.stored}, recomputed {self.actual}"


def counter_sources(session: Session) -> list[CounterSource]:
    rows = session.execute(
        text(
            "select c.relname, t.tgargs from pg_trigger t join pg_class c on c.oid = t.tgrelid "
            "where t.tgfoid = 'public.ispops_bump_counter'::regproc and not t.tgisinternal "
            "order by c.relname, t.tgname"
        )
    )
    out = []
    for source, raw in rows:
        args = bytes(raw).decode().split("\x00")[:4]
        target, fk, column, predicate = args
        out.append(CounterSource(source, target, fk, column, predicate))
    return out


def _check_tenant(session: Session, tenant_id: str, sources: list[CounterSource]) -> list[Drift]:
    groups: dict[tuple[str, str], list[CounterSource]] = defaultdict(list)
    for s in sources:
        groups[(s.target, s.column)].append(s)
    drifts: list[Drift] = []
    for (target, column), members in sorted(groups.items()):
        if target == "tenants":
            parts = [
                f"(select count(*) from {m.source} r where r.tenant_id = x.id and ({m.predicate}))" for m in members
            ]
            query = f"select x.id::text, x.{column}, {' + '.join(parts)} from tenants x where x.id = :t"
        else:
            parts = [
                f"(select count(*) from {m.source} r where r.tenant_id = x.tenant_id "
                f"and r.{m.fk} = x.id and ({m.predicate}))"
                for m in members
            ]
            query = f"select x.id::text, x.{column}, {' + '.join(parts)} from {target} x where x.tenant_id = :t"
        for row_id, stored, actual in session.execute(text(query), {"t": tenant_id}):
            if stored != actual:
                drifts.append(Drift(tenant_id, target, row_id, column, int(stored), int(actual)))
    return drifts


def check_counters(db: Database) -> tuple[list[CounterSource], list[Drift]]:
    """Recompute every counter for every tenant, each tenant in its own read-only unit of work."""
    drifts: list[Drift] = []
    sources: list[CounterSource] = []
    for tenant_id in list_tenant_ids(db):
        with db.tenant(tenant_id, enforce_status=False) as session:
            if not sources:
                sources = counter_sources(session)
            drifts.extend(_check_tenant(session, tenant_id, sources))
    if not sources:
        with db.platform() as session:
            sources = counter_sources(session)
    return sources, drifts
