"""Devices, SNMP polling, config backup (issue 5).

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-24
"""

from __future__ import annotations

from ispops.db.ddl import run

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

UPGRADE: list[str] = []
DOWNGRADE: list[str] = []


def upgrade() -> None:
    run(UPGRADE)


def downgrade() -> None:
    run(DOWNGRADE)
