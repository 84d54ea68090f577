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
from ispops.radius.clients import CLIENTS_FILE, RadiusClient, check_clients, clients_text, write_clients
from ispops.radius.config import RaddbOptions, radius_conninfo, render, render_with_clients
from tests.factories import make_tenant
from tests.radius.freeradius import FreeRadius, Nas, require_freeradius

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "deploy" / "freeradius" / "raddb"
# The options deploy/freeradius/raddb was rendered with (see deploy/freeradius/README.md).
SHIPPED_OPTIONS = RaddbOptions(
    conninfo="host=db.example.net port=5432 dbname=ispops user=ispops_radius password=CHANGE-ME connect_timeout=3",
    listen="*",
    threads=16,
    user="freerad",
    status_secret="CHANGE-ME-TOO",
)
# The example client list shipped with it (the real one is rendered from the database).
SHIPPED_CLIENTS = [
    RadiusClient(
        id=1, nasname="192.0.2.10", shortname="example-isp/yes/bras1", type="mikrotik", secret="CHANGE-ME-NAS-SECRET"
    )
]


def test_freeradius_accepts_the_rendered_configuration(radius_server: Server, tmp_path: Path) -> None:
    binary = require_freeradius()
    out = render(
        tmp_path / "raddb",
        RaddbOptions(
            conninfo=radius_conninfo(radius_server),
            listen="127.0.0.1",
            auth_port=21812,
            acct_port=21813,
            coa_port=23799,
            threads=8,
        ),
    )
    check = subprocess.run([binary, "-XC", "-d", str(out)], capture_output=True, text=True, check=False)
    assert check.returncode == 0, check.stdout[-3000:] + check.stderr
    assert "Configuration appears to be OK" in check.stdout
    sql = (out / "mods-enabled" / "sql").read_text()
    assert "max = 10" in sql  # the pool follows the thread count (+2 for the spool reader)
    assert (out / "mods-enabled" / "sql").stat().st_mode & 0o077 == 0  # holds the DB password
    for secret_file in ("clients.conf", "status-secret", "sites-enabled/ispops-status"):
        assert (out / secret_file).stat().st_mode & 0o077 == 0, secret_file
    # FreeRADIUS 3.2.1 corrects (and warns about) no value of ours at start.
    assert 'Ignoring "' not in check.stdout and "WARNING" not in check.stdout.upper(), check.stdout[-3000:]


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
    out = render(tmp_path / "raddb", SHIPPED_OPTIONS, SHIPPED_CLIENTS)
    rendered = {p.relative_to(out) for p in out.rglob("*") if p.is_file()}
    shipped = {p.relative_to(SHIPPED) for p in SHIPPED.rglob("*") if p.is_file()}
    assert rendered == shipped
    for rel in rendered:
        expected = (out / rel).read_text().replace(str(out), "/etc/ispops/freeradius")
        assert (SHIPPED / rel).read_text() == expected, rel
    assert not filecmp.dircmp(out, SHIPPED).funny_files


def test_the_sql_reply_filter_matches_the_python_one(radius_db: Database) -> None:
    make_tenant(radius_db, "mirror")
    attributes = [
        "Mikrotik-Rate-Limit",
        "Cisco-AVPair",
        "ERX-Qos-Profile-Name",
        "WISPr-Bandwidth-Max-Up",
        "Framed-IP-Address",
        "Session-Timeout",
        "Mikrotik-Address-List",
        "Acct-Interim-Interval",
    ]
    attributes += [a.name for v in vendors.VENDORS for a in v.attributes if a.name not in attributes]
    with radius_db.tenant("mirror") as s:
        for attribute in attributes:
            s.execute(
                text(
                    "insert into radreply (tenant_id, username, attribute, op, value) "
                    "values ('mirror', 'u', :a, ':=', '1')"
                ),
                {"a": attribute},
            )
    with psycopg.connect(libpq_dsn(radius_db.server.url_for(RADIUS_ROLE)), autocommit=True) as conn:
        for nas_type in [*vendors.VENDOR_PREFIXES, "unknown-vendor"]:
            sql_side = [
                r[0] for r in conn.execute("select attribute from ispops_radius_reply('mirror', 'u', %s)", (nas_type,))
            ]
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


