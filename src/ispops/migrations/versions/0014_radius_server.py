"""FreeRADIUS query functions and client list (issue 4).

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-24
"""

from __future__ import annotations

from ispops.db.ddl import run

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

UPGRADE: list[str] = []
DOWNGRADE: list[str] = []


def upgrade() -> None:
    run(UPGRADE)


def downgrade() -> None:
    run(DOWNGRADE)
