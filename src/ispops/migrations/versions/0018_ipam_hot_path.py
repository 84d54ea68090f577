"""IPAM hot path (issue 5): the allocator's update of the pool row stops paying for rules it does not change.

Issue 5's benchmark is bound by PostgreSQL CPU per allocation. Two costs were not the allocator's own work:

- PostgreSQL deserialises and plans every CHECK constraint of a table and every stored generated column
  expression again on every execution of an UPDATE (a cached plan does not keep them). The allocator
  updates its pool row once per allocation (counter and cursor), and ip_pools had 7 CHECKs and 3 generated
  columns.
- ``ip_allocations.tenant_id`` had its own foreign key to ``tenants``: every allocation took FOR KEY SHARE on
  the tenant's one row, and with concurrent allocations of one tenant that made a MultiXact per allocation.

Measured on the bench database (one backend, a procedure looping with COMMIT per iteration, statement time
by ``clock_timestamp()``, median of 5 rounds): the allocator's pool UPDATE 31 us before, 15 us after; a whole
``ipam_allocate`` call 133 us before, 114 us after.

Every guarantee stays:

1. ``ip_allocations_tenant_id_fkey`` goes. ``ip_pool_id`` is NOT NULL and the composite key
   ``(tenant_id, ip_pool_id) -> ip_pools (tenant_id, id)`` already pins the tenant: ip_pools has its own key
   to tenants (RESTRICT), and deleting a pool deletes its allocations (CASCADE), so every allocation's
   tenant is a real tenant. The schema check accepts such a "tenant pinned through a parent" (NOT NULL
   column, parent passing the rule itself); the migration refuses to run if the column were nullable.
2. The CHECKs on ip_pools' editable columns (``pool_type``, ``vlan_id``, ``start_ip``, ``end_ip``,
   ``gateway``, ``total_ips``) become rules of ``ipam_pool_guard`` (0010 did so for four others), with the
   same SQLSTATE, table, column and constraint names, so errors still name the field (422). Their
   conditions are 0004's CHECK expressions, read from that migration; the trigger now also fires on
   UPDATE of every column they read. ``ck_ip_pools__allocated_ips`` stays a CHECK: it is what makes a full
   pool refuse one more allocation, whichever path counts it.
3. ``available_ips``, ``utilisation_percent`` and ``warning`` become plain NOT NULL columns with the same
   values (``DROP EXPRESSION``). The allocator's own pool update sets them with the generated expressions
   (planned once per connection, as part of its statement); for every other writer (the counter trigger,
   pool creation, edits of ``total_ips`` or ``warning_threshold_percent``, a direct write of the columns
   themselves) the BEFORE trigger ``ip_pools_ipam_usage`` recomputes them. It stands aside only while
   ``ipam_allocate`` has set its transaction-local flag, which now covers the pool update too.
4. ``ipam_allocate`` takes the subscriber row's key lock (FOR KEY SHARE, what the insert's foreign-key check
   takes anyway) before the pool's advisory lock instead of inside it. Allocations from one pool run one at
   a time until commit, so whatever they do while holding the pool's lock sets the pool's pace; on the
   2-core benchmark (8 clients, 4 pools) that was worth about 5 % (4,735 -> 5,054 allocations/s, one run
   each; docs/benchmarks-ipam.md).

Revision ID: 0018
Revises: 0017
Create Date: 2026-11-25
"""

from __future__ import annotations

import importlib
import re

from ispops.db.ddl import check_rule, named_checks, steps

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

_v0004 = importlib.import_module("ispops.migrations.versions.0004_network")
_v0010 = importlib.import_module("ispops.migrations.versions.0010_ipam")

# --- 1. ip_allocations: the tenant is pinned through its pool ---------------------------------------------

TENANT_FK = "ip_allocations_tenant_id_fkey"
PINNED = """
DO $$
BEGIN
    IF NOT EXISTS (
        SELECT 1 FROM pg_constraint k JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attname = 'ip_pool_id'
         WHERE k.conrelid = 'ip_allocations'::regclass AND k.conname = 'fk_ip_allocations__ip_pool_id'
           AND k.contype = 'f' AND k.convalidated AND a.attnotnull) THEN
        RAISE EXCEPTION 'ip_allocations.ip_pool_id must be NOT NULL with a validated key to ip_pools: '
                        'it is what keeps tenant_id a real tenant without %', 'ip_allocations_tenant_id_fkey';
    END IF;
END $$
"""
ALLOCATIONS_UP = [PINNED, f"ALTER TABLE ip_allocations DROP CONSTRAINT {TENANT_FK}"]
ALLOCATIONS_DOWN = [
    f"ALTER TABLE ip_allocations ADD CONSTRAINT {TENANT_FK} FOREIGN KEY (tenant_id) "
    "REFERENCES tenants(id) ON DELETE RESTRICT"
]

