"""Sessions never go stale (issue 13, item 4): stale sessions stop counting against Simultaneous-Use and are
closed by a job; staff close sessions through the API and CLI; accounting that arrives after a platform
close still lands. Real FreeRADIUS for logins and accounting; times are set in the data, never waited for."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from pyrad import packet
from sqlalchemy import text

from ispops.db import migrate
from ispops.db.server import Server, libpq_dsn
from ispops.db.session import Database
from ispops.errors import ValidationFailed
from ispops.radius.sessions import CLOSE_STALE, close_stale_job
from ispops.radius.usage import rollup_tenant
from tests.api.conftest import TokenFor, env_for
from tests.factories import make_tenant
from tests.radius.freeradius import FreeRadius, Nas

SECRET = "stale-secret-1"
TENANTS = {"stale-a": "127.0.0.2", "stale-b": "127.0.0.3"}


@pytest.fixture(scope="module")
def world(radius_db: Database, radiusd: FreeRadius) -> FreeRadius:
    """Two tenants, each with a NAS; 'dave' may be online once (manual rows), 'bob' is a subscriber."""
    for tenant, address in TENANTS.items():
        make_tenant(radius_db, tenant)
        with radius_db.tenant(tenant) as s:
            s.execute(
                text(
                    "insert into nas (tenant_id, nasname, shortname, type, secret, require_ma) "
                    "values (:t, :a, 'bras1', 'mikrotik', :s, 'no')"
                ),
                {"t": tenant, "a": address, "s": SECRET},
            )
            s.execute(
                text(
                    "insert into radcheck (tenant_id, username, attribute, op, value) values "
                    "(:t, 'dave', 'Cleartext-Password', ':=', 'dave-pw'), "
                    "(:t, 'dave', 'Simultaneous-Use', ':=', '1')"
                ),
                {"t": tenant},
            )
            sub = s.execute(
                text(
                    "insert into subscribers (tenant_id, subscriber_number, service_type, pppoe_username) "
                    "values (:t, 'S-1', 'ftth', 'bob') returning id"
                ),
                {"t": tenant},
            ).scalar_one()
            s.execute(
                text(
                    "insert into radcheck (tenant_id, subscriber_id, username, attribute, op, value) "
                    "values (:t, :sub, 'bob', 'Cleartext-Password', ':=', 'pw') on conflict do nothing"
                ),
                {"t": tenant, "sub": sub},
            )
    radiusd.start()
    return radiusd


def open_session(
    db: Database,
    tenant: str,
    sid: str,
    *,
    user: str = "dave",
    started_ago: int,
    updated_ago: int | None,
    acctinterval: int | None = None,
) -> int:
    """An open session started ``started_ago`` seconds ago, last updated ``updated_ago`` seconds ago."""
    with db.tenant(tenant) as s:
        return int(
            s.execute(
                text(
                    "insert into radacct (tenant_id, acctsessionid, acctuniqueid, username, nasipaddress, "
                    "acctstarttime, acctupdatetime, acctinterval) values (:t, :sid, :sid, :u, cast(:nas as inet), "
                    "now() - make_interval(secs => :started), now() - make_interval(secs => cast(:updated as int)), "
                    ":iv) returning radacctid"
                ),
                {
                    "t": tenant,
                    "sid": sid,
                    "u": user,
                    "nas": TENANTS[tenant],
                    "started": started_ago,
                    "updated": updated_ago,
                    "iv": acctinterval,
                },
            ).scalar_one()
        )


def session_row(db: Database, tenant: str, sid: str) -> dict[str, Any]:
    with db.tenant(tenant) as s:
        row = (
            s.execute(
                text(
                    "select radacctid, acctstarttime, acctupdatetime, acctstoptime, acctsessiontime, acctinputoctets, "
                    "acctoutputoctets, counted_input_octets, acctterminatecause, closed_by, subscriber_id "
                    "from radacct where tenant_id = :t and acctsessionid = :sid"
                ),
                {"t": tenant, "sid": sid},
            )
            .mappings()
            .first()
        )
    return dict(row) if row else {}


def set_policy(db: Database, tenant: str, **values: int) -> None:
    with db.platform() as s:
        for column, value in values.items():
            s.execute(text(f"update tenants set {column} = :v where id = :t"), {"v": value, "t": tenant})


def close_all(db: Database, tenant: str, user: str) -> None:
    with db.tenant(tenant) as s:
        s.execute(
            text(
                "update radacct set acctstoptime = now() where tenant_id = :t and username = :u "
                "and acctstoptime is null"
            ),
            {"t": tenant, "u": user},
        )


def login(world: FreeRadius, tenant: str) -> int:
    reply = Nas(world, TENANTS[tenant], SECRET).pap("dave", "dave-pw")
    assert reply is not None, world.log_text()[-3000:]
    return int(reply.code)


def wait_for(check: Callable[[], bool], radius: FreeRadius, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError("accounting did not arrive:\n" + radius.log_text()[-4000:])


# --- Simultaneous-Use and the job -------------------------------------------------------------------------


def test_a_stale_session_no_longer_blocks_a_login(world: FreeRadius, radius_db: Database) -> None:
    # Reported on a minute ago: the session counts, Simultaneous-Use := 1 refuses a second login.
    open_session(radius_db, "stale-a", "d-fresh", started_ago=7200, updated_ago=60)
    assert login(world, "stale-a") == packet.AccessReject
    # Its NAS fell silent an hour ago (interim 300 s, 3 intervals: stale after 15 minutes): the Stop was
    # lost. It no longer counts, though no job has closed it yet.
    with radius_db.tenant("stale-a") as s:
        s.execute(text("update radacct set acctupdatetime = now() - interval '1 hour' where acctsessionid = 'd-fresh'"))
    assert login(world, "stale-a") == packet.AccessAccept
    assert session_row(radius_db, "stale-a", "d-fresh")["acctstoptime"] is None
    # A session that never sent an interim is judged from its start.
    close_all(radius_db, "stale-a", "dave")
    open_session(radius_db, "stale-a", "d-start-only", started_ago=60, updated_ago=None)
    assert login(world, "stale-a") == packet.AccessReject
    with radius_db.tenant("stale-a") as s:
        s.execute(
            text(
                "update radacct set acctstarttime = acctstarttime - interval '1 hour' "
                "where acctsessionid = 'd-start-only'"
            )
        )
    assert login(world, "stale-a") == packet.AccessAccept
    close_all(radius_db, "stale-a", "dave")


def test_the_job_closes_stale_sessions_with_a_cause_and_leaves_fresh_ones(
    world: FreeRadius, radius_db: Database
) -> None:
    open_session(radius_db, "stale-b", "j-stale", started_ago=7200, updated_ago=3600)
    open_session(radius_db, "stale-b", "j-never-updated", started_ago=3600, updated_ago=None)
    open_session(radius_db, "stale-b", "j-fresh", started_ago=7200, updated_ago=60)
    # Another tenant's stale session is not this tenant's job.
    open_session(radius_db, "stale-a", "j-other", started_ago=7200, updated_ago=3600)

    assert close_stale_job(radius_db, "stale-b") == {"closed": 2}

    stale = session_row(radius_db, "stale-b", "j-stale")
    assert stale["acctstoptime"] == stale["acctupdatetime"]  # the last moment the NAS reported it
    assert (stale["acctterminatecause"], stale["closed_by"]) == ("Stale-Session", "stale")
    assert stale["acctsessiontime"] == 3600
    never = session_row(radius_db, "stale-b", "j-never-updated")
    assert never["acctstoptime"] == never["acctstarttime"] and never["closed_by"] == "stale"
    fresh = session_row(radius_db, "stale-b", "j-fresh")
    assert (fresh["acctstoptime"], fresh["closed_by"]) == (None, None)
    assert session_row(radius_db, "stale-a", "j-other")["acctstoptime"] is None
    # Idempotent: nothing is stale twice.
    assert close_stale_job(radius_db, "stale-b") == {"closed": 0}
    # The fresh session still counts, the closed ones do not.
    assert login(world, "stale-b") == packet.AccessReject
    close_all(radius_db, "stale-b", "dave")
    close_all(radius_db, "stale-a", "dave")


def test_the_tenant_setting_and_the_measured_interval_move_the_threshold(
    world: FreeRadius, radius_db: Database
) -> None:
    # Silent for 20 minutes: stale with 3 x 300 s (15 min), not with 5 x 300 s (25 min).
    open_session(radius_db, "stale-a", "t-20min", started_ago=7200, updated_ago=1200)
    set_policy(radius_db, "stale-a", radius_stale_after_intervals=5)
    assert login(world, "stale-a") == packet.AccessReject
    assert close_stale_job(radius_db, "stale-a") == {"closed": 0}
    set_policy(radius_db, "stale-a", radius_stale_after_intervals=3)
    assert login(world, "stale-a") == packet.AccessAccept
    # A NAS measured to report every 15 minutes (acctinterval) is given 3 x 900 s, whatever we asked for.
    open_session(radius_db, "stale-a", "t-slow-nas", started_ago=7200, updated_ago=1200, acctinterval=900)
    assert login(world, "stale-a") == packet.AccessReject
    assert close_stale_job(radius_db, "stale-a") == {"closed": 1}  # t-20min only
    assert session_row(radius_db, "stale-a", "t-20min")["closed_by"] == "stale"
    assert session_row(radius_db, "stale-a", "t-slow-nas")["closed_by"] is None
    # The tenant's interim interval is the base: at 60 s, 3 intervals are 3 minutes.
    set_policy(radius_db, "stale-a", radius_interim_interval=60)
    with radius_db.tenant("stale-a") as s:
        s.execute(text("update radacct set acctinterval = null where acctsessionid = 't-slow-nas'"))
    assert close_stale_job(radius_db, "stale-a") == {"closed": 1}
    set_policy(radius_db, "stale-a", radius_interim_interval=300)
    # The setting is bounded (2..100), by the database.
    for bad in (1, 101):
        with pytest.raises(ValidationFailed) as refused:
            set_policy(radius_db, "stale-a", radius_stale_after_intervals=bad)
        assert refused.value.field == "radius_stale_after_intervals"
    close_all(radius_db, "stale-a", "dave")


# --- accounting after a platform close ------------------------------------------------------------------


def send(nas: Nas, status: str, sid: str, event: int, **extra: Any) -> None:
    reply = nas.accounting(status, User_Name="bob", Acct_Session_Id=sid, Event_Timestamp=event, **extra)
    assert reply is not None and reply.code == packet.AccountingResponse


def test_late_interim_and_stop_after_a_platform_close_still_count(world: FreeRadius, radius_db: Database) -> None:
    nas = Nas(world, TENANTS["stale-b"], SECRET)
    t0 = int(time.time()) - 7200  # started two hours ago, last heard of 100 minutes ago
    send(nas, "Start", "late-1", t0)
    send(
        nas,
        "Interim-Update",
        "late-1",
        t0 + 1200,
        Acct_Session_Time=1200,
        Acct_Input_Octets=1000,
        Acct_Output_Octets=2000,
    )
    wait_for(lambda: session_row(radius_db, "stale-b", "late-1").get("acctinputoctets") == 1000, world)
    with radius_db.tenant("stale-b") as s:
        assert rollup_tenant(s, "stale-b").sessions == 1
    assert close_stale_job(radius_db, "stale-b") == {"closed": 1}
    closed = session_row(radius_db, "stale-b", "late-1")
    assert int(closed["acctstoptime"].timestamp()) == t0 + 1200 and closed["closed_by"] == "stale"

    # The NAS was only cut off from us: an interim arrives. Counters land, the stop moves to its time, the
    # session stays closed.
    send(
        nas,
        "Interim-Update",
        "late-1",
        t0 + 3600,
        Acct_Session_Time=3600,
        Acct_Input_Octets=5000,
        Acct_Output_Octets=7000,
    )
    wait_for(lambda: session_row(radius_db, "stale-b", "late-1").get("acctinputoctets") == 5000, world)
    late = session_row(radius_db, "stale-b", "late-1")
    assert int(late["acctstoptime"].timestamp()) == t0 + 3600
    assert (late["acctoutputoctets"], late["acctsessiontime"]) == (7000, 3600)
    assert (late["acctterminatecause"], late["closed_by"]) == ("Stale-Session", "stale")

    # Its real Stop replaces the platform's stop time and cause.
    send(
        nas,
        "Stop",
        "late-1",
        t0 + 4000,
        Acct_Session_Time=4000,
        Acct_Input_Octets=6000,
        Acct_Output_Octets=9000,
        Acct_Terminate_Cause=1,
    )
    wait_for(lambda: session_row(radius_db, "stale-b", "late-1").get("acctterminatecause") == "User-Request", world)
    stopped = session_row(radius_db, "stale-b", "late-1")
    assert int(stopped["acctstoptime"].timestamp()) == t0 + 4000
    assert (stopped["acctinputoctets"], stopped["acctoutputoctets"], stopped["acctsessiontime"]) == (6000, 9000, 4000)
    assert stopped["acctterminatecause"] == "User-Request"
    # A duplicate Stop, or an older interim replayed afterwards, changes nothing.
    send(
        nas,
        "Stop",
        "late-1",
        t0 + 4000,
        Acct_Session_Time=4000,
        Acct_Input_Octets=6000,
        Acct_Output_Octets=9000,
        Acct_Terminate_Cause=1,
    )
    send(
        nas,
        "Interim-Update",
        "late-1",
        t0 + 3600,
        Acct_Session_Time=3600,
        Acct_Input_Octets=5000,
        Acct_Output_Octets=7000,
    )
    send(nas, "Start", "late-marker", t0)  # processed after the two above (one spool, in order)
    wait_for(lambda: bool(session_row(radius_db, "stale-b", "late-marker")), world)
    assert session_row(radius_db, "stale-b", "late-1") == stopped

    # The usage roll-up counts what arrived after the close.
    with radius_db.tenant("stale-b") as s:
        assert rollup_tenant(s, "stale-b").sessions == 1
        used = s.execute(
            text(
                "select sum(input_octets), sum(output_octets) from subscriber_usage_daily "
                "where tenant_id = 'stale-b' and subscriber_id = :sub"
            ),
            {"sub": stopped["subscriber_id"]},
        ).one()
    assert tuple(used) == (6000, 9000)
    close_all(radius_db, "stale-b", "bob")


# --- staff: API and CLI ---------------------------------------------------------------------------------


def api_session(db: Database, tenant: str, sid: str) -> int:
    make_tenant(db, tenant)
    with db.tenant(tenant) as s:
        return int(
            s.execute(
                text(
                    "insert into radacct (tenant_id, acctsessionid, acctuniqueid, username, nasipaddress, "
                    "acctstarttime, acctupdatetime, acctinputoctets) values (:t, :sid, :sid, 'carol', '192.0.2.1', "
                    "now() - interval '1 hour', now() - interval '1 minute', 4096) returning radacctid"
                ),
                {"t": tenant, "sid": sid},
            ).scalar_one()
        )


def test_staff_close_through_the_api(
    db: Database, admin: psycopg.Connection[Any], client: TestClient, auth: TokenFor
) -> None:
    rid = api_session(db, "close-a", "api-1")
    other = api_session(db, "close-b", "api-2")
    path = f"/api/v1/radius/sessions/{rid}/close"

    assert client.post(path, headers=auth("close-a", "field_tech")).status_code == 403
    response = client.post(path, headers=auth("close-a", "support_agent", user_id="u-support"))
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["radacctid"], body["acctsessionid"], body["terminate_cause"], body["closed_by"]) == (
        rid,
        "api-1",
        "Admin-Reset",
        "staff",
    )
    assert body["stopped_at"] is not None and body["upload_octets"] == 4096 and body["duration_seconds"] >= 3600
    # Nothing was queued for the NAS: closing is not disconnecting.
    assert admin.execute("select count(*) from radius_coa_queue").fetchone() == (0,)
    # Audited, by whom.
    [event] = admin.execute(
        "select actor_kind, actor_id, entity, entity_id, action, changes from audit_events "
        "where tenant_id = 'close-a' and entity = 'radacct'"
    ).fetchall()
    assert event[:5] == ("user", "u-support", "radacct", str(rid), "action")
    assert event[5]["action"] == "close" and event[5]["username"] == "carol"

    again = client.post(path, headers=auth("close-a", "noc_engineer"))
    assert again.status_code == 409 and again.json()["field"] == "acctstoptime", again.text
    # Another tenant's session is not found (and stays open).
    intruder = client.post(f"/api/v1/radius/sessions/{other}/close", headers=auth("close-a", "tenant_admin"))
    assert intruder.status_code == 404
    assert admin.execute("select acctstoptime from radacct where radacctid = %s", (other,)).fetchone() == (None,)
    assert (
        client.post("/api/v1/radius/sessions/999999999/close", headers=auth("close-a", "tenant_admin")).status_code
        == 404
    )
    listing = client.get("/api/v1/radius/sessions?active=false", headers=auth("close-a", "support_agent")).json()
    assert [(i["radacctid"], i["closed_by"]) for i in listing["items"]] == [(rid, "staff")]


def test_staff_close_from_the_cli(db: Database, admin: psycopg.Connection[Any]) -> None:
    rid = api_session(db, "close-c", "cli-1")
    api_session(db, "close-d", "cli-2")

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "ispops", "radius", "close-session", *args],
            env=env_for(db.server) | {"COLUMNS": "200", "PATH": os.environ.get("PATH", "")},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    done = run(str(rid), "--tenant", "close-c")
    assert done.returncode == 0, done.stderr
    assert f"Closed session {rid} of carol" in done.stdout and "the NAS was not told" in done.stdout
    row = admin.execute(
        "select acctstoptime is not null, acctterminatecause, closed_by from radacct where radacctid = %s", (rid,)
    ).fetchone()
    assert row == (True, "Admin-Reset", "staff")
    [event] = admin.execute(
        "select actor_kind, actor_id, entity_id, changes ->> 'action' from audit_events "
        "where tenant_id = 'close-c' and entity = 'radacct'"
    ).fetchall()
    assert event[0] == "system" and str(event[1]).startswith("cli:") and event[2:] == (str(rid), "close")

    twice = run(str(rid), "--tenant", "close-c")
    assert twice.returncode != 0 and "acctstoptime" in twice.stdout + twice.stderr
    # Another tenant's session id, asked for in this tenant: not found.
    foreign = run(str(rid), "--tenant", "close-d")
    assert foreign.returncode != 0 and "no such record" in foreign.stdout + foreign.stderr


# --- the plans stay on the open-session indexes -----------------------------------------------------------

PLAN_INDEX = re.compile(r"Index (?:Only )?Scan (?:using )?(?:on )?(\w+)")


def test_open_session_queries_use_only_open_session_indexes(world: FreeRadius, owner: psycopg.Connection[Any]) -> None:
    """radacct cannot be pruned for open sessions (one may have started in any month), so each query probes
    every partition's index of open sessions (the partial ones, ``WHERE acctstoptime IS NULL``, or the
    acctstoptime index with ``IS NULL``) and reads no partition whole. The test tables are tiny, so
    sequential scans are priced out to show what the planner can use (on a real radacct the open sessions
    are a sliver of the rows)."""
    partial = {
        r[0]
        for r in owner.execute(
            "select c.relname from pg_index i join pg_class c on c.oid = i.indexrelid "
            "join pg_inherits h on h.inhrelid = i.indrelid "
            "where h.inhparent = 'public.radacct'::regclass "
            "and (pg_get_expr(i.indpred, i.indrelid) = '(acctstoptime IS NULL)' "  # the partial indexes
            "or pg_get_indexdef(i.indexrelid) like '%(acctstoptime)')"  # idx_radacct_stop, for IS NULL
        )
    }
    partitions = owner.execute(
        "select count(*) from pg_inherits where inhparent = 'public.radacct'::regclass"
    ).fetchone()
    assert partitions is not None and partitions[0] >= 7  # 2 months back, this one, 3 ahead, DEFAULT
    owner.execute("select set_config('app.current_tenant_id', 'stale-a', false)")
    owner.execute("set enable_seqscan = off")
    try:
        plans = [
            [r[0] for r in owner.execute("explain (costs off) " + sql)]
            for sql in (
                # ispops_radius_simul_count (FreeRADIUS, every login)
                "select count(*) from radacct a where a.tenant_id = 'stale-a' and a.username = 'dave' "
                "and a.acctstoptime is null and ispops_radius_stale_at(coalesce(a.acctupdatetime, "
                "a.acctstarttime), a.acctinterval, 300, 3) > now()",
                # ispops.radius.sessions.CLOSE_STALE (the job)
                str(CLOSE_STALE)
                .replace(":t", "'stale-a'")
                .replace(":iv", "300")
                .replace(":k", "3")
                .replace(":cause", "'x'")
                .replace(":closed_by", "'stale'"),
            )
        ]
    finally:
        owner.execute("reset enable_seqscan")
    for plan in plans:
        text_plan = "\n".join(plan)
        assert "Seq Scan" not in text_plan, text_plan
        used = PLAN_INDEX.findall(text_plan)
        assert len(used) >= partitions[0] and set(used) <= partial, text_plan


# --- the migration steps back exactly ---------------------------------------------------------------------

FUNCTIONS = (
    "ispops_radius_acct",
    "ispops_radacct_route",
    "ispops_radius_interim",
    "ispops_radacct_build_router",
    "ispops_radius_simul_count",
)


def test_0025_downgrade_restores_the_earlier_functions(empty_server: Server) -> None:
    def definitions() -> dict[str, str]:
        with psycopg.connect(libpq_dsn(empty_server.admin_url)) as conn:
            return {
                r[0]: r[1]
                for r in conn.execute(
                    "select p.proname, pg_get_functiondef(p.oid) from pg_proc p "
                    "join pg_namespace n on n.oid = p.pronamespace where n.nspname = 'public' "
                    "and p.proname = any(%s)",
                    (list(FUNCTIONS),),
                )
            }

    migrate.upgrade(empty_server, "0024")
    before = definitions()
    assert set(before) == set(FUNCTIONS)
    migrate.upgrade(empty_server, "0025")
    after = definitions()
    assert {f for f in FUNCTIONS if before[f] != after[f]} == set(FUNCTIONS) - {"ispops_radius_interim"}
    migrate.downgrade(empty_server, "0024")
    assert definitions() == before
