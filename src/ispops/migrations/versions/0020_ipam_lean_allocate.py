"""IPAM allocator, leaner statements (issue 5): less per-execution work while a pool's lock is held.

A profile of issue 5's benchmark (``perf`` over the database's processes, 8 clients on 4 pools) showed
PostgreSQL doing work on every allocation that was not the allocation:

- **Re-planning.** ``WHILE pool.has_free AND EXISTS (...)`` and ``WHILE pool.cursor_taken AND ... EXISTS
  (...)`` are one SQL expression each. With the flag false, a plan built for the call's values folds to a
  constant, so the plan cache judged the generic plan dearer and built a new plan on every call (4 % of the
  database's CPU). The flags are now tested by PL/pgSQL first; the queries run only when they are true.
- **Executor start-up for calls made for their effect.** ``PERFORM pg_advisory_xact_lock(...)`` and the two
  ``PERFORM set_config(...)`` each started and ended an executor. As assignments they are PL/pgSQL "simple
  expressions", evaluated directly.
- **Re-reading the CHECKs of ip_allocations.** PostgreSQL deserialises and prepares a table's CHECK
  constraints again for every INSERT statement (5 % of the database's CPU here, for four CHECKs). They
  become rules of ``ipam_allocation_guard`` (as 0018 did for ip_pools), with the same SQLSTATE, table,
  column and constraint names, so errors still name the field (422). The guard stands aside for the
  allocator, which now checks the same four rules on the values it is about to insert, before it touches
  the pool row: simple expressions on its own arguments, no per-statement set-up.

Measured before writing this migration, with the changes applied by hand to the benchmark database
(``bench/ipam.py``, one run of each in turn, docs/benchmarks-ipam.md): 4,825 / 4,876 / 4,997 allocations/s for
0019, 5,064 / 5,148 / 5,298 with the statement changes, 5,447 / 5,155 / 5,555 with the CHECKs gone as well;
database CPU per allocation 287-293 us, 266-275 us, 246-272 us.

Revision ID: 0020
Revises: 0019
Create Date: 2026-11-25
"""

from __future__ import annotations

import importlib
import re

from ispops.db.ddl import check_rule, named_checks, steps

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None

_v0004 = importlib.import_module("ispops.migrations.versions.0004_network")
_v0010 = importlib.import_module("ispops.migrations.versions.0010_ipam")
_v0018 = importlib.import_module("ispops.migrations.versions.0018_ipam_hot_path")

# --- 1. ip_allocations' CHECKs become rules of ipam_allocation_guard ---------------------------------------

_ALLOCATIONS_0004: str = _v0004.IP_ALLOCATIONS[0]
# "ck_ip_allocations__status" -> "status IN ('allocated', ...)", as 0004 wrote them.
_CHECKS_0004 = named_checks(_ALLOCATIONS_0004, "ip_allocations")
# Each rule's message (RAISE arguments), in constraint-name order: the order PostgreSQL checks CHECKs in.
MESSAGES = {
    "lease_end": "'lease_end % must be after lease_start %', NEW.lease_end, NEW.lease_start",
    "mac_address": "'mac_address % is not a MAC address like 02:00:5e:00:53:01', NEW.mac_address",
    "released_at": "'released_at must be set when, and only when, status is released (status %)', NEW.status",
    "status": "'status must be allocated, active, reserved or released, not %', NEW.status",
}
MOVED_CHECKS = {f"ck_ip_allocations__{column}": _CHECKS_0004[f"ck_ip_allocations__{column}"] for column in MESSAGES}
assert set(_CHECKS_0004) == set(MOVED_CHECKS), "0004's CHECKs on ip_allocations changed shape"

_COLUMN = re.compile(r"\b(status|mac_address|lease_start|lease_end|released_at)\b")
# The rules must read columns only: no literal may contain a column's name, or substituting would change it.
assert all(not _COLUMN.search(lit) for expr in MOVED_CHECKS.values() for lit in re.findall(r"'[^']*'", expr))


def rules(values: dict[str, str]) -> str:
    """The moved CHECKs as PL/pgSQL on the given column values (``NEW.status``, or what the allocator writes)."""

    def of(text: str) -> str:  # columns outside quoted literals become values
        parts = re.split(r"('[^']*')", text.replace("NEW.", ""))
        return "".join(p if p.startswith("'") else _COLUMN.sub(lambda m: values[m.group(1)], p) for p in parts)

    return "".join(
        check_rule("ip_allocations", column, of(MOVED_CHECKS[f"ck_ip_allocations__{column}"]), of(message))
        for column, message in MESSAGES.items()
    )


OF_ROW = {column: f"NEW.{column}" for column in ("status", "mac_address", "lease_start", "lease_end", "released_at")}

