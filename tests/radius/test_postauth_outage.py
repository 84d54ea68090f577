"""The spooled post-auth log across a database outage: the replayer keeps retrying, and once PostgreSQL is
back every line arrives, once. Runs on a PostgreSQL cluster of its own (tests/pgcluster.py)."""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from pyrad import packet
from sqlalchemy import text

from ispops.config import APP_ROLE, Settings
from ispops.db import migrate
from ispops.db.roles import ensure_roles, grant_database
from ispops.db.server import Server, open_server
from ispops.db.session import Database
from ispops.radius.config import POSTAUTH_SPOOL, RaddbOptions, conninfo_for, radius_conninfo
from ispops.radius.postauth_replay import Replayer
from tests.factories import make_tenant
from tests.pgcluster import Cluster, new_cluster
from tests.radius.freeradius import FreeRadius, Nas

ROLE_PASSWORD = "role-secret-for-postauth-tests"
SECRET = "outage-secret-2"


class Spooled(FreeRadius):
    @property
    def options(self) -> RaddbOptions:
        return dataclasses.replace(super().options, postauth="spool")


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    c = new_cluster()
    yield c
    c.destroy()


@pytest.fixture(scope="module")
def server(cluster: Cluster) -> Server:
    srv = open_server(Settings(database_url=cluster.url(), db_role_password=ROLE_PASSWORD))
    ensure_roles(srv.admin_url, password=ROLE_PASSWORD)
    grant_database(srv.admin_url)
    migrate.upgrade(srv)
    return srv


def lines(db: Database) -> list[tuple[str, str]]:
    with db.tenant("acme") as s:
        return [(r[0], r[1]) for r in s.execute(text("select username, reply from radpostauth order by authdate"))]


def test_lines_spooled_while_the_database_is_down_all_arrive_once(
    cluster: Cluster, server: Server, tmp_path: Path
) -> None:
    db = Database(server)
    make_tenant(db, "acme")
    with db.tenant("acme") as s:
        s.execute(
            text(
                "insert into nas (tenant_id, nasname, shortname, type, secret, require_ma) "
                "values ('acme', '127.0.0.2', 'bras1', 'mikrotik', :s, 'no')"
            ),
            {"s": SECRET},
        )
        s.execute(
            text(
                "insert into radcheck (tenant_id, username, attribute, op, value) "
                "values ('acme', 'alice', 'Cleartext-Password', ':=', 'alice-pw')"
            )
        )
    radius = Spooled(raddb=tmp_path / "raddb", conninfo=radius_conninfo(server))
    radius.start()
    stop = threading.Event()
    replayer = Replayer(radius.raddb / POSTAUTH_SPOOL, conninfo_for(server.url_for(APP_ROLE)), batch=4)
    thread = threading.Thread(target=replayer.run, args=(stop,), kwargs={"poll": 0.05, "retry": 0.2})
    try:
        nas = Nas(radius, "127.0.0.2", SECRET)
        for n in range(10):
            reply = nas.pap("alice", "alice-pw" if n % 3 else "wrong-pw")
            assert reply is not None and reply.code in (packet.AccessAccept, packet.AccessReject)
        radius.stop()  # every line is in the spool; the database goes before the replayer starts
        db.dispose()
        cluster.stop()
        thread.start()
        with pytest.raises(psycopg.OperationalError):  # what the replayer meets meanwhile: it retries
            psycopg.connect(conninfo_for(server.url_for(APP_ROLE)), connect_timeout=2).close()
        time.sleep(1)  # let it fail a few times (its retry is 0.2 s); nothing depends on the exact count
        assert replayer.shipped == 0
        cluster.start()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and replayer.shipped < 10:
            time.sleep(0.1)
        assert replayer.shipped == 10
    finally:
        stop.set()
        if thread.is_alive():
            thread.join(timeout=30)
        radius.stop()
    got = lines(db)
    db.dispose()
    assert len(got) == 10
    assert got.count(("alice", "Access-Reject")) == 4 and got.count(("alice", "Access-Accept")) == 6
