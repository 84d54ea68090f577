"""radcheck/radreply rendered by the database (migration 0013): per vendor, through the lifecycle, per
plan edit and per tenant policy, in the same transaction as the change."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from ispops.db.session import Database
from ispops.errors import Conflict
from ispops.radius import provisioning
from tests.factories import make_tenant

Row = tuple[str, str, str, str]  # (table, attribute, op, value)

PLAN = {
    "download_mbps": 50,
    "upload_mbps": 10,
    "download_burst_mbps": 100,
    "upload_burst_mbps": 20,
    "burst_threshold_mbps": 40,
    "burst_time_seconds": 16,
    "priority": 5,
    "fup_download_mbps": 4,
    "fup_upload_mbps": 1,
}

# The rows of an active subscriber on PLAN, every vendor's rendering (the NAS picks its own at auth time).
PLAN_ROWS: set[Row] = {
    ("radcheck", "Simultaneous-Use", ":=", "1"),
    ("radreply", "Mikrotik-Rate-Limit", ":=", "10M/50M 20M/100M 8M/40M 16/16 5"),
    ("radreply", "Cisco-AVPair", "+=", "ip:sub-qos-policy-in=ispops-in-10M"),
    ("radreply", "Cisco-AVPair", "+=", "ip:sub-qos-policy-out=ispops-out-50M"),
    ("radreply", "ERX-Qos-Profile-Name", ":=", "ispops-50M-10M"),
    ("radreply", "WISPr-Bandwidth-Max-Up", ":=", "10000000"),
    ("radreply", "WISPr-Bandwidth-Max-Down", ":=", "50000000"),
    ("radreply", "Acct-Interim-Interval", ":=", "300"),
}
THROTTLED_ROWS: set[Row] = {
    ("radcheck", "Simultaneous-Use", ":=", "1"),
    ("radreply", "Mikrotik-Rate-Limit", ":=", "1M/4M"),
    ("radreply", "Cisco-AVPair", "+=", "ip:sub-qos-policy-in=ispops-in-1M"),
    ("radreply", "Cisco-AVPair", "+=", "ip:sub-qos-policy-out=ispops-out-4M"),
    ("radreply", "ERX-Qos-Profile-Name", ":=", "ispops-4M-1M"),
    ("radreply", "WISPr-Bandwidth-Max-Up", ":=", "1000000"),
    ("radreply", "WISPr-Bandwidth-Max-Down", ":=", "4000000"),
    ("radreply", "Acct-Interim-Interval", ":=", "300"),
}
WALLED_ROWS: set[Row] = {
    ("radcheck", "Simultaneous-Use", ":=", "1"),
    ("radreply", "Mikrotik-Rate-Limit", ":=", "128k/512k"),
    ("radreply", "Mikrotik-Address-List", ":=", "unpaid"),
    ("radreply", "Cisco-AVPair", "+=", "ip:sub-qos-policy-in=unpaid"),
    ("radreply", "Cisco-AVPair", "+=", "ip:sub-qos-policy-out=unpaid"),
    ("radreply", "ERX-Qos-Profile-Name", ":=", "unpaid"),
    ("radreply", "WISPr-Bandwidth-Max-Up", ":=", "128000"),
    ("radreply", "WISPr-Bandwidth-Max-Down", ":=", "512000"),
    ("radreply", "Acct-Interim-Interval", ":=", "300"),
}
REJECT_ROWS: set[Row] = {("radcheck", "Auth-Type", ":=", "Reject")}
PASSWORD_ROW: Row = ("radcheck", "Cleartext-Password", ":=", "s3cret-pw")


def profile(db: Database, tenant: str, name: str = "Home 50", **values: Any) -> str:
    cols = {**PLAN, **values}
    names = ", ".join(cols)
    params = ", ".join(f":{c}" for c in cols)
    with db.tenant(tenant) as s:
        return str(
            s.execute(
                text(
                    f"insert into bandwidth_profiles (tenant_id, name, {names}) values (:t, :name, {params}) "
                    "returning id"
                ),
                {"t": tenant, "name": name, **cols},
            ).scalar_one()
        )


def subscriber(
    db: Database,
    tenant: str,
    plan: str | None,
    username: str = "alice",
    *,
    status: str = "active",
    pw: str | None = PASSWORD_ROW[3],
    **values: Any,
) -> str:
    cols = {
        "subscriber_number": f"S-{username}",
        "service_type": "ftth",
        "status": status,
        "pppoe_username": username,
        "bandwidth_profile_id": plan,
        **values,
    }
    with db.tenant(tenant) as s:
        sid = str(
            s.execute(
                text(
                    f"insert into subscribers (tenant_id, {', '.join(cols)}) values (:t, "
                    + ", ".join(f":{c}" for c in cols)
                    + ") returning id"
                ),
                {"t": tenant, **cols},
            ).scalar_one()
        )
        if pw is not None:
            provisioning.set_password(s, tenant_id=tenant, subscriber_id=sid, password=pw)
    return sid


def update(db: Database, tenant: str, table: str, key: str, **values: Any) -> None:
    sets = ", ".join(f"{c} = :{c}" for c in values)
    with db.tenant(tenant) as s:
        s.execute(
            text(f"update {table} set {sets} where tenant_id = :t and id = cast(:id as uuid)"),
            {"t": tenant, "id": key, **values},
        )


def rows(admin: psycopg.Connection[Any], tenant: str, username: str) -> set[Row]:
    """Every radcheck/radreply row of ``username`` in ``tenant``, read past RLS."""
    out: set[Row] = set()
    for table in ("radcheck", "radreply"):
        found = admin.execute(
            f"select attribute, op, value from {table} where tenant_id = %s and username = %s", (tenant, username)
        ).fetchall()
        assert len(found) == len(set(found)), f"duplicate rows in {table}: {found}"
        out |= {(table, a, o, v) for a, o, v in found}
    return out


def owned(admin: psycopg.Connection[Any], sid: str) -> int:
    return sum(
        int((admin.execute(f"select count(*) from {t} where subscriber_id = %s", (sid,)).fetchone() or (0,))[0])
        for t in ("radcheck", "radreply")
    )


@pytest.fixture
def isp(db: Database) -> str:
    make_tenant(db, "isp-a")
    return "isp-a"


def test_plan_rendered_for_every_vendor(db: Database, admin: psycopg.Connection[Any], isp: str) -> None:
    subscriber(db, isp, profile(db, isp))
    assert rows(admin, isp, "alice") == PLAN_ROWS | {PASSWORD_ROW}
    # Every rendered row carries the subscriber, so it follows renames and goes with the subscriber.
    assert admin.execute("select count(*) from radreply where subscriber_id is null").fetchone() == (0,)


def test_profile_policy_names_timeouts_and_simultaneous_use(
    db: Database, admin: psycopg.Connection[Any], isp: str
) -> None:
    plan = profile(
        db,
        isp,
        cisco_policy_in="GOLD-IN",
        cisco_policy_out="GOLD-OUT",
        juniper_qos_profile="gold",
        session_timeout_seconds=86400,
        simultaneous_use=2,
    )
    subscriber(db, isp, plan)
    got = rows(admin, isp, "alice")
    assert {r for r in got if r[1] in ("Cisco-AVPair", "ERX-Qos-Profile-Name")} == {
        ("radreply", "Cisco-AVPair", "+=", "ip:sub-qos-policy-in=GOLD-IN"),
        ("radreply", "Cisco-AVPair", "+=", "ip:sub-qos-policy-out=GOLD-OUT"),
        ("radreply", "ERX-Qos-Profile-Name", ":=", "gold"),
    }
    assert ("radreply", "Session-Timeout", ":=", "86400") in got
    assert ("radcheck", "Simultaneous-Use", ":=", "2") in got
    # The tenant's default session timeout applies when the plan has none.
    other = profile(db, isp, name="Plain")
    admin.execute("update tenants set radius_session_timeout = 3600 where id = %s", (isp,))
    subscriber(db, isp, other, "bob")
    assert ("radreply", "Session-Timeout", ":=", "3600") in rows(admin, isp, "bob")
    assert ("radreply", "Session-Timeout", ":=", "86400") in rows(admin, isp, "alice")


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({"download_burst_mbps": None, "upload_burst_mbps": None}, "10M/50M 0/0 0/0 0/0 5"),
        ({"burst_threshold_mbps": None, "burst_time_seconds": None}, "10M/50M 20M/100M 10M/50M 1/1 5"),
        (
            {"download_burst_mbps": 80, "upload_burst_mbps": None, "burst_threshold_mbps": 45, "priority": 10},
            "10M/50M 10M/80M 9M/45M 16/16 8",
        ),
        (
            {
                "download_mbps": 30,
                "upload_mbps": 7,
                "download_burst_mbps": None,
                "upload_burst_mbps": 9,
                "burst_threshold_mbps": 25,
                "priority": 1,
            },
            "7M/30M 9M/30M 5833k/25M 16/16 1",
        ),
    ],
)
def test_mikrotik_rate_limit_format(
    db: Database, admin: psycopg.Connection[Any], isp: str, values: dict[str, Any], expected: str
) -> None:
    subscriber(db, isp, profile(db, isp, **values), pw=None)
    got = rows(admin, isp, "alice")
    assert [r[3] for r in got if r[1] == "Mikrotik-Rate-Limit"] == [expected]


def test_wispr_rates_are_capped_at_32_bits(db: Database, admin: psycopg.Connection[Any], isp: str) -> None:
    subscriber(
        db,
        isp,
        profile(
            db,
            isp,
            download_mbps=10000,
            upload_mbps=5000,
            download_burst_mbps=None,
            upload_burst_mbps=None,
            burst_threshold_mbps=None,
        ),
        pw=None,
    )
    got = {r[1]: r[3] for r in rows(admin, isp, "alice") if r[1].startswith("WISPr")}
    assert got == {"WISPr-Bandwidth-Max-Up": "4294967295", "WISPr-Bandwidth-Max-Down": "4294967295"}


def test_lifecycle_keeps_rows_exactly_in_step(db: Database, admin: psycopg.Connection[Any], isp: str) -> None:
    plan = profile(db, isp)
    faster = profile(
        db,
        isp,
        name="Home 100",
        download_mbps=100,
        upload_mbps=20,
        download_burst_mbps=None,
        upload_burst_mbps=None,
        burst_threshold_mbps=None,
    )
    sid = subscriber(db, isp, plan, status="pending")
    assert rows(admin, isp, "alice") == REJECT_ROWS | {PASSWORD_ROW}

    update(db, isp, "subscribers", sid, status="active")
    assert rows(admin, isp, "alice") == PLAN_ROWS | {PASSWORD_ROW}

    update(db, isp, "subscribers", sid, bandwidth_profile_id=faster)
    got = rows(admin, isp, "alice")
    assert ("radreply", "Mikrotik-Rate-Limit", ":=", "20M/100M 0/0 0/0 0/0 5") in got
    assert ("radreply", "ERX-Qos-Profile-Name", ":=", "ispops-100M-20M") in got
    assert len(got) == len(PLAN_ROWS) + 1

    update(db, isp, "subscribers", sid, bandwidth_profile_id=plan, status="suspended")
    assert rows(admin, isp, "alice") == REJECT_ROWS | {PASSWORD_ROW}  # the password stays: resume is instant

    update(db, isp, "subscribers", sid, status="active")
    assert rows(admin, isp, "alice") == PLAN_ROWS | {PASSWORD_ROW}

    update(db, isp, "subscribers", sid, status="on_hold")
    assert rows(admin, isp, "alice") == REJECT_ROWS | {PASSWORD_ROW}

    update(db, isp, "subscribers", sid, status="terminated")
    assert rows(admin, isp, "alice") == set() and owned(admin, sid) == 0


def test_walled_garden_suspension(db: Database, admin: psycopg.Connection[Any], isp: str) -> None:
    admin.execute(
        "update tenants set radius_suspended_action = 'walled_garden', radius_walled_garden_download_kbps = 512, "
        "radius_walled_garden_upload_kbps = 128, radius_walled_garden_list = 'unpaid' where id = %s",
        (isp,),
    )
    sid = subscriber(db, isp, profile(db, isp), static_ip_address="203.0.113.9")
    update(db, isp, "subscribers", sid, status="suspended")
    ip = ("radreply", "Framed-IP-Address", ":=", "203.0.113.9")
    assert rows(admin, isp, "alice") == WALLED_ROWS | {PASSWORD_ROW, ip}
    update(db, isp, "subscribers", sid, status="active")
    assert rows(admin, isp, "alice") == PLAN_ROWS | {PASSWORD_ROW, ip}


def test_soft_and_hard_delete_remove_every_row(db: Database, admin: psycopg.Connection[Any], isp: str) -> None:
    plan = profile(db, isp)
    gone = subscriber(db, isp, plan)
    with db.tenant(isp) as s:
        s.execute(text("update subscribers set deleted_at = now() where id = cast(:id as uuid)"), {"id": gone})
    assert rows(admin, isp, "alice") == set()
    erased = subscriber(db, isp, plan, "bob")
    with db.tenant(isp) as s:
        s.execute(text("delete from subscribers where id = cast(:id as uuid)"), {"id": erased})
    assert rows(admin, isp, "bob") == set()


def test_username_change_renames_every_row_and_manual_rows_survive(
    db: Database, admin: psycopg.Connection[Any], isp: str
) -> None:
    plan = profile(db, isp)
    sid = subscriber(db, isp, plan)
    manual = {
        ("radreply", "Reply-Message", ":=", "Welcome"),
        ("radreply", "Cisco-AVPair", "+=", "ip:addr-pool=biz"),
        ("radcheck", "Calling-Station-Id", "==", "00:11:22:33:44:55"),
    }
    with db.tenant(isp) as s:
        for table, attribute, op, value in manual:
            s.execute(
                text(
                    f"insert into {table} (tenant_id, subscriber_id, username, attribute, op, value) "
                    "values (:t, cast(:sid as uuid), 'alice', :a, :o, :v)"
                ),
                {"t": isp, "sid": sid, "a": attribute, "o": op, "v": value},
            )
    update(db, isp, "subscribers", sid, pppoe_username="alice2")
    assert rows(admin, isp, "alice") == set()
    assert rows(admin, isp, "alice2") == PLAN_ROWS | {PASSWORD_ROW} | manual
    update(db, isp, "bandwidth_profiles", plan, priority=3)
    got = rows(admin, isp, "alice2")
    assert manual <= got and ("radreply", "Mikrotik-Rate-Limit", ":=", "10M/50M 20M/100M 8M/40M 16/16 3") in got
    # No username: nothing to authenticate, every row goes.
    update(db, isp, "subscribers", sid, pppoe_username=None)
    assert owned(admin, sid) == 0


def test_static_ip_set_and_cleared(db: Database, admin: psycopg.Connection[Any], isp: str) -> None:
    sid = subscriber(db, isp, profile(db, isp))
    update(db, isp, "subscribers", sid, static_ip_address="198.51.100.7")
    assert rows(admin, isp, "alice") == PLAN_ROWS | {
        PASSWORD_ROW,
        ("radreply", "Framed-IP-Address", ":=", "198.51.100.7"),
    }
    update(db, isp, "subscribers", sid, static_ip_address="2001:db8::7")
    assert rows(admin, isp, "alice") == PLAN_ROWS | {
        PASSWORD_ROW,
        ("radreply", "Framed-IPv6-Address", ":=", "2001:db8::7"),
    }
    update(db, isp, "subscribers", sid, static_ip_address=None)
    assert rows(admin, isp, "alice") == PLAN_ROWS | {PASSWORD_ROW}


def test_throttle_and_unthrottle(db: Database, admin: psycopg.Connection[Any], isp: str) -> None:
    plan = profile(db, isp)
    sid = subscriber(db, isp, plan)
    with db.tenant(isp) as s:
        s.execute(
            text("update subscribers set throttled_until = now() + interval '1 day' where id = cast(:id as uuid)"),
            {"id": sid},
        )
    assert rows(admin, isp, "alice") == THROTTLED_ROWS | {PASSWORD_ROW}
    update(db, isp, "subscribers", sid, throttled_until=None)
    assert rows(admin, isp, "alice") == PLAN_ROWS | {PASSWORD_ROW}
    # A throttle that has run out renders the plan; the usage job clears such throttles.
    with db.tenant(isp) as s:
        s.execute(
            text("update subscribers set throttled_until = now() - interval '1 minute' where id = cast(:id as uuid)"),
            {"id": sid},
        )
    assert rows(admin, isp, "alice") == PLAN_ROWS | {PASSWORD_ROW}
    with db.tenant(isp) as s:
        assert provisioning.release_expired_throttles(s, tenant_id=isp) == 1
    assert admin.execute("select throttled_until from subscribers where id = %s", (sid,)).fetchone() == (None,)
    # A plan without FUP rates has nothing to throttle to: the plan's rates stay.
    update(db, isp, "bandwidth_profiles", plan, fup_download_mbps=None, fup_upload_mbps=None)
    with db.tenant(isp) as s:
        s.execute(
            text("update subscribers set throttled_until = now() + interval '1 day' where id = cast(:id as uuid)"),
            {"id": sid},
        )
    assert rows(admin, isp, "alice") == PLAN_ROWS | {PASSWORD_ROW}


def test_subscriber_without_plan_gets_no_rates(db: Database, admin: psycopg.Connection[Any], isp: str) -> None:
    subscriber(db, isp, None)
    assert rows(admin, isp, "alice") == {
        PASSWORD_ROW,
        ("radcheck", "Simultaneous-Use", ":=", "1"),
        ("radreply", "Acct-Interim-Interval", ":=", "300"),
    }


def test_profile_edit_rerenders_its_subscribers_only_in_one_call(
    db: Database, admin: psycopg.Connection[Any], isp: str
) -> None:
    make_tenant(db, "isp-b")
    plan, other = profile(db, isp), profile(db, isp, name="Other")
    for i in range(30):
        subscriber(db, isp, plan, f"a{i:02d}", pw=None)
    subscriber(db, isp, other, "untouched", pw=None)
    subscriber(db, "isp-b", profile(db, "isp-b"), "a00", pw=None)  # same plan name, same username
    before_other = admin.execute("select id, value from radreply where username = 'untouched' order by id").fetchall()
    before_b = admin.execute("select id, value from radreply where tenant_id = 'isp-b' order by id").fetchall()

    with admin.transaction():
        admin.execute("set local track_functions = 'all'")
        admin.execute("select set_config('app.current_tenant_id', %s, true)", (isp,))
        admin.execute(
            "update bandwidth_profiles set download_mbps = 60, download_burst_mbps = 120 "
            "where tenant_id = %s and id = %s",
            (isp, plan),
        )
        calls = admin.execute(
            "select pg_stat_get_xact_function_calls('ispops_radius_render(text,uuid[],uuid[])'::regprocedure)"
        ).fetchone()
    assert calls == (1,)  # one set-based render for the 30 subscribers, not one per subscriber

    for i in range(30):
        got = rows(admin, isp, f"a{i:02d}")
        assert ("radreply", "Mikrotik-Rate-Limit", ":=", "10M/60M 20M/120M 6667k/40M 16/16 5") in got
        assert ("radreply", "WISPr-Bandwidth-Max-Down", ":=", "60000000") in got
        assert len(got) == len(PLAN_ROWS)
    assert (
        admin.execute("select id, value from radreply where username = 'untouched' order by id").fetchall()
        == before_other
    )
    assert admin.execute("select id, value from radreply where tenant_id = 'isp-b' order by id").fetchall() == before_b
    # An edit that changes nothing the NAS sees writes nothing.
    ids = admin.execute("select id from radreply where tenant_id = %s order by id", (isp,)).fetchall()
    update(db, isp, "bandwidth_profiles", plan, description="renamed in the catalogue")
    update(db, isp, "bandwidth_profiles", plan, priority=5)
    assert admin.execute("select id from radreply where tenant_id = %s order by id", (isp,)).fetchall() == ids


def test_triggers_are_statement_level(db: Database, admin: psycopg.Connection[Any]) -> None:
    # Transition tables: a bulk import or a plan edit renders in one pass (the tenants trigger is per row).
    found = dict(
        admin.execute(
            "select tgname, (tgtype & 1) = 1 from pg_trigger where tgname like '%radius%' and not tgisinternal"
        ).fetchall()
    )
    assert found == {
        "subscribers_radius_insert": False,
        "subscribers_radius_update": False,
        "subscribers_radius_delete": False,
        "bandwidth_profiles_radius_update": False,
        "tenants_radius_policy": True,
    }


def test_a_failure_leaves_nothing_half_written(db: Database, admin: psycopg.Connection[Any], isp: str) -> None:
    plan = profile(db, isp)
    first = subscriber(db, isp, plan, "alice")
    second = subscriber(db, isp, plan, "bob")
    # A manual row already holds the name "taken" for this attribute: renaming bob there must fail.
    with db.tenant(isp) as s:
        s.execute(
            text(
                "insert into radcheck (tenant_id, username, attribute, op, value) "
                "values (:t, 'taken', 'Cleartext-Password', ':=', 'x')"
            ),
            {"t": isp},
        )
    before = {u: rows(admin, isp, u) for u in ("alice", "bob", "alice2", "taken")}
    with pytest.raises(Conflict), db.tenant(isp) as s:
        s.execute(
            text(
                "update subscribers set pppoe_username = case id when cast(:a as uuid) then 'alice2' "
                "else 'taken' end where id in (cast(:a as uuid), cast(:b as uuid))"
            ),
            {"a": first, "b": second},
        )
    assert {u: rows(admin, isp, u) for u in before} == before
    # And a failure later in the transaction undoes a render that succeeded.
    with pytest.raises(RuntimeError), db.tenant(isp) as s:
        s.execute(text("update bandwidth_profiles set upload_mbps = 15 where id = cast(:p as uuid)"), {"p": plan})
        raise RuntimeError("boom")
    assert {u: rows(admin, isp, u) for u in before} == before


def test_tenant_policy_change_rerenders(db: Database, admin: psycopg.Connection[Any], isp: str) -> None:
    plan = profile(db, isp)
    subscriber(db, isp, plan, "alice")
    suspended = subscriber(db, isp, plan, "bob")
    update(db, isp, "subscribers", suspended, status="suspended")
    assert rows(admin, isp, "bob") == REJECT_ROWS | {PASSWORD_ROW}

    # The platform operator (no tenant set, no rights on tenant tables) changes the policy.
    with db.platform() as s:
        s.execute(
            text(
                "update tenants set radius_suspended_action = 'walled_garden', "
                "radius_walled_garden_download_kbps = 512, radius_walled_garden_upload_kbps = 128, "
                "radius_walled_garden_list = 'unpaid' where id = :t"
            ),
            {"t": isp},
        )
    assert rows(admin, isp, "bob") == WALLED_ROWS | {PASSWORD_ROW}
    assert rows(admin, isp, "alice") == PLAN_ROWS | {PASSWORD_ROW}

    # The tenant's admin (app role) changes the interim interval: everyone's rows follow.
    with db.tenant(isp) as s:
        s.execute(text("update tenants set radius_interim_interval = 600 where id = :t"), {"t": isp})
        assert s.execute(text("select current_setting('app.current_tenant_id')")).scalar_one() == isp
    for user in ("alice", "bob"):
        assert ("radreply", "Acct-Interim-Interval", ":=", "600") in rows(admin, isp, user)

    # The password type is not rendered: it applies at the next password set.
    with db.platform() as s:
        s.execute(text("update tenants set radius_password_type = 'nt_password' where id = :t"), {"t": isp})
    assert PASSWORD_ROW in rows(admin, isp, "alice")


def test_render_sets_and_restores_the_tenant_when_unset(db: Database, admin: psycopg.Connection[Any], isp: str) -> None:
    sid = subscriber(db, isp, profile(db, isp))
    with admin.transaction():
        admin.execute("update subscribers set status = 'suspended' where id = %s", (sid,))
        setting = admin.execute("select current_setting('app.current_tenant_id', true)").fetchone()
    assert setting in ((None,), ("",))
    assert rows(admin, isp, "alice") == REJECT_ROWS | {PASSWORD_ROW}


def test_bulk_insert_renders_every_subscriber(db: Database, admin: psycopg.Connection[Any], isp: str) -> None:
    plan = profile(db, isp)
    with db.tenant(isp) as s:
        s.execute(
            text(
                "insert into subscribers (tenant_id, subscriber_number, service_type, status, pppoe_username, "
                "bandwidth_profile_id) select :t, 'B-' || i, 'ftth', 'active', 'bulk' || i, cast(:p as uuid) "
                "from generate_series(1, 50) i"
            ),
            {"t": isp, "p": plan},
        )
    counts = admin.execute(
        "select count(*), count(distinct username) from radreply where tenant_id = %s", (isp,)
    ).fetchone()
    assert counts == (50 * (len(PLAN_ROWS) - 1), 50)


def test_managed_sets_match_the_database(db: Database, admin: psycopg.Connection[Any]) -> None:
    cases = (
        [("radcheck", a, "") for a in provisioning.MANAGED_CHECK]
        + [("radreply", a, "") for a in provisioning.MANAGED_REPLY]
        + [
            ("radcheck", "Cleartext-Password", "x"),
            ("radcheck", "Calling-Station-Id", "x"),
            ("radreply", "Reply-Message", "x"),
            ("radreply", "Cisco-AVPair", "ip:sub-qos-policy-in=x"),
            ("radreply", "Cisco-AVPair", "ip:sub-qos-policy-out=x"),
            ("radreply", "Cisco-AVPair", "ip:addr-pool=x"),
            ("radreply", "Mikrotik-Group", "x"),
            ("radcheck", "Mikrotik-Rate-Limit", "x"),
        ]
    )
    for table, attribute, value in cases:
        got = admin.execute("select ispops_radius_managed(%s, %s, %s)", (table, attribute, value)).fetchone()
        assert got == (provisioning.is_managed(table, attribute, value),), (table, attribute, value)


def test_rows_are_tenant_confined(db: Database, admin: psycopg.Connection[Any], isp: str) -> None:
    make_tenant(db, "isp-b")
    sid = subscriber(db, isp, profile(db, isp))
    # Tenant B cannot render, see or touch tenant A's subscriber through the functions.
    with db.tenant("isp-b") as s:
        assert (
            s.execute(
                text("select count(*) from ispops_radius_rows('isp-b', array[cast(:id as uuid)])"), {"id": sid}
            ).scalar_one()
            == 0
        )
        s.execute(text("update subscribers set status = 'terminated' where id = cast(:id as uuid)"), {"id": sid})
    # Calling the render for another tenant than the transaction's is refused.
    with pytest.raises(DBAPIError, match="acts for tenant isp-b, not isp-a"), db.tenant("isp-b") as s:
        s.execute(text("select ispops_radius_render('isp-a')"))
    assert rows(admin, isp, "alice") == PLAN_ROWS | {PASSWORD_ROW}
