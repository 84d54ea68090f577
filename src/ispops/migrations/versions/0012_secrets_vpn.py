"""Secret store and WireGuard tunnels (issue 5).

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-24
"""

from __future__ import annotations

from ispops.db.ddl import run

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

UPGRADE: list[str] = []
DOWNGRADE: list[str] = []


def upgrade() -> None:
    run(UPGRADE)


def downgrade() -> None:
    run(DOWNGRADE)
