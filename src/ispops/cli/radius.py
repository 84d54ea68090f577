"""``ispops radius …``: render and run FreeRADIUS for this database, look at sessions, test a login."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from sqlalchemy import text

from ispops.cli.common import console, fail, friendly_errors, open_database, open_server_ctx
from ispops.config import get_settings
from ispops.radius.config import INSTALL_HINT, RaddbOptions, freeradius_binary, radius_conninfo, render

app = typer.Typer(help="RADIUS: FreeRADIUS configuration and process, sessions, credential tests.",
                  no_args_is_help=True)

ListenOpt = Annotated[str, typer.Option(help="Address FreeRADIUS listens on ('*' for all).")]
AuthPortOpt = Annotated[int, typer.Option(help="Authentication port.")]
AcctPortOpt = Annotated[int, typer.Option(help="Accounting port.")]
CoaPortOpt = Annotated[int | None, typer.Option(help="Turn on the CoA listener on this port (off by default).")]
ThreadsOpt = Annotated[int, typer.Option(help="FreeRADIUS worker threads; the SQL pool is sized to match.")]
UserOpt = Annotated[str | None, typer.Option(help="Drop privileges to this user after start (e.g. freerad).")]
DynamicOpt = Annotated[
    str, typer.Option(help="IPv4 network (your NAS management range) whose unknown sources are looked up as "
                      "NASes added after start; 'off' (the default) reads the NASes at start only.")
]
LifetimeOpt = Annotated[int, typer.Option(help="Seconds a NAS found that way stays a client before a new lookup.")]


def _options(server_conninfo: str, listen: str, auth_port: int, acct_port: int, coa_port: int | None,
             threads: int, user: str | None, dynamic_clients: str, client_lifetime: int) -> RaddbOptions:
    return RaddbOptions(conninfo=server_conninfo, listen=listen, auth_port=auth_port, acct_port=acct_port,
                        coa_port=coa_port, threads=threads, user=user, client_lifetime=client_lifetime,
                        dynamic_clients=None if dynamic_clients == "off" else dynamic_clients)


@app.command()
@friendly_errors
def config(
    out: Annotated[Path, typer.Option(help="Directory to write the raddb into.")],
    listen: ListenOpt = "*",
    auth_port: AuthPortOpt = 1812,
    acct_port: AcctPortOpt = 1813,
    coa_port: CoaPortOpt = None,
    threads: ThreadsOpt = 16,
    user: UserOpt = None,
    dynamic_clients: DynamicOpt = "off",
    client_lifetime: LifetimeOpt = 300,
) -> None:
    """Render a complete FreeRADIUS 3.2 configuration for this database into OUT.

    Then: freeradius -XC -d OUT (check) and freeradius -f -d OUT (run), or `ispops radius run`.
    """
    with open_server_ctx() as server:
        written = render(out, _options(radius_conninfo(server), listen, auth_port, acct_port, coa_port,
                                       threads, user, dynamic_clients, client_lifetime))
    console.print(f"FreeRADIUS configuration written to {written}")
    console.print(f"Check it with: freeradius -XC -d {written}")


@app.command()
@friendly_errors
def run(
    listen: ListenOpt = "*",
    auth_port: AuthPortOpt = 1812,
    acct_port: AcctPortOpt = 1813,
    coa_port: CoaPortOpt = None,
    threads: ThreadsOpt = 16,
    user: UserOpt = None,
    dynamic_clients: DynamicOpt = "off",
    client_lifetime: LifetimeOpt = 300,
    debug: Annotated[bool, typer.Option("--debug", help="FreeRADIUS debug mode (-X): one thread, verbose.")] = False,
) -> None:
    """Render the configuration under the data directory and run FreeRADIUS in the foreground."""
    binary = freeradius_binary()
    if binary is None:
        raise fail(INSTALL_HINT)
    settings = get_settings()
    raddb = settings.data_dir / "freeradius"
    with open_server_ctx() as server:
        render(raddb, _options(radius_conninfo(server), listen, auth_port, acct_port, coa_port, threads, user,
                               dynamic_clients, client_lifetime))
        console.print(f"FreeRADIUS: {binary}, configuration in {raddb}, database: {server.description}")
        console.print(f"Listening on {listen} ports {auth_port}/{acct_port}; log in {raddb / 'log' / 'radius.log'}")
        check = subprocess.run(  # noqa: S603 (our binary, our arguments)
            [binary, "-C", "-d", str(raddb)], capture_output=True, text=True, check=False
        )
        if check.returncode != 0:
            raise fail("FreeRADIUS rejected the configuration:\n" + (check.stdout + check.stderr)[-3000:])
        args = [binary, "-X" if debug else "-f", "-d", str(raddb)]
        # Keep the embedded database running for as long as FreeRADIUS does.
        completed = subprocess.run(args, check=False, env=os.environ.copy())  # noqa: S603
    raise typer.Exit(completed.returncode)


@app.command()
@friendly_errors
def sessions(
    tenant: Annotated[str, typer.Option(help="Tenant id.")],
    nas: Annotated[str | None, typer.Option(help="Only this NAS address.")] = None,
    username: Annotated[str | None, typer.Option(help="Only this user.")] = None,
    limit: Annotated[int, typer.Option(help="At most this many rows.")] = 50,
) -> None:
    """Active sessions of a tenant: user, NAS, address, duration and bytes so far."""
    with open_database() as db, db.tenant(tenant) as s:
        rows = s.execute(
            text(
                "select username, host(nasipaddress), host(framedipaddress), acctstarttime, "
                "extract(epoch from now() - acctstarttime)::bigint, acctinputoctets, acctoutputoctets "
                "from radacct where tenant_id = :t and acctstoptime is null "
                "and (cast(:nas as text) is null or nasipaddress = cast(:nas as inet)) "
                "and (cast(:u as text) is null or username = :u) order by acctstarttime desc limit :l"
            ),
            {"t": tenant, "nas": nas, "u": username, "l": limit},
        ).all()
    table = Table("user", "NAS", "address", "started", "duration", "upload", "download")
    for user, nas_ip, ip, started, seconds, up, down in rows:
        table.add_row(user, nas_ip, ip or "", f"{started:%Y-%m-%d %H:%M}", _duration(int(seconds)),
                      _bytes(int(up)), _bytes(int(down)))
    console.print(table)
    console.print(f"{len(rows)} active session(s)")


@app.command("test")  # `ispops radius test USER PASSWORD --nas NAS`
@friendly_errors
def probe(
    username: Annotated[str, typer.Argument(help="PPPoE/hotspot user name.")],
    password: Annotated[str, typer.Argument(help="The password to try.")],
    nas: Annotated[str, typer.Option(help="Send as this NAS (its address must be local to this machine).")],
    tenant: Annotated[str, typer.Option(help="Tenant the NAS belongs to.")],
    server: Annotated[str, typer.Option(help="FreeRADIUS address.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="FreeRADIUS authentication port.")] = 1812,
) -> None:
    """Send a real PAP Access-Request to FreeRADIUS as NAS and show the answer and its attributes."""
    from ispops.radius.probe import probe_login  # pyrad is only needed here

    with open_database() as db, db.tenant(tenant) as s:
        row = s.execute(
            text("select nasname, secret from nas where tenant_id = :t and deleted_at is null and "
                 "(nasname = :n or shortname = :n)"), {"t": tenant, "n": nas},
        ).first()
    if row is None:
        raise fail(f"No NAS {nas!r} in tenant {tenant!r}.")
    address, secret = row
    result = probe_login(server=server, port=port, nas_address=address, secret=secret,
                         username=username, password=password)
    console.print(f"{result.verdict}")
    for attribute, value in result.attributes:
        console.print(f"  {attribute} = {value}")
    if not result.accepted:
        raise typer.Exit(1)


def _duration(seconds: int) -> str:
    hours, rest = divmod(max(seconds, 0), 3600)
    return f"{hours}h{rest // 60:02d}m"


def _bytes(n: int) -> str:
    value = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TB"
