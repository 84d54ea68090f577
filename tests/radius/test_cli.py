"""``ispops radius …`` against this module's database and a real FreeRADIUS."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from ispops.cli import app
from ispops.config import get_settings
from ispops.db.server import Server
from ispops.db.session import Database
from ispops.radius import config as radius_config
from tests.cli.test_cli import base_server_data_dir
from tests.factories import make_tenant
from tests.radius.freeradius import FreeRadius

SECRET = "cli-secret-1"


@pytest.fixture(scope="module")
def env(radius_server: Server, base_server: Server) -> Iterator[None]:
    with pytest.MonkeyPatch.context() as mp:
        if radius_server.embedded:
            mp.setenv("ISPOPS_DATA_DIR", base_server_data_dir(base_server))
            mp.setenv("ISPOPS_DATABASE_NAME", radius_server.database)
        else:
            mp.setenv("ISPOPS_DATABASE_URL", radius_server.admin_url.render_as_string(hide_password=False))
        mp.setenv("COLUMNS", "200")
        get_settings.cache_clear()
        yield
    get_settings.cache_clear()


@pytest.fixture(scope="module")
def running(env: None, radius_db: Database, radiusd: FreeRadius) -> FreeRadius:
    make_tenant(radius_db, "clico")
    with radius_db.tenant("clico") as s:
        s.execute(
            text(
                "insert into nas (tenant_id, nasname, shortname, type, secret, require_ma) "
                "values ('clico', '127.0.0.7', 'lab', 'mikrotik', :s, 'no')"
            ),
            {"s": SECRET},
        )
        s.execute(
            text(
                "insert into radcheck (tenant_id, username, attribute, op, value) "
                "values ('clico', 'zoe', 'Cleartext-Password', ':=', 'zoe-pw')"
            )
        )
        s.execute(
            text(
                "insert into radreply (tenant_id, username, attribute, op, value) "
                "values ('clico', 'zoe', 'Mikrotik-Rate-Limit', ':=', '5M/25M')"
            )
        )
        s.execute(
            text(
                "insert into radacct (tenant_id, acctsessionid, acctuniqueid, username, nasipaddress, "
                "framedipaddress, acctstarttime, acctinputoctets, acctoutputoctets) values "
                "('clico', 'z1', 'z1', 'zoe', '127.0.0.7', '100.64.1.9', :t, 2048, 3145728)"
            ),
            {"t": dt.datetime.now(dt.UTC) - dt.timedelta(minutes=90)},
        )
    radiusd.start()
    return radiusd


def invoke(*args: str) -> Any:
    return CliRunner().invoke(app, list(args), catch_exceptions=False)


def test_radius_test_sends_a_real_request(running: FreeRadius) -> None:
    ok = invoke(
        "radius", "test", "zoe", "zoe-pw", "--nas", "lab", "--tenant", "clico", "--port", str(running.auth_port)
    )
    assert ok.exit_code == 0, ok.output
    assert "Access-Accept" in ok.output and "5M/25M" in ok.output
    bad = invoke(
        "radius", "test", "zoe", "nope", "--nas", "127.0.0.7", "--tenant", "clico", "--port", str(running.auth_port)
    )
    assert bad.exit_code == 1 and "Access-Reject" in bad.output
    unknown = invoke("radius", "test", "zoe", "zoe-pw", "--nas", "nope", "--tenant", "clico")
    assert unknown.exit_code == 1 and "No NAS 'nope'" in unknown.output


def test_radius_sessions_lists_open_sessions(running: FreeRadius) -> None:
    out = invoke("radius", "sessions", "--tenant", "clico")
    assert out.exit_code == 0, out.output
    text_out = out.output
    assert "zoe" in text_out and "100.64.1.9" in text_out and "1h30m" in text_out and "3.0 MB" in text_out
    assert "1 active session(s)" in text_out
    other = invoke("radius", "sessions", "--tenant", "someone-else")
    assert "0 active session(s)" in other.output


def test_radius_config_writes_a_raddb(env: None, tmp_path: Path) -> None:
    out = invoke("radius", "config", "--out", str(tmp_path / "r"), "--threads", "4")
    assert out.exit_code == 0, out.output
    assert "user=ispops_radius" in (tmp_path / "r" / "mods-enabled" / "sql").read_text()
    bad = invoke("radius", "config", "--out", str(tmp_path / "x"), "--auth-port", "1813")
    assert bad.exit_code == 1 and "acct_port" in bad.output
    limited = invoke(
        "radius", "config", "--out", str(tmp_path / "d"), "--dynamic-clients", "10.9.0.0/16", "--client-lifetime", "120"
    )
    assert limited.exit_code == 0, limited.output
    site = (tmp_path / "d" / "sites-enabled" / "ispops-clients").read_text()
    assert "ipaddr = 10.9.0.0/16" in site and "lifetime = 120" in site
    off = invoke("radius", "config", "--out", str(tmp_path / "o"), "--dynamic-clients", "off")
    assert off.exit_code == 0, off.output
    assert "dynamic_clients =" not in (tmp_path / "o" / "sites-enabled" / "ispops-clients").read_text()
    wrong = invoke("radius", "config", "--out", str(tmp_path / "w"), "--dynamic-clients", "10.9.0.1/32")
    assert wrong.exit_code == 1 and "dynamic_clients" in wrong.output


def test_radius_run_says_how_to_install_freeradius(env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("ispops.cli.radius.freeradius_binary", lambda: None)
    out = invoke("radius", "run")
    assert out.exit_code == 1
    assert radius_config.INSTALL_HINT in out.output
