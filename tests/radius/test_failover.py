"""Outages fail over instead of failing closed (issue 13, item 6), on a PostgreSQL cluster of its own.

FreeRADIUS starts while the database is down (from the last rendered client list); Access-Requests during
the outage get no answer (so the NAS tries its next RADIUS server), or a reject with --db-down reject;
accounting is answered from the spool and replayed; logins work again once the database is back. A failing
post-auth log changes no answer.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from pyrad import packet
from sqlalchemy import text

from ispops.config import Settings
from ispops.db import migrate
from ispops.db.roles import ensure_roles, grant_database
from ispops.db.server import Server, open_server
from ispops.db.session import Database
from ispops.radius.clients import CLIENTS_FILE, ClientsUnavailable
from ispops.radius.config import radius_conninfo
from tests.factories import make_tenant
from tests.pgcluster import Cluster, new_cluster
from tests.radius.freeradius import FreeRadius, Nas, message_authenticator_valid, reply_attributes

ROLE_PASSWORD = "role-secret-for-failover-tests"
SECRET = "failover-secret"
NAS_ADDRESS = "127.0.0.60"


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


@pytest.fixture(scope="module")
def db(server: Server) -> Iterator[Database]:
    database = Database(server)
    make_tenant(database, "acme")
    with database.tenant("acme") as s:
        s.execute(
            text(
                "insert into nas (tenant_id, nasname, shortname, type, secret, require_ma) "
                "values ('acme', :a, 'bras1', 'mikrotik', :s, 'no')"
            ),
            {"a": NAS_ADDRESS, "s": SECRET},
        )
        s.execute(
            text(
                "insert into radcheck (tenant_id, username, attribute, op, value) "
                "values ('acme', 'alice', 'Cleartext-Password', ':=', 'alice-pw')"
            )
        )
        s.execute(
            text(
                "insert into radreply (tenant_id, username, attribute, op, value) "
                "values ('acme', 'alice', 'Mikrotik-Rate-Limit', ':=', '10M/50M')"
            )
        )
        s.execute(
            text(
                "insert into radcheck (tenant_id, username, attribute, op, value) values "
                "('acme', 'dave', 'Cleartext-Password', ':=', 'dave-pw'), "
                "('acme', 'dave', 'Simultaneous-Use', ':=', '1')"
            )
        )
    yield database
    database.dispose()


def ensure_running(cluster: Cluster) -> None:
    try:
        psycopg.connect(cluster.url("postgres"), connect_timeout=2).close()
    except psycopg.OperationalError:
        cluster.start()


@pytest.fixture
def up(cluster: Cluster, db: Database) -> Iterator[Cluster]:
    """The cluster running at the start and at the end of each test."""
    ensure_running(cluster)
    yield cluster
    db.dispose()
    ensure_running(cluster)


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def nas_for(radius: FreeRadius) -> Nas:
    nas = Nas(radius, NAS_ADDRESS, SECRET)
    nas.client.timeout = 2
    return nas


def accepted(nas: Nas) -> bool:
    reply = nas.pap("alice", "alice-pw")
    return reply is not None and reply.code == packet.AccessAccept


def test_freeradius_starts_without_the_database_and_drops_logins_until_it_returns(
    up: Cluster, db: Database, server: Server, tmp_path: Path
) -> None:
    radius = FreeRadius(raddb=tmp_path / "raddb", conninfo=radius_conninfo(server))
    radius.render()  # the database is up: the client list is rendered
    assert radius.clients is not None and radius.clients.fresh and radius.clients.count == 1
    assert (radius.raddb / CLIENTS_FILE).stat().st_mode & 0o077 == 0  # it holds the NAS secrets
    db.dispose()
    up.stop()
    radius.start()  # renders again: the database is unreachable, the last client list is kept
    try:
        assert radius.clients is not None and not radius.clients.fresh and radius.clients.error
        assert "keeping the last rendered client list" in radius.clients.message
        nas = nas_for(radius)
        assert nas.pap("alice", "alice-pw") is None, radius.log_text()[-3000:]  # no answer: the NAS fails over
        assert any(
            "reason=database-unreachable" in line and f"client={NAS_ADDRESS}" in line and "tenant=acme" in line
            for line in radius.drops()
        ), radius.drops()
        t0 = int(time.time()) - 60
        reply = nas.accounting("Start", User_Name="alice", Acct_Session_Id="fo-1", Event_Timestamp=t0)
        assert reply is not None and reply.code == packet.AccountingResponse  # accounting is spooled
        up.start()
        wait_for(lambda: accepted(nas), "a login once the database is back")

        def replayed() -> bool:
            with db.tenant("acme") as s:
                return bool(s.execute(text("select count(*) from radacct where acctsessionid = 'fo-1'")).scalar_one())

        wait_for(replayed, "the spooled Start in radacct")
    finally:
        radius.stop()


def test_with_db_down_reject_the_outage_gets_a_plain_signed_reject(
    up: Cluster, db: Database, server: Server, tmp_path: Path
) -> None:
    radius = FreeRadius(raddb=tmp_path / "raddb", conninfo=radius_conninfo(server), db_down="reject")
    radius.start()
    try:
        nas = nas_for(radius)
        assert accepted(nas)
        db.dispose()
        up.stop()
        reply = nas.pap("alice", "alice-pw")
        assert reply is not None and reply.code == packet.AccessReject, radius.log_text()[-3000:]
        assert nas.last_request is not None
        assert sorted(reply_attributes(reply)) == ["Message-Authenticator"]
        assert message_authenticator_valid(reply, nas.last_request, nas.secret)
        up.start()
        wait_for(lambda: accepted(nas), "a login once the database is back")
    finally:
        radius.stop()


def test_without_any_client_list_the_render_fails_clearly(
    up: Cluster, db: Database, server: Server, tmp_path: Path
) -> None:
    radius = FreeRadius(raddb=tmp_path / "raddb", conninfo=radius_conninfo(server))
    db.dispose()
    up.stop()
    with pytest.raises(ClientsUnavailable) as err:
        radius.render()
    assert "no client list was rendered before" in err.value.message
    assert not (radius.raddb / CLIENTS_FILE).exists()


# Stands in for the post-auth log while the test runs: the connection dies under the query, as when the
# database goes away between authorize and post-auth.
LOST_POSTAUTH = """
CREATE FUNCTION ispops_radius_postauth(a text, b text, c text, d text, e text, f text, g text)
RETURNS integer LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_terminate_backend(pg_backend_pid());
  RETURN 1;
