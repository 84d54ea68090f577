"""The post-auth log spooled by FreeRADIUS (--postauth spool) and shipped in batches by the replayer:
every Access-Request's outcome lands in radpostauth once, under its tenant, never with a password, also
when the replayer dies before or after a commit."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from pyrad import packet
from sqlalchemy import text
from typer.testing import CliRunner

from ispops.cli import app
from ispops.config import APP_ROLE, OWNER_ROLE, get_settings
from ispops.db.server import Server, libpq_dsn
from ispops.db.session import Database
from ispops.radius import postauth_replay
from ispops.radius.config import POSTAUTH_SPOOL, RaddbOptions, conninfo_for
from ispops.radius.postauth_replay import BadLine, Replayer, ReplayerRunning, State, parse
from tests.cli.test_cli import base_server_data_dir
from tests.factories import make_tenant
from tests.radius.freeradius import FreeRadius, Nas

SECRET = "spool-secret-1"
# User names no line format can take apart: spaces, quotes, a backslash, an equals sign, non-ASCII; and
# (a name no subscriber can have, but a NAS can send) a tab and a newline.
ODD = 'o\'brien "x" and\\more=1 \u00fc'
STRANGER = "nobody\tat all\n1 acme 0.0 Access-Accept"
USERS = {"alice": "alice-pw", ODD: "odd-pw"}
NASES = {"acme": "127.0.0.2", "beta": "127.0.0.3"}


class Spooled(FreeRadius):
    @property
    def options(self) -> RaddbOptions:
        return dataclasses.replace(super().options, postauth="spool")


@pytest.fixture(scope="module")
def spooled(radius_db: Database, radius_server: Server, radiusd: FreeRadius) -> Iterator[Spooled]:
    for tenant, address in NASES.items():
        make_tenant(radius_db, tenant)
        with radius_db.tenant(tenant) as s:
            s.execute(
                text(
                    "insert into nas (tenant_id, nasname, shortname, type, secret, require_ma) "
                    "values (:t, :a, 'bras1', 'mikrotik', :s, 'no')"
                ),
                {"t": tenant, "a": address, "s": SECRET},
            )
            for user, password in USERS.items():
                s.execute(
                    text(
                        "insert into radcheck (tenant_id, username, attribute, op, value) "
                        "values (:t, :u, 'Cleartext-Password', ':=', :p)"
                    ),
                    {"t": tenant, "u": user, "p": password},
                )
            s.execute(
                text(
                    "insert into radreply (tenant_id, username, attribute, op, value) "
                    "values (:t, 'alice', 'Class', ':=', 'gold plan')"
                ),
                {"t": tenant},
            )
    radius = Spooled(raddb=radiusd.raddb, conninfo=radiusd.conninfo)
    radius.start()
    yield radius
    radius.stop()


def spool_dir(radius: FreeRadius) -> Path:
    return radius.raddb / POSTAUTH_SPOOL


def app_conninfo(server: Server) -> str:
    return conninfo_for(server.url_for(APP_ROLE))


def logged(radius_server: Server, tenant: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(libpq_dsn(radius_server.admin_url), autocommit=True) as conn:
        conn.execute(f"set role {OWNER_ROLE}")
        conn.execute("select set_config('app.current_tenant_id', %s, false)", (tenant,))
        return conn.execute(
            "select username, reply, host(nasipaddress), calledstationid, callingstationid, class "
            "from radpostauth order by id"
        ).fetchall()


def clear_log(radius_server: Server) -> None:
    with psycopg.connect(libpq_dsn(radius_server.admin_url), autocommit=True) as conn:
        conn.execute("delete from radpostauth")


def spool_text(radius: FreeRadius) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(spool_dir(radius).glob("postauth-*.log")))


def test_every_outcome_lands_once_under_its_tenant_without_a_password(spooled: Spooled, radius_server: Server) -> None:
    clear_log(radius_server)
    acme, beta = Nas(spooled, NASES["acme"], SECRET), Nas(spooled, NASES["beta"], SECRET)
    ok = acme.pap("alice", "alice-pw")
    assert ok is not None and ok.code == packet.AccessAccept, spooled.log_text()[-2000:]
    bad = acme.pap("alice", "wrong-secret-pw")
    assert bad is not None and bad.code == packet.AccessReject
    odd = beta._auth(ODD, Called_Station_Id="aa bb\ncc", Calling_Station_Id='x"y')  # no password: a reject
    assert odd is not None and odd.code == packet.AccessReject
    assert (beta.pap(ODD, "odd-pw") or packet.Packet()).code == packet.AccessAccept
    unknown = beta.pap(STRANGER, "nobody-pw")
    assert unknown is not None and unknown.code == packet.AccessReject
    # Nothing is in the database before the replayer ships it: the answer did not wait for it.
    assert logged(radius_server, "acme") == [] and logged(radius_server, "beta") == []
    raw = spool_text(spooled)
    assert raw.count(b"\n") == 5
    for password in (b"alice-pw", b"wrong-secret-pw", b"odd-pw", b"nobody-pw"):
        assert password not in raw and password.hex().encode() not in raw

    replayer = Replayer(spool_dir(spooled), app_conninfo(radius_server))
    assert replayer.run_once() == 5
    assert replayer.run_once() == 0  # nothing twice
    replayer.release()
    assert logged(radius_server, "acme") == [
        ("alice", "Access-Accept", NASES["acme"], None, None, "0x" + b"gold plan".hex()),
        ("alice", "Access-Reject", NASES["acme"], None, None, None),  # a reject carries no reply attribute
    ]
    assert logged(radius_server, "beta") == [
        (ODD, "Access-Reject", NASES["beta"], "aa bb\ncc", 'x"y', None),
        (ODD, "Access-Accept", NASES["beta"], None, None, None),
        (STRANGER, "Access-Reject", NASES["beta"], None, None, None),
    ]
    with psycopg.connect(libpq_dsn(radius_server.admin_url), autocommit=True) as conn:
        table = conn.execute("select coalesce(string_agg(t::text, ''), '') from radpostauth t").fetchone()
    assert table is not None
    assert not any(p in table[0] for p in ("alice-pw", "wrong-secret-pw", "odd-pw", "nobody-pw"))


class Crash(Exception):
    pass


def test_a_replayer_dying_after_its_commit_ships_nothing_twice(
    spooled: Spooled, radius_server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    clear_log(radius_server)
    nas = Nas(spooled, NASES["acme"], SECRET)
    for _ in range(7):
        assert (nas.pap("alice", "alice-pw") or packet.Packet()).code == packet.AccessAccept
    first = Replayer(spool_dir(spooled), app_conninfo(radius_server), batch=3)
    saves = {"n": 0}
    real_save = State.save

    def save_then_die_after_the_commit(state: State) -> None:
        saves["n"] += 1
        if saves["n"] == 4:  # batch 1: pending, done; batch 2: pending, then this one, after its commit
            raise Crash
        real_save(state)

    monkeypatch.setattr(State, "save", save_then_die_after_the_commit)
    with pytest.raises(Crash):
        first.run_once()
    first.release()
    monkeypatch.setattr(State, "save", real_save)
    assert len(logged(radius_server, "acme")) == 6  # two batches of 3 committed, the second one not recorded
    assert State(spool_dir(spooled)).pending is not None
    second = Replayer(spool_dir(spooled), app_conninfo(radius_server), batch=3)
    assert second.run_once() == 1  # the pending batch is recognised as committed, the 7th line shipped
    second.release()
    assert len(logged(radius_server, "acme")) == 7


def test_a_replayer_dying_before_its_commit_ships_the_batch_again(
    spooled: Spooled, radius_server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    clear_log(radius_server)
    nas = Nas(spooled, NASES["beta"], SECRET)
    for _ in range(4):
        assert (nas.pap("alice", "alice-pw") or packet.Packet()).code == packet.AccessAccept
    first = Replayer(spool_dir(spooled), app_conninfo(radius_server), batch=10)

    def die(*args: object) -> list[tuple[bytes, str]]:
        raise Crash

    monkeypatch.setattr(Replayer, "_insert", die)
    with pytest.raises(Crash):
        first.run_once()
    first.release()  # the connection goes: PostgreSQL rolls the transaction back
    monkeypatch.undo()
    assert logged(radius_server, "beta") == []
    assert State(spool_dir(spooled)).pending is not None
    second = Replayer(spool_dir(spooled), app_conninfo(radius_server), batch=10)
    assert second.run_once() == 4
    second.release()
    assert len(logged(radius_server, "beta")) == 4


def test_a_refused_line_is_set_aside_and_the_rest_shipped(spooled: Spooled, radius_server: Server) -> None:
    clear_log(radius_server)
    directory = spool_dir(spooled)
    earlier = Replayer(directory, app_conninfo(radius_server))
    earlier.run_once()  # whatever earlier tests left
    earlier.release()
    stamp = 1_796_000_000
    lines = [
        f"1 acme {stamp}.000001 Access-Accept 127.0.0.2 {b'carol'.hex()}   ",
        f"1 no-such-tenant {stamp}.000002 Access-Accept 127.0.0.9 {b'mallory'.hex()}   ",  # the FK refuses it
        "not a post-auth line",
        f"1 acme {stamp}.000003 Access-Reject 127.0.0.2 {b'dave'.hex()}   ",
    ]
    path = directory / f"postauth-{stamp // 3600 - 1000}.log"  # an old hour: finished once shipped
    path.write_text("".join(line + "\n" for line in lines) + "1 acme half a li")
    replayer = Replayer(directory, app_conninfo(radius_server), finished_after=0)
    assert replayer.run_once() == 2
    replayer.release()
    assert [r[:2] for r in logged(radius_server, "acme")] == [("carol", "Access-Accept"), ("dave", "Access-Reject")]
    with psycopg.connect(libpq_dsn(radius_server.admin_url), autocommit=True) as conn:
        stamps = conn.execute("select authdate from radpostauth order by id").fetchall()
    # The request's time to the microsecond, decoded by PostgreSQL as parse() decodes it.
    assert [r[0] for r in stamps] == [parse(lines[0].encode()).authdate, parse(lines[3].encode()).authdate]
    assert not path.exists()  # every line accounted for, the file is gone
    rejected = (directory / postauth_replay.REJECTED_FILE).read_text()
    assert b"mallory".hex() in rejected and "not a post-auth line" in rejected and "half a li" in rejected
    assert replayer.rejected == 3


@pytest.fixture
def cli_env(radius_server: Server, base_server: Server) -> Iterator[None]:
    """``ispops …`` commands against this module's database (as tests/radius/test_cli.py does)."""
    with pytest.MonkeyPatch.context() as mp:
        if radius_server.embedded:
            mp.setenv("ISPOPS_DATA_DIR", base_server_data_dir(base_server))
            mp.setenv("ISPOPS_DATABASE_NAME", radius_server.database)
        else:
            mp.setenv("ISPOPS_DATABASE_URL", radius_server.admin_url.render_as_string(hide_password=False))
        get_settings.cache_clear()
        yield
    get_settings.cache_clear()


