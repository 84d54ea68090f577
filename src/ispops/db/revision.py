"""``ispops db revision``: the next migration, written from the canonical homes of the database rules.

A scratch database on the same server is migrated to head; :func:`ispops.db.rules.compare` lists what
differs from the canonical files and enumerations; the new ``versions/00NN_<slug>.py`` carries, as literal
strings, the canonical texts (UPGRADE) and the definitions they replace (DOWNGRADE). It imports no other
migration and nothing of ispops: it stays what it was when written, whatever the canonical files become.
"""

from __future__ import annotations

import ast
import datetime as dt
import re
import secrets
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import psycopg

from ispops.config import OWNER_ROLE
from ispops.db import migrate
from ispops.db.rules import PACKAGE_ROOT, Change, compare, downgrade_statements, load_homes, upgrade_statements
from ispops.db.server import Server, create_database, drop_database, libpq_dsn
from ispops.errors import IspopsError
from ispops.models.enums import COLUMN_ENUMS

TEMPLATE = '''"""{message}

Written by `ispops db revision` from the canonical homes of the database rules (docs/architecture.md):
{changes}

UPGRADE holds the canonical texts, DOWNGRADE the definitions they replace, as PostgreSQL printed them at
revision {down}. A frozen snapshot: to change a rule again, edit its canonical file and write a new
revision; never import this module from another migration.

Revision ID: {rev}
Revises: {down}
Create Date: {date}
"""

from __future__ import annotations

from alembic import op

revision = "{rev}"
down_revision = "{down}"
branch_labels = None
depends_on = None

UPGRADE: list[str] = [
{upgrade}
]
DOWNGRADE: list[str] = [
{downgrade}
]


def _run(statements: list[str]) -> None:
    driver = op.get_bind().connection.driver_connection  # psycopg, in the migration's transaction
    assert driver is not None
    for statement in statements:
        driver.execute(statement)  # as written: no parameters, so no placeholders (% and :name are text)


def upgrade() -> None:
    _run(UPGRADE)


def downgrade() -> None:
    _run(DOWNGRADE)
'''


@dataclass(frozen=True)
class Written:
    path: Path
    revision: str
    changes: list[Change]


@contextmanager
def scratch_at_head(server: Server, script_location: Path = migrate.MIGRATIONS_DIR) -> Iterator[Server]:
    """A new database on ``server`` migrated to head, dropped afterwards."""
    name = f"ispops_revision_{secrets.token_hex(4)}"
    create_database(server.admin_url, name, owner=OWNER_ROLE)
    scratch = server.with_database(name)
    try:
        migrate.upgrade(scratch, script_location=script_location)
        yield scratch
    finally:
        drop_database(server.admin_url, name)


def pending_changes(
    server: Server,
    *,
    root: Path = PACKAGE_ROOT,
    script_location: Path = migrate.MIGRATIONS_DIR,
    enums: Mapping[tuple[str, str], type[StrEnum]] = COLUMN_ENUMS,
) -> list[Change]:
    """What the canonical homes under ``root`` change compared with the migrations up to head."""
    homes = load_homes(root)  # a broken canonical file fails before any database is made
    with scratch_at_head(server, script_location) as scratch, psycopg.connect(libpq_dsn(scratch.admin_url)) as conn:
        return compare(conn, homes, enums, root=root)


def slug(message: str) -> str:
    words = re.sub(r"[^a-z0-9]+", "_", message.lower()).strip("_")
    return words[:48].rstrip("_") or "rules"


def literal(sql: str) -> str:
    """``sql`` as a Python literal that reads like the SQL: a raw triple-quoted string where one can hold it."""
    text = sql.strip("\n")
    if "\n" not in text and len(text) < 100 and not set(text) & {'"', "\\"}:
        candidate = f'    "{text}",'
    elif '"""' not in text and not text.endswith(("\\", '"')):
        candidate = f'    r"""\n{text}\n""",'
    else:
        candidate = f"    {text!r},"
    if ast.literal_eval(candidate.strip().rstrip(",")).strip("\n") != text:
        raise IspopsError(f"cannot write this statement as a Python literal: {text[:80]!r}")
    return candidate


def render(message: str, revision: str, down_revision: str, changes: list[Change], today: dt.date) -> str:
    listed = "\n".join(f"- {c.what}" + (f" ({c.source})" if c.source else "") for c in changes)
    first_line = " ".join(message.split()) or "Database rules"
    return TEMPLATE.format(
        message=first_line.replace('"', "'").replace("\\", "/"),
        changes=listed.replace('"', "'").replace("\\", "/"),
        rev=revision,
        down=down_revision,
        date=today.isoformat(),
        upgrade="\n".join(literal(s) for s in upgrade_statements(changes)),
        downgrade="\n".join(literal(s) for s in downgrade_statements(changes)),
    )


def write_revision(
    server: Server,
    message: str,
    *,
    root: Path = PACKAGE_ROOT,
    script_location: Path = migrate.MIGRATIONS_DIR,
    enums: Mapping[tuple[str, str], type[StrEnum]] = COLUMN_ENUMS,
    today: dt.date | None = None,
) -> Written | None:
    """Write ``versions/00NN_<slug>.py`` for the pending changes; None when the homes match head."""
    changes = pending_changes(server, root=root, script_location=script_location, enums=enums)
    if not changes:
        return None
    head = migrate.head_revision(script_location)
    if not head.isdigit():
        raise IspopsError(f"head revision {head!r} is not numbered; cannot number the next one")
    revision = f"{int(head) + 1:04d}"
    path = script_location / "versions" / f"{revision}_{slug(message)}.py"
    path.write_text(render(message, revision, head, changes, today or dt.date.today()), encoding="utf-8")
    return Written(path, revision, changes)
