"""No accounting is lost while PostgreSQL is down: FreeRADIUS answers from its spool and replays it.

Runs on a PostgreSQL cluster of its own (tests/pgcluster.py) so that stopping it disturbs no other test.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from pyrad import packet
from sqlalchemy import text

from ispops.config import Settings
from ispops.db import migrate
from ispops.db.roles import ensure_roles, grant_database
from ispops.db.server import Server, open_server
from ispops.db.session import Database
from ispops.radius.config import radius_conninfo
from tests.factories import make_tenant
from tests.pgcluster import Cluster, new_cluster
from tests.radius.freeradius import FreeRadius, Nas

ROLE_PASSWORD = "role-secret-for-radius-tests"
SECRET = "outage-secret"


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


def count(db: Database) -> int:
    with db.tenant("acme") as s:
        return int(s.execute(text("select count(*) from radacct where acctsessionid like 'out-%'")).scalar_one())


def stopped(db: Database) -> int:
    with db.tenant("acme") as s:
        return int(
            s.execute(
                text("select count(*) from radacct where acctsessionid like 'out-%' and acctstoptime is not null")
            ).scalar_one()
        )


def test_accounting_sent_while_the_database_is_down_is_replayed(
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
    radius = FreeRadius(raddb=tmp_path / "raddb", conninfo=radius_conninfo(server))
    radius.start()
    try:
        nas = Nas(radius, "127.0.0.2", SECRET)
        t0 = int(time.time()) - 300
        db.dispose()
        cluster.stop()
        # The database is down: every packet is still answered (after it is safe in the spool).
        for n in range(20):
            reply = nas.accounting("Start", User_Name=f"u{n}", Acct_Session_Id=f"out-{n}", Event_Timestamp=t0)
            assert reply is not None and reply.code == packet.AccountingResponse, radius.log_text()[-2000:]
        for n in range(10):
            reply = nas.accounting(
                "Stop",
                User_Name=f"u{n}",
                Acct_Session_Id=f"out-{n}",
                Event_Timestamp=t0 + 60,
                Acct_Session_Time=60,
                Acct_Input_Octets=1000 + n,
            )
            assert reply is not None and reply.code == packet.AccountingResponse
        spool = radius.raddb / "spool"
        assert any(p.stat().st_size > 0 for p in spool.rglob("*detail*")), "nothing was spooled"
        time.sleep(3)  # the replay is failing and retrying meanwhile
        cluster.start()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not (count(db) == 20 and stopped(db) == 10):
            time.sleep(0.5)
        assert (count(db), stopped(db)) == (20, 10), radius.log_text()[-4000:]
    finally:
        radius.stop()
        db.dispose()
