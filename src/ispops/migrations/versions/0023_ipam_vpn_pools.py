"""A pool type for tunnel addresses: ``pool_type = 'vpn'``.

Until now a WireGuard tunnel took its address from whatever pool the request named, so the tenant's "VPN
pool" was a convention: nothing stopped a subscriber's allocation from taking a tunnel address, and every
tunnel request had to name the pool. A ``vpn`` pool is never handed to a subscriber (like ``reserved``:
``ipam_allocate`` returns no row, the service answers 409 naming ``pool_type``); a tunnel created without
``ip_pool_id`` and ``vpn_ip`` takes its address from the tenant's active ``vpn`` pool (``ispops.vpn``).

- ``ipam_pool_guard`` (0018's text) accepts ``vpn`` in ``pool_type``.
- ``ipam_allocate`` (0020's text) refuses a subscriber in a ``vpn`` pool as it does in a ``reserved`` one.

The downgrade turns ``vpn`` pools into ``reserved`` ones (the closest type before: never a subscriber's),
tenant by tenant, then restores both functions.

Revision ID: 0023
Revises: 0022
Create Date: 2026-11-25
"""

from __future__ import annotations

import importlib

from ispops.db.ddl import each_tenant, run

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
GUARD = _swap(
    _swap(_v0018.GUARD, _TYPES_0018, "NEW.pool_type IN ('dynamic', 'static', 'reserved', 'vpn')"),
    _MESSAGE_0018, "'pool_type must be dynamic, static, reserved or vpn, not %'",
)
_NO_SUBSCRIBER_0020 = "(p_subscriber IS NULL OR p.pool_type <> 'reserved')"
ALLOCATE = _swap(_v0020.ALLOCATE, _NO_SUBSCRIBER_0020,
                 "(p_subscriber IS NULL OR p.pool_type NOT IN ('reserved', 'vpn'))")

UPGRADE: list[str] = [GUARD, ALLOCATE]
DOWNGRADE: list[str] = [
    each_tenant("    UPDATE ip_pools SET pool_type = 'reserved' WHERE tenant_id = t.id AND pool_type = 'vpn';"),
    _v0020.ALLOCATE,
    _v0018.GUARD,
]


def upgrade() -> None:
    run(UPGRADE)


def downgrade() -> None:
    run(DOWNGRADE)