def test_status_server_is_on_by_default_and_can_be_turned_off(tmp_path: Path) -> None:
    on = render(tmp_path / "on", RaddbOptions(conninfo="dbname=x"))
    site = (on / "sites-enabled" / "ispops-status").read_text()
    assert "type = status" in site and "ipaddr = 127.0.0.1" in site and "port = 18121" in site
    secret = (on / "status-secret").read_text().strip()
    assert len(secret) >= 24 and f"secret = '{secret}'" in site
    again = render(tmp_path / "on", RaddbOptions(conninfo="dbname=x"))  # a new render keeps the secret
    assert (again / "status-secret").read_text().strip() == secret
    off = render(tmp_path / "off", RaddbOptions(conninfo="dbname=x", status_port=None))
    assert "type = status" not in (off / "sites-enabled" / "ispops-status").read_text()
    assert not (off / "status-secret").exists()


@pytest.mark.parametrize(
    ("options", "field"),
    [
        (RaddbOptions(conninfo="dbname=x", db_down="ignore"), "db_down"),
        (RaddbOptions(conninfo="dbname=x", status_port=1812), "acct_port"),
        (RaddbOptions(conninfo="dbname=x", status_secret="short"), "status_secret"),
    ],
)
def test_bad_new_options_name_the_field(options: RaddbOptions, field: str, tmp_path: Path) -> None:
    with pytest.raises(ValidationFailed) as err:
        render(tmp_path, options)
    assert err.value.field == field


def test_db_down_renders_drop_or_reject(tmp_path: Path) -> None:
    drop = (render(tmp_path / "d", RaddbOptions(conninfo="dbname=x")) / "policy.d" / "ispops").read_text()
    reject = render(tmp_path / "r", RaddbOptions(conninfo="dbname=x", db_down="reject")) / "policy.d" / "ispops"
    body = drop[drop.index("ispops_db_down {") :].split("}\n", 2)
    assert "ispops_drop" in body[1] and "reject" in reject.read_text().split("ispops_db_down {")[1].split("}\n", 2)[1]


def client(n: int, nasname: str, secret: str = "a-secret-1") -> RadiusClient:
    return RadiusClient(id=n, nasname=nasname, shortname=f"t{n}/no/bras", type="other", secret=secret)


@pytest.mark.parametrize(
    "names",
    [
        ["127.0.0.2", "127.0.0.2"],
        ["127.0.0.0/24", "127.0.0.2"],
        ["10.0.0.0/8", "10.1.0.0/16"],
        ["0.0.0.0/0", "192.0.2.1"],
        ["10.0.0.0/8", "10.0.0.9", "10.200.0.1"],
        ["::ffff:127.0.0.2", "127.0.0.2"],
        ["2001:db8::1", "2001:db8::/64"],
    ],
)
def test_a_client_list_in_which_two_entries_match_one_source_is_refused(names: list[str], tmp_path: Path) -> None:
    clients = [client(n, name) for n, name in enumerate(names)]
    (tmp_path / CLIENTS_FILE).write_text("the last good list\n")
    with pytest.raises(ValidationFailed) as err:
        write_clients(tmp_path, clients)
    assert err.value.field == "nasname" and "match the same source address" in err.value.message
    assert (tmp_path / CLIENTS_FILE).read_text() == "the last good list\n"  # kept