_GUARD_0010: str = _v0010.ALLOCATION_GUARD[0]
_GUARD_BODY = "    BEGIN\n        IF NEW.status = 'released' THEN\n"
assert _GUARD_0010.count(_GUARD_BODY) == 1, "0010's ipam_allocation_guard changed shape"
GUARD = _GUARD_0010.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1).replace(
    _GUARD_BODY,
    "    BEGIN\n        -- Migration 0020: 0004's CHECKs, for all but ipam_allocate (it checks its own values).\n"
    + rules(OF_ROW)
    + "        IF NEW.status = 'released' THEN\n",
)
_GUARD_TRIGGER_0010: str = _v0010.ALLOCATION_GUARD[1]
_WATCHED = "UPDATE OF ip_address, ip_pool_id, status ON"
assert _GUARD_TRIGGER_0010.count(_WATCHED) == 1, "0010's ip_allocations_ipam_guard trigger changed shape"
GUARD_TRIGGER = _GUARD_TRIGGER_0010.replace(
    _WATCHED, "UPDATE OF ip_address, ip_pool_id, status, mac_address, lease_start, lease_end, released_at ON"
)
GUARD_UP = [
    GUARD,
    "DROP TRIGGER ip_allocations_ipam_guard ON ip_allocations",
    GUARD_TRIGGER,
    "ALTER TABLE ip_allocations " + ", ".join(f"DROP CONSTRAINT {name}" for name in MOVED_CHECKS),
]
GUARD_DOWN = [
    "ALTER TABLE ip_allocations "
    + ", ".join(f"ADD CONSTRAINT {name} CHECK ({expr})" for name, expr in MOVED_CHECKS.items()),
    "DROP TRIGGER ip_allocations_ipam_guard ON ip_allocations",
    _GUARD_TRIGGER_0010,
    _GUARD_0010.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1),
]

# --- 2. ipam_allocate -------------------------------------------------------------------------------------

_ALLOCATE_0018: str = _v0018.ALLOCATE


def _swap(text: str, old: str, new: str) -> str:
    assert text.count(old) == 1, f"ipam_allocate changed shape: {old.strip()[:60]!r}"
    return text.replace(old, new)


# Calls made for their effect, as assignments (PL/pgSQL simple expressions) instead of PERFORM (a query).
_DONE = "        done text;  -- what a call made for its effect returns\n"
_POOL_LOCK_CALL = "pg_advisory_xact_lock(hashtextextended('ispops.ipam.pool:' || p_pool, 0))"
_FLAG_OFF = "        PERFORM set_config('ispops.ipam_allocator', '', true);\n"

# The free list and the cursor check: their flags first, in PL/pgSQL, so each query runs only when needed
# and keeps one generic plan.
_FREE_LOOP = """        WHILE pool.has_free AND EXISTS (
            SELECT 1 FROM ip_pool_free f WHERE f.tenant_id = p_tenant AND f.ip_pool_id = p_pool) LOOP
"""
_FREE_LOOP_NEW = """        WHILE pool.has_free LOOP
            EXIT WHEN NOT EXISTS (
                SELECT 1 FROM ip_pool_free f WHERE f.tenant_id = p_tenant AND f.ip_pool_id = p_pool);
"""
_CURSOR_LOOP = """            WHILE pool.cursor_taken AND cand IS NOT NULL AND EXISTS (
                SELECT 1 FROM ip_allocations a
                 WHERE a.tenant_id = p_tenant AND a.ip_address = cand AND a.status <> 'released') LOOP
                cand := ipam_next(cand, pool.end_ip);
            END LOOP;
"""
_CURSOR_LOOP_NEW = """            IF pool.cursor_taken THEN
                WHILE cand IS NOT NULL AND EXISTS (
                    SELECT 1 FROM ip_allocations a
                     WHERE a.tenant_id = p_tenant AND a.ip_address = cand AND a.status <> 'released') LOOP
                    cand := ipam_next(cand, pool.end_ip);
                END LOOP;
            END IF;
"""

# What the allocator's own INSERT writes, for its check of the moved rules.
_INSERT_VALUES = """        VALUES (p_tenant, p_pool, p_subscriber, cand, p_mac, p_status,
                CASE WHEN lease IS NOT NULL THEN p_now END, p_now + make_interval(secs => lease))
"""
assert _ALLOCATE_0018.count(_INSERT_VALUES) == 1, "ipam_allocate's insert changed shape"
OF_ALLOCATOR = {
    "status": "p_status",
    "mac_address": "p_mac",
    "lease_start": "(CASE WHEN lease IS NOT NULL THEN p_now END)",
    "lease_end": "(p_now + make_interval(secs => lease))",
    "released_at": "NULL::timestamptz",
}
_OWN_RULES = (
    "        -- The rules ipam_allocation_guard keeps for other writers (migration 0020), on what is inserted below.\n"
    + rules(OF_ALLOCATOR)
)
_STAND_ASIDE = "        -- From here on the generic triggers stand aside"

ALLOCATE = _ALLOCATE_0018
ALLOCATE = _swap(ALLOCATE, "        made ip_allocations;\n", "        made ip_allocations;\n" + _DONE)
ALLOCATE = _swap(ALLOCATE, f"        PERFORM {_POOL_LOCK_CALL};\n", f"        done := {_POOL_LOCK_CALL}::text;\n")
ALLOCATE = _swap(ALLOCATE, _STAND_ASIDE, _OWN_RULES + _STAND_ASIDE)
ALLOCATE = _swap(ALLOCATE, _v0018._FLAG, _v0018._FLAG.replace("PERFORM", "done :="))
ALLOCATE = _swap(ALLOCATE, _FLAG_OFF, _FLAG_OFF.replace("PERFORM", "done :="))
ALLOCATE = _swap(ALLOCATE, _FREE_LOOP, _FREE_LOOP_NEW)
ALLOCATE = _swap(ALLOCATE, _CURSOR_LOOP, _CURSOR_LOOP_NEW)
assert "PERFORM set_config" not in ALLOCATE and "PERFORM pg_advisory" not in ALLOCATE

UPGRADE: list[str] = [*GUARD_UP, ALLOCATE]
DOWNGRADE: list[str] = [_ALLOCATE_0018, *GUARD_DOWN]

upgrade, downgrade = steps(UPGRADE, DOWNGRADE)
