"""FTTH: a cable has at most 6,912 fibres (the largest cables made), so its strands stay a bounded set

A cable is created with all its strands (``fiber_strands``, one row per fibre), so an unbounded
``fiber_count`` let one request ask for hundreds of millions of rows (found by the API fuzz test).
``ck_fiber_cables__fiber_count`` becomes ``fiber_count BETWEEN 1 AND 6912`` (was ``fiber_count > 0``).

Revision ID: 0039
Revises: 0038
Create Date: 2026-12-08
"""

from __future__ import annotations

from ispops.db.ddl import run

revision = "0039"
down_revision = "0038"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run(
        [
            "ALTER TABLE fiber_cables DROP CONSTRAINT ck_fiber_cables__fiber_count",
            "ALTER TABLE fiber_cables ADD CONSTRAINT ck_fiber_cables__fiber_count "
            "CHECK (fiber_count >= 1 AND fiber_count <= 6912)",
        ]
    )


def downgrade() -> None:
    run(
        [
            "ALTER TABLE fiber_cables DROP CONSTRAINT ck_fiber_cables__fiber_count",
            "ALTER TABLE fiber_cables ADD CONSTRAINT ck_fiber_cables__fiber_count CHECK (fiber_count > 0)",
        ]
    )