# --- 2. ip_pools' CHECKs on editable columns become rules of ipam_pool_guard --------------------------------

_POOLS_0004: str = _v0004.IP_POOLS[0]
# 0004's CHECKs on ip_pools by name: "ck_ip_pools__vlan_id" -> "vlan_id BETWEEN 1 AND 4094".
_CHECKS_0004 = named_checks(_POOLS_0004, "ip_pools")
KEPT_CHECK = "ck_ip_pools__allocated_ips"
# Each moved rule's message (RAISE arguments). In constraint-name order: the order PostgreSQL checks CHECKs in.
MESSAGES = {
    "end_ip": "'end_ip % must be inside the network % and not before start_ip %', "
    "NEW.end_ip, NEW.network_cidr, NEW.start_ip",
    "gateway": "'gateway % is outside the network %', NEW.gateway, NEW.network_cidr",
    "pool_type": "'pool_type must be dynamic, static or reserved, not %', NEW.pool_type",
    "start_ip": "'start_ip % is outside the network %', NEW.start_ip, NEW.network_cidr",
    "total_ips": "'total_ips must not be negative (%)', NEW.total_ips",
    "vlan_id": "'vlan_id must be between 1 and 4094, not %', NEW.vlan_id",
}
MOVED_CHECKS = {f"ck_ip_pools__{column}": _CHECKS_0004[f"ck_ip_pools__{column}"] for column in MESSAGES}
assert set(_CHECKS_0004) == set(MOVED_CHECKS) | {KEPT_CHECK}, "0004's CHECKs on ip_pools changed shape"

_POOL_COLUMN = re.compile(r"\b(network_cidr|gateway|start_ip|end_ip|total_ips|pool_type|vlan_id|allocated_ips)\b")


def _of_new(expr: str, columns: re.Pattern[str]) -> str:
    """A CHECK or generated expression on the row, as PL/pgSQL on ``NEW``."""
    return columns.sub(r"NEW.\1", expr)


MOVED_RULES = "".join(
    check_rule("ip_pools", column, _of_new(MOVED_CHECKS[f"ck_ip_pools__{column}"], _POOL_COLUMN), message)
    for column, message in MESSAGES.items()
)
# The columns the moved rules read, which the trigger must watch.
RULE_COLUMNS = sorted({c for expr in MOVED_CHECKS.values() for c in _POOL_COLUMN.findall(expr)})

# 0010's guard with the moved rules after its own (where the CHECKs used to run: after the trigger).
_GUARD_0010: str = _v0010.POOL_GUARD[0]
assert _GUARD_0010.count(_v0010.POOL_RULES) == 1, "0010's ipam_pool_guard changed shape"
GUARD = _GUARD_0010.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1).replace(
    _v0010.POOL_RULES,
    _v0010.POOL_RULES + "        -- Migration 0018: 0004's CHECKs on the editable columns.\n" + MOVED_RULES,
)
_GUARD_TRIGGER_0010: str = _v0010.POOL_GUARD[1]
_GUARD_WATCHES = re.search(r"UPDATE OF (.*?) ON ip_pools", _GUARD_TRIGGER_0010)
assert _GUARD_WATCHES is not None, "0010's ip_pools_ipam trigger changed shape"
_WATCHED_0010 = _GUARD_WATCHES.group(1).split(", ")
GUARD_COLUMNS = _WATCHED_0010 + [c for c in RULE_COLUMNS if c not in _WATCHED_0010]
GUARD_TRIGGER = _GUARD_TRIGGER_0010.replace(_GUARD_WATCHES.group(1), ", ".join(GUARD_COLUMNS))

GUARD_UP = [
    GUARD,
    "DROP TRIGGER ip_pools_ipam ON ip_pools",
    GUARD_TRIGGER,
    "ALTER TABLE ip_pools " + ", ".join(f"DROP CONSTRAINT {name}" for name in MOVED_CHECKS),
]
GUARD_DOWN = [
    *(f"ALTER TABLE ip_pools ADD CONSTRAINT {name} CHECK ({expr})" for name, expr in MOVED_CHECKS.items()),
    "DROP TRIGGER ip_pools_ipam ON ip_pools",
    _GUARD_TRIGGER_0010,
    _GUARD_0010.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1),
]

# --- 3. available_ips, utilisation_percent, warning: kept by the allocator and by a trigger ----------------

_GENERATED = re.compile(
    r"^\s*(?:ALTER TABLE ip_pools ADD COLUMN )?(\w+) (.*?) GENERATED ALWAYS AS \((.*)\) STORED,?$", re.MULTILINE
)
# Name -> (type, expression), from 0004 (available_ips) and 0010 (utilisation_percent, warning).
DERIVED = {
    name: (kind, expr)
    for source in (_POOLS_0004, *_v0010.POOL_COLUMNS)
    for name, kind, expr in _GENERATED.findall(source)
}
assert list(DERIVED) == ["available_ips", "utilisation_percent", "warning"], "the generated columns changed"
_INPUTS = re.compile(r"\b(total_ips|allocated_ips|warning_threshold_percent)\b")