@pytest.mark.parametrize(
    ("nasname", "secret", "why"),
    [
        ("localhost", "a-secret-1", "not an IP address"),
        ("127.000.000.002", "a-secret-1", "not an IP address"),
        ("127.0.0.2 ", "a-secret-1", "not an IP address"),
        ("127.0.0.1/8", "a-secret-1", "not an IP address"),
        ("127.0.0.2", "new\nline-secret", "its secret"),
        ("127.0.0.2", "ends-in-backslash\\", "its secret"),
        ("127.0.0.2", "back\\'quote", "its secret"),
    ],
)
def test_a_client_that_cannot_be_written_is_left_out_and_reported(nasname: str, secret: str, why: str) -> None:
    text_out, skipped = clients_text([client(1, nasname, secret=secret), client(2, "192.0.2.7", "other-secret")])
    assert len(skipped) == 1 and skipped[0].startswith("NAS 1 (t1): ") and why in skipped[0]
    assert "client nas_1 " not in text_out and "client nas_2 {" in text_out  # the others are served
    assert secret not in text_out


def test_a_client_list_without_overlaps_is_written(tmp_path: Path) -> None:
    clients = [
        client(1, "127.0.0.2"),
        client(2, "127.0.0.3"),
        client(3, "10.0.0.0/24"),
        client(4, "10.0.1.1"),
        client(5, "2001:db8::1"),
    ]
    check_clients(clients)
    text_out, skipped = clients_text(clients)
    assert skipped == [] and "# 5 client(s)." in text_out
    assert "ipaddr = 127.0.0.2\n" in text_out and "ipaddr = 10.0.0.0/24\n" in text_out
    assert "ipaddr = 2001:db8::1\n" in text_out and "server" not in text_out.split("# 5 client(s).")[1]


AWKWARD_SECRET = "q'u\"o\\te ${confdir} %{User-Name} #z"


def test_the_client_file_carries_any_secret_to_freeradius(
    radius_db: Database, radius_server: Server, tmp_path: Path
) -> None:
    """Rendered from the database and read by a real FreeRADIUS: quotes, backslashes, ${...}, %{...} and #
    in a secret arrive unchanged (the NAS signing with it is answered)."""
    make_tenant(radius_db, "quoting")
    with radius_db.tenant("quoting") as s:
        s.execute(
            text(
                "insert into nas (tenant_id, nasname, shortname, type, secret, require_ma) "
                "values ('quoting', '127.0.0.90', 'bras-q', 'mikrotik', :s, 'no')"
            ),
            {"s": AWKWARD_SECRET},
        )
        s.execute(
            text(
                "insert into radcheck (tenant_id, username, attribute, op, value) "
                "values ('quoting', 'alice', 'Cleartext-Password', ':=', 'alice-pw')"
            )
        )
    radius = FreeRadius(raddb=tmp_path / "raddb", conninfo=radius_conninfo(radius_server))
    radius.start()
    try:
        assert radius.clients is not None and radius.clients.fresh
        reply = Nas(radius, "127.0.0.90", AWKWARD_SECRET).pap("alice", "alice-pw")
        assert reply is not None and reply.code == 2, radius.log_text()[-3000:]
    finally:
        radius.stop()


def test_render_with_clients_reads_the_radius_roles_list(
    radius_db: Database, radius_server: Server, tmp_path: Path
) -> None:
    make_tenant(radius_db, "listed")
    with radius_db.tenant("listed") as s:
        s.execute(
            text(
                "insert into nas (tenant_id, nasname, shortname, type, secret, require_ma) "
                "values ('listed', '127.0.0.91', 'bras9', 'cisco', 'listed-secret', 'yes')"
            )
        )
    refreshed = render_with_clients(tmp_path / "raddb", RaddbOptions(conninfo=radius_conninfo(radius_server)))
    assert refreshed.fresh and refreshed.count is not None and refreshed.count >= 1
    written = (tmp_path / "raddb" / CLIENTS_FILE).read_text()
    assert "ipaddr = 127.0.0.91" in written and "shortname = 'listed/yes/bras9'" in written
    assert "nas_type = 'cisco'" in written and "secret = 'listed-secret'" in written
