"""A database of its own for each RADIUS test module (FreeRADIUS reads its clients once at start, so
the per-test truncation of the shared database would pull the NAS list from under it)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest

from ispops.config import OWNER_ROLE, RADIUS_ROLE
from ispops.db import migrate
from ispops.db.server import Server, drop_database, libpq_dsn
from ispops.db.session import Database
from ispops.radius.config import radius_conninfo
from tests.api.conftest import api_settings, app_client, auth, client  # noqa: F401 (fixtures)
from tests.conftest import new_database
from tests.radius.freeradius import FreeRadius

Conn = psycopg.Connection[tuple[Any, ...]]


@pytest.fixture(scope="module")
def radius_server(base_server: Server) -> Iterator[Server]:
    srv = new_database(base_server, prefix="ispops_radius")
    migrate.upgrade(srv)
    yield srv
    drop_database(base_server.admin_url, srv.database)


@pytest.fixture(scope="module")
def radius_db(radius_server: Server) -> Iterator[Database]:
    db = Database(radius_server)
    yield db
    db.dispose()


@pytest.fixture(scope="module")
def radiusd(radius_server: Server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[FreeRadius]:
    """FreeRADIUS for this module's database, not started: the module's data comes first."""
    radius = FreeRadius(raddb=Path(tmp_path_factory.mktemp("raddb")), conninfo=radius_conninfo(radius_server))
    yield radius
    radius.stop()


@pytest.fixture
def radius(radius_server: Server, tenants: list[str]) -> Iterator[psycopg.Connection[tuple[Any, ...]]]:
    """A connection as FreeRADIUS has one: the RADIUS role, autocommit, one statement per packet (after the
    module's ``tenants`` fixture made its tenants)."""
    with psycopg.connect(libpq_dsn(radius_server.url_for(RADIUS_ROLE)), autocommit=True) as conn:
        yield conn


@pytest.fixture
def owner(radius_server: Server) -> Iterator[psycopg.Connection[tuple[Any, ...]]]:
    """The schema owner's connection (it cannot log in: the superuser sets the role, as migrations do)."""
    with psycopg.connect(libpq_dsn(radius_server.admin_url), autocommit=True) as conn:
        conn.execute(f"set role {OWNER_ROLE}")
        yield conn


# Accounting as FreeRADIUS sends it, and the rows it leaves (test_acct_router, test_interim).
def acct(
    conn: Conn, kind: str, tenant: str, uid: str, event: datetime, session_time: int, octets: int = 0, cause: str = ""
) -> int:
    row = conn.execute(
        "select ispops_radius_acct(%s, %s, %s, %s, 'bob', '', '127.0.0.2', '1', 'Virtual', %s, %s, %s, 0, %s, 1, "
        "'RADIUS', '', '', '', %s, 'Framed-User', 'PPP', '100.64.1.9', '', '', '', '', '')",
        (kind, tenant, uid, f"sid-{uid}", int(event.timestamp()), session_time, octets, octets, cause),
    ).fetchone()
    assert row is not None
    return int(row[0])


def session_rows(owner_conn: Conn, tenant: str, uid: str) -> list[tuple[Any, ...]]:
    owner_conn.execute("select set_config('app.current_tenant_id', %s, false)", (tenant,))
    return owner_conn.execute(
        "select tableoid::regclass::text, acctstarttime, acctupdatetime, acctstoptime, acctsessiontime, "
        "acctinputoctets, acctoutputoctets, acctterminatecause, host(framedipaddress) "
        "from radacct where acctuniqueid = %s order by radacctid",
        (uid,),
    ).fetchall()