USAGE = [
    """
    CREATE FUNCTION ipam_pool_usage() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        -- What 0004 and 0010 generated; ipam_allocate sets the same itself (this trigger stands aside then).
"""
    + "".join(f"        NEW.{name} := {_of_new(expr, _INPUTS)};\n" for name, (_, expr) in DERIVED.items())
    + """        RETURN NEW;
    END
    $$
    """,
    "CREATE TRIGGER ip_pools_ipam_usage BEFORE INSERT OR UPDATE OF allocated_ips, total_ips, "
    f"warning_threshold_percent, {', '.join(DERIVED)} ON ip_pools "
    f"FOR EACH ROW WHEN ({_v0010.NOT_ALLOCATOR}) EXECUTE FUNCTION ipam_pool_usage()",
]
COLUMNS_UP = [
    "ALTER TABLE ip_pools "
    + ", ".join(f"ALTER COLUMN {name} DROP EXPRESSION, ALTER COLUMN {name} SET NOT NULL" for name in DERIVED),
    *USAGE,
]
COLUMNS_DOWN = [
    "DROP TRIGGER ip_pools_ipam_usage ON ip_pools",
    "DROP FUNCTION ipam_pool_usage()",
    "ALTER TABLE ip_pools " + ", ".join(f"DROP COLUMN {name}" for name in DERIVED),
    *(
        f"ALTER TABLE ip_pools ADD COLUMN {name} {kind} GENERATED ALWAYS AS ({expr}) STORED"
        for name, (kind, expr) in DERIVED.items()
    ),
]

# The allocator: its flag set before the pool update (not only around its insert), and the update sets
# the derived columns from the row's new counter.
_ALLOCATE_0010: str = _v0010.ALLOCATE[0]
_FLAG = "        PERFORM set_config('ispops.ipam_allocator', 'on', true);\n"
_POOL_UPDATE = "        UPDATE ip_pools SET allocated_ips = allocated_ips + 1, next_ip = cursor_after\n"
assert _ALLOCATE_0010.count(_FLAG) == 1 and _ALLOCATE_0010.count(_POOL_UPDATE) == 1, "ipam_allocate changed shape"
assert _ALLOCATE_0010.index(_POOL_UPDATE) < _ALLOCATE_0010.index(_FLAG)
_COUNTER = re.compile(r"\ballocated_ips\b")
# In an UPDATE's SET list a column is its old value: the derived columns of the counter plus one.
_SET_DERIVED = ",\n".join(
    f"                            {name} = {_COUNTER.sub('(allocated_ips + 1)', expr)}"
    for name, (_, expr) in DERIVED.items()
)
# The subscriber's key lock (what the insert's foreign-key check takes) is taken before the pool's lock, so
# that allocations from one pool, which run one at a time until commit, do not also wait for it and its WAL
# record. KEY SHARE conflicts only with deleting the subscriber or changing its key, neither of which waits
# for a pool's advisory lock: no new deadlock.
_POOL_LOCK = "        PERFORM pg_advisory_xact_lock(hashtextextended('ispops.ipam.pool:' || p_pool, 0));\n"
assert _ALLOCATE_0010.count(_POOL_LOCK) == 1, "ipam_allocate changed shape"
_SUBSCRIBER_LOCK = """        IF p_subscriber IS NOT NULL THEN
            PERFORM 1 FROM subscribers s WHERE s.tenant_id = p_tenant AND s.id = p_subscriber FOR KEY SHARE;
        END IF;
"""
ALLOCATE = (
    _ALLOCATE_0010.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1)
    .replace(_POOL_LOCK, _SUBSCRIBER_LOCK + _POOL_LOCK)
    .replace(_FLAG, "")
    .replace(
        _POOL_UPDATE,
        "        -- From here on the generic triggers stand aside: this function keeps the pool row and the\n"
        "        -- new allocation right itself (migration 0018: the derived columns of the pool too).\n"
        + _FLAG
        + "        UPDATE ip_pools SET allocated_ips = allocated_ips + 1, next_ip = cursor_after,\n"
        + _SET_DERIVED
        + "\n",
    )
)
ALLOCATE_DOWN = _ALLOCATE_0010.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1)

UPGRADE: list[str] = ALLOCATIONS_UP + GUARD_UP + COLUMNS_UP + [ALLOCATE]
DOWNGRADE: list[str] = [ALLOCATE_DOWN, *COLUMNS_DOWN, *GUARD_DOWN, *ALLOCATIONS_DOWN]

upgrade, downgrade = steps(UPGRADE, DOWNGRADE)