def test_the_cli_ships_a_spool_once(spooled: Spooled, radius_server: Server, cli_env: None, tmp_path: Path) -> None:
    clear_log(radius_server)
    stamp = 1_796_000_000
    (tmp_path / f"postauth-{stamp // 3600}.log").write_text(
        f"1 beta {stamp}.5 Access-Accept 127.0.0.3 {b'erin'.hex()} {b'ssid'.hex()}  \n"
    )
    result = CliRunner().invoke(app, ["radius", "postauth-replay", "--spool", str(tmp_path), "--once"])
    assert result.exit_code == 0, result.output
    assert "1 post-auth line(s) shipped" in result.output
    assert logged(radius_server, "beta") == [("erin", "Access-Accept", "127.0.0.3", "ssid", None, None)]
    assert logged(radius_server, "acme") == []


def test_one_replayer_per_spool(spooled: Spooled, radius_server: Server) -> None:
    first = Replayer(spool_dir(spooled), app_conninfo(radius_server))
    with pytest.raises(ReplayerRunning):
        Replayer(spool_dir(spooled), app_conninfo(radius_server))
    first.release()
    Replayer(spool_dir(spooled), app_conninfo(radius_server)).release()


@pytest.mark.parametrize(
    "line",
    [
        b"",
        b"2 acme 1.0 Access-Accept 127.0.0.1 61   ",  # an unknown version
        b"1 acme 1.0 Access-Accept 127.0.0.1 6   ",  # odd hex
        b"1 acme x.0 Access-Accept 127.0.0.1 61   ",
        b"1  1.0 Access-Accept 127.0.0.1 61   ",  # no tenant
        b"1 acme 1.0 Access-Accept 127.0.0.1 61  ",  # a field missing
        "1 acme 1.0 Access-Accept 127.0.0.1 \u00fc   ".encode(),
    ],
)
def test_parse_refuses_what_freeradius_cannot_have_written(line: bytes) -> None:
    with pytest.raises(BadLine):
        parse(line)


def test_parse_reads_microseconds_and_hex() -> None:
    got = parse(b"1 acme 1796686910.000042 Access-Accept 10.0.0.1 6100ff62 6162 2020 0102")
    assert (got.username, got.called, got.calling, got.klass) == ("a\ufffd\ufffdb", "ab", "  ", "0x0102")
    assert got.authdate.timestamp() == 1796686910.000042
