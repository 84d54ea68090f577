"""``ispops tenant radius-policy`` and ``ispops radius sessions`` in a subprocess on the test database."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from typing import Any

import psycopg
from sqlalchemy import text

from ispops.db.session import Database
from tests.api.conftest import env_for
from tests.factories import make_tenant

Admin = psycopg.Connection[Any]
V6_NAS = "2001:db8:ffff:ffff:ffff:ffff:ffff:fffe"
V6_CLIENT = "2001:db8:abcd:ef01:2345:6789:abcd:ef01"
V6_PREFIX = "2001:db8:abcd:ef00::/56"


def ispops(db: Database, *args: str, columns: int = 200) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ispops", *args],
        env=env_for(db.server) | {"COLUMNS": str(columns), "PATH": os.environ.get("PATH", "")},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def online(db: Database, tid: str) -> None:
    """alice on an IPv6 NAS with IPv4, IPv6 and a delegated prefix; bob on IPv4 only."""
    make_tenant(db, tid)
    with db.tenant(tid) as s:
        for user, nas, v4, v6, prefix in (
            ("alice-with-a-long-name@example.net", V6_NAS, "100.64.12.34", V6_CLIENT, V6_PREFIX),
            ("bob", "10.255.0.1", "100.64.0.2", None, None),
        ):
            s.execute(
                text(
                    "insert into radacct (tenant_id, acctsessionid, acctuniqueid, username, nasipaddress, "
                    "framedipaddress, framedipv6address, framedipv6prefix, acctstarttime, acctinputoctets, "
                    "acctoutputoctets) values "
                    "(:t, :u, :u, :u, cast(:nas as inet), cast(:v4 as inet), cast(:v6 as inet), cast(:p as inet), "
                    "now() - interval '90 minutes', 12345678, 987654321)"
                ),
                {"t": tid, "u": user, "nas": nas, "v4": v4, "v6": v6, "p": prefix},
            )


def test_sessions_show_whole_addresses_in_a_narrow_terminal(db: Database) -> None:
    online(db, "isp-a")
    for columns in (60, 200):
        result = ispops(db, "radius", "sessions", "--tenant", "isp-a", columns=columns)
        assert result.returncode == 0, result.stderr
        out = result.stdout
        for whole in (V6_NAS, V6_CLIENT, V6_PREFIX, "100.64.12.34", "10.255.0.1", "100.64.0.2"):
            assert whole in out, (columns, whole, out)
        assert "…" not in out, out
        assert max(len(line) for line in out.splitlines()) <= columns, out
        assert "2 active session(s)" in out


def policy(admin: Admin, tid: str) -> tuple[Any, ...]:
    row = admin.execute(
        "select radius_interim_interval, radius_session_timeout, radius_suspended_action, radius_walled_garden_list, "
        "radius_stale_after_intervals from tenants where id = %s",
        (tid,),
    ).fetchone()
    assert row is not None
    return tuple(row)


def test_tenant_radius_policy_shows_sets_and_refuses(db: Database, admin: Admin) -> None:
    make_tenant(db, "isp-a")
    with db.tenant("isp-a") as s:
        plan = uuid.UUID(
            str(
                s.execute(
                    text(
                        "insert into bandwidth_profiles (tenant_id, name, download_mbps, upload_mbps) "
                        "values ('isp-a', 'p', 50, 10) returning id"
                    )
                ).scalar_one()
            )
        )
        s.execute(
            text(
                "insert into subscribers (tenant_id, subscriber_number, service_type, status, "
                "bandwidth_profile_id, pppoe_username) values ('isp-a', 'S-1', 'ftth', 'active', :p, 'alice')"
            ),
            {"p": plan},
        )

    shown = ispops(db, "tenant", "radius-policy", "isp-a")
    assert shown.returncode == 0, shown.stderr
    assert "radius_interim_interval" in shown.stdout and "300" in shown.stdout

    changed = ispops(
        db,
        "tenant",
        "radius-policy",
        "isp-a",
        "--interim-interval",
        "900",
        "--session-timeout",
        "7200",
        "--suspended-action",
        "walled_garden",
        "--walled-garden-list",
        "unpaid",
        "--stale-after-intervals",
        "4",
        "--json",
    )
    assert changed.returncode == 0, changed.stderr
    assert '"radius_interim_interval": 900' in changed.stdout
    assert policy(admin, "isp-a") == (900, 7200, "walled_garden", "unpaid", 4)
    reply = dict(admin.execute("select attribute, value from radreply where username = 'alice'").fetchall())
    assert (reply["Acct-Interim-Interval"], reply["Session-Timeout"]) == ("900", "7200")
    [(actor_kind, actor_id, changes)] = admin.execute(
        "select actor_kind, actor_id, changes from audit_events where tenant_id = 'isp-a'"
    ).fetchall()
    assert (actor_kind, actor_id, changes["radius_interim_interval"]) == ("system", "cli", [300, 900])

    for args, named in (
        (["--interim-interval", "30"], "--interim-interval"),
        (["--walled-garden-list", "not a list"], "--walled-garden-list"),
        (["--suspended-action", "drop"], "--suspended-action"),
        (["--stale-after-intervals", "1"], "--stale-after-intervals"),
    ):
        refused = ispops(db, "tenant", "radius-policy", "isp-a", "--session-timeout", "600", *args)
        assert refused.returncode == 2, (args, refused.stdout, refused.stderr)
        assert named in refused.stderr, refused.stderr
        assert policy(admin, "isp-a") == (900, 7200, "walled_garden", "unpaid", 4)

    cleared = ispops(db, "tenant", "radius-policy", "isp-a", "--no-session-timeout")
    assert cleared.returncode == 0, cleared.stderr
    assert policy(admin, "isp-a")[1] is None
    assert admin.execute("select count(*) from radreply where attribute = 'Session-Timeout'").fetchone() == (0,)
    assert ispops(db, "tenant", "radius-policy", "no-such-isp").returncode == 1
