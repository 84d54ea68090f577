"""A pool type for tunnel addresses: ``pool_type = 'vpn'``.

Until now a WireGuard tunnel took its address from whatever pool the request named, so the tenant's "VPN
pool" was a convention: nothing stopped a subscriber's allocation from taking a tunnel address, and every
tunnel request had to name the pool. A ``vpn`` pool is never handed to a subscriber (like ``reserved``:
``ipam_allocate`` returns no row, the service answers 409 naming ``pool_type``); a tunnel created without
``ip_pool_id`` and ``vpn_ip`` takes its address from the tenant's active ``vpn`` pool (``ispops.vpn``).

- ``ipam_pool_guard`` (0018's text) accepts ``vpn`` in ``pool_type``, and refuses to make a pool
  ``reserved`` or ``vpn`` while subscribers hold addresses in it (SQLSTATE ``ISCFL``: a 409 naming
  ``pool_type``).
- ``ipam_allocate`` (0020's text) refuses a subscriber in a ``vpn`` pool as it does in a ``reserved`` one.
- ``ipam_subscriber_guard`` (BEFORE UPDATE OF subscriber_id on ip_allocations, only when one is set): an
  allocation of a ``reserved`` or ``vpn`` pool is not given to a subscriber afterwards either (409).

The downgrade turns ``vpn`` pools into ``reserved`` ones (the closest type before: never a subscriber's),
tenant by tenant, drops the new trigger and restores both functions.

Revision ID: 0023
Revises: 0022
Create Date: 2026-11-25
"""

from __future__ import annotations

import importlib

from ispops.db.ddl import each_tenant, steps

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None

_v0018 = importlib.import_module("ispops.migrations.versions.0018_ipam_hot_path")
_v0020 = importlib.import_module("ispops.migrations.versions.0020_ipam_lean_allocate")


def _swap(text: str, old: str, new: str) -> str:
    assert text.count(old) == 1, f"expected one {old!r}"
    return text.replace(old, new)


_TYPES_0018 = "NEW.pool_type IN ('dynamic', 'static', 'reserved')"
_MESSAGE_0018 = "'pool_type must be dynamic, static or reserved, not %'"
_RULES_0018 = "        -- Migration 0018: 0004's CHECKs on the editable columns.\n"
KEEP_SUBSCRIBERS = """        -- Migration 0023: no pool becomes reserved or vpn while subscribers hold addresses in it.
        IF TG_OP = 'UPDATE' AND NEW.pool_type IN ('reserved', 'vpn') AND OLD.pool_type IS DISTINCT FROM NEW.pool_type
           AND EXISTS (SELECT 1 FROM ip_allocations a WHERE a.tenant_id = NEW.tenant_id AND a.ip_pool_id = NEW.id
                        AND a.subscriber_id IS NOT NULL AND a.status <> 'released') THEN
            RAISE EXCEPTION 'ip_pools: subscribers hold addresses in pool %: release them before it becomes %',
                NEW.name, NEW.pool_type
                USING ERRCODE = 'ISCFL', TABLE = 'ip_pools', COLUMN = 'pool_type';
        END IF;
"""
GUARD = _swap(
    _swap(
        _swap(_v0018.GUARD, _TYPES_0018, "NEW.pool_type IN ('dynamic', 'static', 'reserved', 'vpn')"),
        _MESSAGE_0018,
        "'pool_type must be dynamic, static, reserved or vpn, not %'",
    ),
    _RULES_0018,
    KEEP_SUBSCRIBERS + _RULES_0018,
)
_NO_SUBSCRIBER_0020 = "(p_subscriber IS NULL OR p.pool_type <> 'reserved')"
ALLOCATE = _swap(
    _v0020.ALLOCATE, _NO_SUBSCRIBER_0020, "(p_subscriber IS NULL OR p.pool_type NOT IN ('reserved', 'vpn'))"
)

SUBSCRIBER_GUARD = [
    """
CREATE FUNCTION ipam_subscriber_guard() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, public AS $$
DECLARE pool record;
BEGIN
    SELECT p.name, p.pool_type INTO pool FROM public.ip_pools p
     WHERE p.tenant_id = NEW.tenant_id AND p.id = NEW.ip_pool_id;
    IF pool.pool_type IN ('reserved', 'vpn') THEN
        RAISE EXCEPTION 'ip_pools: pool % is %: its addresses are not handed to subscribers', pool.name, pool.pool_type
            USING ERRCODE = 'ISCFL', TABLE = 'ip_pools', COLUMN = 'pool_type';
    END IF;
    RETURN NEW;
END
$$
""",
    "CREATE TRIGGER ip_allocations_subscriber BEFORE UPDATE OF subscriber_id ON ip_allocations FOR EACH ROW "
    "WHEN (NEW.subscriber_id IS NOT NULL AND NEW.subscriber_id IS DISTINCT FROM OLD.subscriber_id) "
    "EXECUTE FUNCTION ipam_subscriber_guard()",
]

UPGRADE: list[str] = [GUARD, ALLOCATE, *SUBSCRIBER_GUARD]
DOWNGRADE: list[str] = [
    "DROP TRIGGER ip_allocations_subscriber ON ip_allocations",
    "DROP FUNCTION ipam_subscriber_guard()",
    each_tenant("    UPDATE ip_pools SET pool_type = 'reserved' WHERE tenant_id = t.id AND pool_type = 'vpn';"),
    _v0020.ALLOCATE,
    _v0018.GUARD,
]

upgrade, downgrade = steps(UPGRADE, DOWNGRADE)
