"""Drops leave a log line and a metric (issue 13, item 3): FreeRADIUS's Status-Server counters, our drops
log and `ispops radius stats`, with real packets through a real FreeRADIUS.

Measured with FreeRADIUS 3.2.1: a request our policy drops (Do-Not-Respond) moves Total-Auth-Dropped-Requests
once the request is cleaned up (cleanup_delay, 5 s); one from an unknown client moves only
Total-Access-Requests (not Invalid, not Dropped), so `stats` counts FreeRADIUS's log lines for those.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from pyrad import packet
from pyrad.client import Client, Timeout
from sqlalchemy import text
from typer.testing import CliRunner

from ispops.cli import app
from ispops.db.session import Database
from ispops.radius.probe import dictionary
from ispops.radius.stats import StatusUnavailable, log_counters, query_status
from tests.factories import make_tenant
from tests.radius.freeradius import FreeRadius, Nas

SECRET = "stats-secret-1"
SIGNING_NAS = "127.0.0.70"  # require_ma = yes
STRANGER = "127.0.0.79"  # no NAS


@pytest.fixture(scope="module")
def world(radius_db: Database, radiusd: FreeRadius) -> FreeRadius:
    make_tenant(radius_db, "stat")
    with radius_db.tenant("stat") as s:
        s.execute(
            text(
                "insert into nas (tenant_id, nasname, shortname, type, secret, require_ma) "
                "values ('stat', :a, 'bras', 'mikrotik', :s, 'yes')"
            ),
            {"a": SIGNING_NAS, "s": SECRET},
        )
        s.execute(
            text(
                "insert into radcheck (tenant_id, username, attribute, op, value) "
                "values ('stat', 'alice', 'Cleartext-Password', ':=', 'alice-pw')"
            )
        )
    radiusd.start()
    return radiusd


@pytest.fixture
def tenants() -> list[str]:
    return ["stat"]


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def quiet(nas: Nas) -> Nas:
    nas.client.timeout, nas.client.retries = 1, 1
    return nas


def invoke(*args: str) -> Any:
    return CliRunner().invoke(app, list(args), catch_exceptions=False)


def test_an_accept_and_a_reject_are_counted(world: FreeRadius) -> None:
    before = world.stats()
    nas = Nas(world, SIGNING_NAS, SECRET)
    assert nas.pap("alice", "alice-pw").code == packet.AccessAccept  # type: ignore[union-attr]
    assert nas.pap("alice", "wrong").code == packet.AccessReject  # type: ignore[union-attr]

    def counted() -> bool:
        now = world.stats()
        return (
            now["access_accepts_total"] > before["access_accepts_total"]
            and now["access_rejects_total"] > before["access_rejects_total"]
        )

    wait_for(counted, "the accept and the reject in the counters")


def test_a_policy_drop_leaves_a_log_line_and_moves_the_dropped_counter(world: FreeRadius) -> None:
    before, drops_before = world.stats(), log_counters(world.raddb).drops
    assert quiet(Nas(world, SIGNING_NAS, SECRET)).pap_unsigned("alice", "alice-pw") is None
    lines = [line for line in world.drops() if "reason=missing-message-authenticator" in line]
    assert lines and f"client={SIGNING_NAS}" in lines[-1] and "tenant=stat" in lines[-1]
    assert "alice-pw" not in "".join(world.drops())
    wait_for(
        lambda: world.stats()["auth_dropped_requests_total"] > before["auth_dropped_requests_total"],
        "Total-Auth-Dropped-Requests to move",
    )
    after = log_counters(world.raddb).drops
    assert after["missing-message-authenticator"] == drops_before.get("missing-message-authenticator", 0) + 1


def test_an_unknown_client_is_logged_and_counted_from_the_log(world: FreeRadius) -> None:
    before, logs_before = world.stats(), log_counters(world.raddb)
    assert quiet(Nas(world, STRANGER, SECRET)).pap("alice", "alice-pw") is None
    assert f"from unknown client {STRANGER}" in world.log_text()  # FreeRADIUS's own line
    assert log_counters(world.raddb).unknown_client_requests == logs_before.unknown_client_requests + 1
    after = world.stats()
    # What FreeRADIUS 3.2.1 itself counts for it: the request, nothing else.
    assert after["access_requests_total"] > before["access_requests_total"]
    assert after["auth_invalid_requests_total"] == before["auth_invalid_requests_total"]


def test_the_status_server_answers_only_loopback_with_its_secret(world: FreeRadius) -> None:
    with pytest.raises(StatusUnavailable):
        query_status(port=world.status_port, secret="not-the-status-secret", timeout=1)
    # A NAS (another address, its own secret) cannot ask.
    nas = Client(server="127.0.0.1", authport=world.status_port, secret=SECRET.encode(), dict=None)
    nas.bind((SIGNING_NAS, 0))
    nas.timeout, nas.retries = 1, 1
    nas.dict = dictionary()
    request = nas.CreateAuthPacket(code=packet.StatusServer)
    request.add_message_authenticator()
    with pytest.raises(Timeout):
        nas.SendPacket(request)


def test_the_stats_command_prints_counters_and_prometheus_text(world: FreeRadius) -> None:
    assert quiet(Nas(world, SIGNING_NAS, SECRET)).pap_unsigned("alice", "x") is None
    table = invoke("radius", "stats", "--raddb", str(world.raddb))
    assert table.exit_code == 0, table.output
    assert "access_requests_total" in table.output and "dropped[missing-message-authenticator]" in table.output
    prom = invoke("radius", "stats", "--raddb", str(world.raddb), "--prometheus")
    assert prom.exit_code == 0, prom.output
    assert "# TYPE freeradius_access_requests_total counter" in prom.output
    assert 'ispops_radius_dropped_requests_total{reason="missing-message-authenticator"}' in prom.output
    assert "ispops_radius_unknown_client_requests_total" in prom.output
    target = world.raddb / "freeradius.prom"
    written = invoke("radius", "stats", "--raddb", str(world.raddb), "--prometheus", "--out", str(target))
    assert written.exit_code == 0, written.output
    assert "freeradius_auth_dropped_requests_total" in target.read_text()
    off = invoke("radius", "stats", "--raddb", str(world.raddb / "nowhere"))
    assert off.exit_code == 1 and "Status-Server is off" in off.output
