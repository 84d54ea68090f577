"""The rendered FreeRADIUS configuration: accepted by freeradius -XC, shipped copy in step, CLI."""

from __future__ import annotations

import filecmp
import subprocess
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import text

from ispops.config import RADIUS_ROLE
from ispops.db.server import Server, libpq_dsn
from ispops.db.session import Database
from ispops.errors import ValidationFailed
from ispops.radius import vendors
from ispops.radius.config import RaddbOptions, radius_conninfo, render
from tests.factories import make_tenant
from tests.radius.freeradius import require_freeradius

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "deploy" / "freeradius" / "raddb"
# The options deploy/freeradius/raddb was rendered with (see deploy/freeradius/README.md).
SHIPPED_OPTIONS = RaddbOptions(
    conninfo="host=db.example.net port=5432 dbname=ispops user=ispops_radius password=CHANGE-ME connect_timeout=3",
    listen="*", threads=16, user="freerad",
)


def test_freeradius_accepts_the_rendered_configuration(radius_server: Server, tmp_path: Path) -> None:
    binary = require_freeradius()
    out = render(tmp_path / "raddb", RaddbOptions(conninfo=radius_conninfo(radius_server), listen="127.0.0.1",
                                                   auth_port=21812, acct_port=21813, coa_port=23799, threads=8))
    check = subprocess.run([binary, "-XC", "-d", str(out)], capture_output=True, text=True, check=False)
    assert check.returncode == 0, check.stdout[-3000:] + check.stderr
    assert "Configuration appears to be OK" in check.stdout
    sql = (out / "mods-enabled" / "sql").read_text()
    assert "max = 10" in sql  # the pool follows the thread count (+2 for the spool reader)
    assert (out / "mods-enabled" / "sql").stat().st_mode & 0o077 == 0  # holds the DB password


def test_coa_listener_is_off_unless_asked_for(tmp_path: Path) -> None:
    off = render(tmp_path / "off", RaddbOptions(conninfo="dbname=x"))
    on = render(tmp_path / "on", RaddbOptions(conninfo="dbname=x", coa_port=3799))
    assert "type = coa" not in (off / "sites-enabled" / "ispops-coa").read_text()
    assert "type = coa" in (on / "sites-enabled" / "ispops-coa").read_text()


@pytest.mark.parametrize(
    ("options", "field"),
    [
        (RaddbOptions(conninfo="dbname=x", auth_port=1812, acct_port=1812), "acct_port"),
        (RaddbOptions(conninfo="dbname=x", auth_port=0), "auth_port"),
        (RaddbOptions(conninfo="dbname=x", threads=0), "threads"),
        (RaddbOptions(conninfo='dbname="x"'), "conninfo"),
    ],
)
def test_bad_options_name_the_field(options: RaddbOptions, field: str, tmp_path: Path) -> None:
    with pytest.raises(ValidationFailed) as err:
        render(tmp_path, options)
    assert err.value.field == field


def test_shipped_configuration_is_what_the_renderer_makes(tmp_path: Path) -> None:
    out = render(tmp_path / "raddb", SHIPPED_OPTIONS)
    rendered = {p.relative_to(out) for p in out.rglob("*") if p.is_file()}
    shipped = {p.relative_to(SHIPPED) for p in SHIPPED.rglob("*") if p.is_file()}
    assert rendered == shipped
    for rel in rendered:
        expected = (out / rel).read_text().replace(str(out), "/etc/ispops/freeradius")
        assert (SHIPPED / rel).read_text() == expected, rel
    assert not filecmp.dircmp(out, SHIPPED).funny_files


def test_the_sql_reply_filter_matches_the_python_one(radius_db: Database) -> None:
    make_tenant(radius_db, "mirror")
    attributes = ["Mikrotik-Rate-Limit", "Cisco-AVPair", "ERX-Qos-Profile-Name", "WISPr-Bandwidth-Max-Up",
                  "Framed-IP-Address", "Session-Timeout", "Mikrotik-Address-List", "Acct-Interim-Interval"]
    with radius_db.tenant("mirror") as s:
        for attribute in attributes:
            s.execute(text("insert into radreply (tenant_id, username, attribute, op, value) "
                           "values ('mirror', 'u', :a, ':=', '1')"), {"a": attribute})
    with psycopg.connect(libpq_dsn(radius_db.server.url_for(RADIUS_ROLE)), autocommit=True) as conn:
        for nas_type in [*vendors.VENDOR_PREFIXES, "unknown-vendor"]:
            sql_side = [r[0] for r in conn.execute("select attribute from ispops_radius_reply('mirror', 'u', %s)",
                                                   (nas_type,))]
            python_side = [a for a, _ in vendors.for_nas([(a, "1") for a in attributes], nas_type)]
            assert sql_side == python_side, nas_type


def test_interim_tries_the_lean_update_then_the_full_call(radius_db: Database, tmp_path: Path) -> None:
    """rlm_sql runs the next query of a set when one returns no row: the lean update first (0019)."""
    sql = (render(tmp_path / "raddb", RaddbOptions(conninfo="dbname=x")) / "mods-enabled" / "sql").read_text()
    section = sql[sql.index("interim-update {") : sql.index("stop {")]
    queries = [line.strip() for line in section.splitlines() if line.strip().startswith("query = ")]
    assert queries == [
        'query = "SELECT 1 WHERE ispops_radius_interim(${....interim_args})"',
        "query = \"SELECT ispops_radius_acct('interim', ${....acct_args})\"",
    ]
    args = sql[sql.index('interim_args = "') + len('interim_args = "') :].split('"\n', 1)[0]
    with radius_db.owner() as conn:
        wanted = conn.execute(text("select pronargs from pg_proc where proname = 'ispops_radius_interim'")).scalar_one()
    assert len(args.split(", ")) == wanted
