"""IPAM allocator (issue 5).

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-24
"""

from __future__ import annotations

from ispops.db.ddl import run

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

UPGRADE: list[str] = []
DOWNGRADE: list[str] = []


def upgrade() -> None:
    run(UPGRADE)


def downgrade() -> None:
    run(DOWNGRADE)
