"""Console (issue 19): the subscriber list's order, indexed: ``(tenant_id, created_at DESC NULLS LAST, id DESC)``
over live rows.

The console's subscriber list (and ``GET /api/v1/subscribers``) opens sorted newest first and pages by
keyset on ``(created_at, id)`` (``ispops.console.listing``). Without this index, its first page sorted a
tenant's whole table (a million rows: a top-N sort on every view); with it, a page is an index range scan
of 50 rows, the Previous page the same scan backwards.

The console needs no table of its own: its sign-in sessions are the refresh-token rows the API's login
already writes (``refresh_tokens``, migration 0008), and CSRF tokens are derived from the session
(``ispops.console.sessions``).

Revision ID: 0036
Revises: 0035
Create Date: 2026-12-08
"""

from __future__ import annotations

from alembic import op

revision = "0036"
down_revision = "0035"
branch_labels = None
depends_on = None

INDEX = "idx_subscribers_tenant_created"


def upgrade() -> None:
    op.execute(
        f"CREATE INDEX {INDEX} ON subscribers (tenant_id, created_at DESC NULLS LAST, id DESC) WHERE deleted_at IS NULL"
    )


def downgrade() -> None:
    op.execute(f"DROP INDEX {INDEX}")
