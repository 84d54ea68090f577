"""Test database: one fresh database per test session (per xdist worker), built by the migrations.

Runs on the same mechanism as the platform: the embedded PostgreSQL (data under ``.pytest-pgdata``,
or ``ISPOPS_TEST_DATA_DIR``) unless ``ISPOPS_DATABASE_URL`` names a server. Each test starts from
empty tables (TRUNCATE as the admin), so tests may commit freely and run CLI commands in subprocesses.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import URL

from ispops.config import OWNER_ROLE, Settings
from ispops.db import migrate
from ispops.db.roles import ensure_roles, grant_database
from ispops.db.server import Server, create_database, drop_database, libpq_dsn, open_server
from ispops.db.session import Database

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def base_server() -> Iterator[Server]:
    data_dir = Path(os.environ.get("ISPOPS_TEST_DATA_DIR", ROOT / ".pytest-pgdata"))
    settings = Settings(data_dir=data_dir)
    server = open_server(settings)
    maintenance = server.admin_url.set(database="postgres") if server.embedded else server.admin_url
    ensure_roles(maintenance, password=server.role_password)
    yield server
    server.close()


def new_database(base: Server, prefix: str = "ispops_test") -> Server:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    name = f"{prefix}_{worker}_{secrets.token_hex(4)}"
    create_database(base.admin_url, name, owner=OWNER_ROLE)
    server = base.with_database(name)
    grant_database(server.admin_url)
    return server


@pytest.fixture(scope="session")
def server(base_server: Server) -> Iterator[Server]:
    """A database at migration head for this test session."""
    srv = new_database(base_server)
    migrate.upgrade(srv)
    yield srv
    drop_database(base_server.admin_url, srv.database)


@pytest.fixture
def empty_server(base_server: Server) -> Iterator[Server]:
    """A fresh, unmigrated database (for migration tests)."""
    srv = new_database(base_server, prefix="ispops_mig")
    yield srv
    drop_database(base_server.admin_url, srv.database)


@pytest.fixture(scope="session")
def database(server: Server) -> Iterator[Database]:
    db = Database(server)
    yield db
    db.dispose()


def _truncate_all(url: URL) -> None:
    with psycopg.connect(libpq_dsn(url), autocommit=True) as conn:
        tables = [
            r[0]
            for r in conn.execute(
                "select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace "
                "where n.nspname = 'public' and c.relkind in ('r', 'p') and not c.relispartition "
                "and c.relname <> 'alembic_version'"
            )
        ]
        if tables:
            conn.execute("truncate " + ", ".join(f'"{t}"' for t in tables) + " restart identity cascade")


@pytest.fixture
def db(database: Database) -> Database:
    """The session database, emptied before the test."""
    _truncate_all(database.server.admin_url)
    return database


@pytest.fixture
def admin(db: Database) -> Iterator[psycopg.Connection[tuple[object, ...]]]:
    """A superuser/admin connection for assertions that must see past RLS. Never app code's path."""
    with psycopg.connect(libpq_dsn(db.server.admin_url), autocommit=True) as conn:
        yield conn