END $$
"""


def test_a_failing_post_auth_log_changes_no_answer(up: Cluster, db: Database, server: Server, tmp_path: Path) -> None:
    """The post-auth log loses its database: an accept stays an accept, a reject a reject."""
    radius = FreeRadius(raddb=tmp_path / "raddb", conninfo=radius_conninfo(server))
    radius.start()
    admin = psycopg.connect(up.url(), autocommit=True)
    try:
        admin.execute("alter function ispops_radius_postauth rename to ispops_radius_postauth_away")
        admin.execute(LOST_POSTAUTH)
        nas = nas_for(radius)
        ok = nas.pap("alice", "alice-pw")
        assert ok is not None and ok.code == packet.AccessAccept, radius.log_text()[-3000:]
        assert reply_attributes(ok)["Mikrotik-Rate-Limit"] == ["10M/50M"]
        bad = nas.pap("alice", "wrong")
        assert bad is not None and bad.code == packet.AccessReject
        assert sorted(reply_attributes(bad)) == ["Message-Authenticator"]
        assert "ADMIN SHUTDOWN" in radius.log_text(), radius.log_text()[-3000:]  # logged, not hidden
    finally:
        admin.execute("drop function ispops_radius_postauth(text, text, text, text, text, text, text)")
        admin.execute("alter function ispops_radius_postauth_away rename to ispops_radius_postauth")
        admin.close()
        radius.stop()


LOST_SIMUL_COUNT = """
CREATE FUNCTION ispops_radius_simul_count(a text, b text) RETURNS bigint LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_terminate_backend(pg_backend_pid());
  RETURN 0;
END $$
"""


def test_a_failing_simultaneous_use_count_does_not_reject(
    up: Cluster, db: Database, server: Server, tmp_path: Path
) -> None:
    """The database goes away between authorize and session{}: FreeRADIUS 3.2 lets the login through."""
    radius = FreeRadius(raddb=tmp_path / "raddb", conninfo=radius_conninfo(server))
    radius.start()
    admin = psycopg.connect(up.url(), autocommit=True)
    try:
        admin.execute("alter function ispops_radius_simul_count rename to ispops_radius_simul_count_away")
        admin.execute(LOST_SIMUL_COUNT)
        reply = nas_for(radius).pap("dave", "dave-pw")
        assert reply is not None and reply.code == packet.AccessAccept, radius.log_text()[-3000:]
        assert "ADMIN SHUTDOWN" in radius.log_text()
    finally:
        admin.execute("drop function ispops_radius_simul_count(text, text)")
        admin.execute("alter function ispops_radius_simul_count_away rename to ispops_radius_simul_count")
        admin.close()
        radius.stop()
