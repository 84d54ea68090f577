"""``ispops radius …``: render and run FreeRADIUS for this database, look at sessions, test a login."""

from __future__ import annotations

import os
import subprocess
import threading
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy import text

from ispops.cli.common import console, fail, friendly_errors, open_database, open_server_ctx
from ispops.cli.radius_sessions import sessions_view
from ispops.config import APP_ROLE, get_settings
from ispops.db.server import Server
from ispops.radius.config import (
    INSTALL_HINT,
    POSTAUTH_SPOOL,
    RaddbOptions,
    conninfo_for,
    freeradius_binary,
    radius_conninfo,
    render_with_clients,
)
from ispops.radius.postauth_replay import Replayer
from ispops.radius.sessions import close_by_staff

app = typer.Typer(
    help="RADIUS: FreeRADIUS configuration and process, sessions, credential tests.", no_args_is_help=True
)

ListenOpt = Annotated[str, typer.Option(help="Address FreeRADIUS listens on ('*' for all).")]
AuthPortOpt = Annotated[int, typer.Option(help="Authentication port.")]
AcctPortOpt = Annotated[int, typer.Option(help="Accounting port.")]
CoaPortOpt = Annotated[int | None, typer.Option(help="Turn on the CoA listener on this port (off by default).")]
ThreadsOpt = Annotated[int, typer.Option(help="FreeRADIUS worker threads; the SQL pool is sized to match.")]
UserOpt = Annotated[str | None, typer.Option(help="Drop privileges to this user after start (e.g. freerad).")]
DynamicOpt = Annotated[
    str,
    typer.Option(
        help="IPv4 network (your NAS management range) whose unknown sources are looked up as "
        "NASes added after start; 'off' (the default) reads the NASes at start only."
    ),
]
LifetimeOpt = Annotated[int, typer.Option(help="Seconds a NAS found that way stays a client before a new lookup.")]
DbDownOpt = Annotated[
    str,
    typer.Option(
        help="Access-Requests while the database is unreachable: 'drop' (no answer, the NAS fails "
        "over to its next RADIUS server; the default) or 'reject'."
    ),
]
StatusPortOpt = Annotated[
    int, typer.Option(help="Status-Server port on 127.0.0.1 for `ispops radius stats` (0 turns it off).")
]
PostauthOpt = Annotated[
    str,
    typer.Option(
        help="The post-auth log: 'spool' (a local file shipped to the database in batches by "
        "`ispops radius postauth-replay`, which `ispops radius run` starts; the default) or 'sql' "
        "(one INSERT per Access-Request before the answer)."
    ),
]


def _options(
    server_conninfo: str,
    listen: str,
    auth_port: int,
    acct_port: int,
    coa_port: int | None,
    threads: int,
    user: str | None,
    dynamic_clients: str,
    client_lifetime: int,
    db_down: str = "drop",
    status_port: int = 18121,
    postauth: str = "spool",
) -> RaddbOptions:
    return RaddbOptions(
        conninfo=server_conninfo,
        listen=listen,
        auth_port=auth_port,
        acct_port=acct_port,
        coa_port=coa_port,
        threads=threads,
        user=user,
        client_lifetime=client_lifetime,
        dynamic_clients=None if dynamic_clients == "off" else dynamic_clients,
        db_down=db_down,
        status_port=status_port or None,
        postauth=postauth,
    )


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
    db_down: DbDownOpt = "drop",
    status_port: StatusPortOpt = 18121,
    postauth: PostauthOpt = "spool",
) -> None:
    """Render a complete FreeRADIUS 3.2 configuration for this database into OUT, with the NAS client list
    (clients.conf) read from the database; when the database is unreachable the last client list is kept.

    Then: freeradius -XC -d OUT (check) and freeradius -f -d OUT (run), or `ispops radius run`.
    """
    with open_server_ctx() as server:
        clients = render_with_clients(
            out,
            _options(
                radius_conninfo(server),
                listen,
                auth_port,
                acct_port,
                coa_port,
                threads,
                user,
                dynamic_clients,
                client_lifetime,
                db_down,
                status_port,
                postauth,
            ),
        )
    console.print(clients.message)
    console.print(f"FreeRADIUS configuration written to {out.resolve()}")
    console.print(f"Check it with: freeradius -XC -d {out.resolve()}")
    if postauth == "spool":
        console.print(
            f"The post-auth log is spooled to {out.resolve() / POSTAUTH_SPOOL}: run `ispops radius postauth-replay "
            f"--spool {out.resolve() / POSTAUTH_SPOOL}` beside FreeRADIUS (`ispops radius run` does)."
        )


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
    db_down: DbDownOpt = "drop",
    status_port: StatusPortOpt = 18121,
    postauth: PostauthOpt = "spool",
    debug: Annotated[bool, typer.Option("--debug", help="FreeRADIUS debug mode (-X): one thread, verbose.")] = False,
) -> None:
    """Render the configuration (and the NAS client list) under the data directory and run FreeRADIUS in the
    foreground. With the database unreachable it starts from the last rendered client list."""
    binary = freeradius_binary()
    if binary is None:
        raise fail(INSTALL_HINT)
    settings = get_settings()
    raddb = settings.data_dir / "freeradius"
    with open_server_ctx() as server:
        clients = render_with_clients(
            raddb,
            _options(
                radius_conninfo(server),
                listen,
                auth_port,
                acct_port,
                coa_port,
                threads,
                user,
                dynamic_clients,
                client_lifetime,
                db_down,
                status_port,
                postauth,
            ),
        )
        console.print(clients.message)
        console.print(f"FreeRADIUS: {binary}, configuration in {raddb}, database: {server.description}")
        console.print(f"Listening on {listen} ports {auth_port}/{acct_port}; log in {raddb / 'log' / 'radius.log'}")
        check = subprocess.run(  # noqa: S603 (our binary, our arguments)
            [binary, "-C", "-d", str(raddb)], capture_output=True, text=True, check=False
        )
        if check.returncode != 0:
            raise fail("FreeRADIUS rejected the configuration:\n" + (check.stdout + check.stderr)[-3000:])
        args = [binary, "-X" if debug else "-f", "-d", str(raddb)]
        # The post-auth spool's replayer runs beside FreeRADIUS (a thread of this process) and ships what
        # is left once FreeRADIUS has stopped.
        stop = threading.Event()
        replayer = None
        if postauth == "spool":
            replay = Replayer(raddb / POSTAUTH_SPOOL, _app_conninfo(server))
            replayer = threading.Thread(target=replay.run, args=(stop,), name="postauth-replay", daemon=True)
            replayer.start()
            console.print(f"Post-auth log: spooled in {raddb / POSTAUTH_SPOOL}, shipped in batches")
        try:
            # Keep the embedded database running for as long as FreeRADIUS does.
            completed = subprocess.run(args, check=False, env=os.environ.copy())  # noqa: S603
        finally:
            stop.set()
            if replayer is not None:
                replayer.join(timeout=30)
    raise typer.Exit(completed.returncode)


def _app_conninfo(server: Server) -> str:
    return conninfo_for(server.url_for(APP_ROLE))


@app.command("postauth-replay")
@friendly_errors
def postauth_replay(
    spool: Annotated[
        Path | None,
        typer.Option(help="The spool directory (default: the one `ispops radius run` renders under the data dir)."),
    ] = None,
    once: Annotated[bool, typer.Option("--once", help="Ship what is there now and exit.")] = False,
    batch: Annotated[int, typer.Option(help="Lines per transaction at most.")] = 2000,
) -> None:
    """Ship the spooled post-auth log (--postauth spool) to radpostauth in batches, until Ctrl-C/SIGTERM.

    Needed beside a FreeRADIUS rendered by `ispops radius config` (`ispops radius run` runs one itself)."""
    import signal

    directory = spool or get_settings().data_dir / "freeradius" / POSTAUTH_SPOOL
    with open_server_ctx() as server:
        replay = Replayer(directory, _app_conninfo(server), batch=batch)
        if once:
            shipped = replay.run_once()
            replay.release()
            console.print(f"{shipped} post-auth line(s) shipped from {directory}")
            return
        stop = threading.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
        console.print(f"Shipping the post-auth log from {directory} (Ctrl-C stops)")
        replay.run(stop)


@app.command()
@friendly_errors
def stats(
    prometheus: Annotated[
        bool,
        typer.Option(
            "--prometheus", help="Prometheus text format (node_exporter textfile collector) instead of a table."
        ),
    ] = False,
    raddb: Annotated[
        Path | None,
        typer.Option(help="The rendered raddb (default: the data directory's, as `ispops radius run` writes it)."),
    ] = None,
    port: Annotated[int | None, typer.Option(help="Status-Server port (default: the raddb's).")] = None,
    out: Annotated[Path | None, typer.Option(help="Write to this file (atomically) instead of stdout.")] = None,
) -> None:
    """FreeRADIUS's counters from its Status-Server (requests, accepts, rejects, dropped, invalid, queues),
    plus the requests dropped by our policy (log/drops.log, by reason) and those from unknown clients
    (FreeRADIUS's own log)."""
    from ispops.radius import stats as radius_stats  # pyrad is only needed here

    directory = raddb or get_settings().data_dir / "freeradius"
    try:
        status_port, secret = radius_stats.status_settings(directory)
        values = radius_stats.query_status(port=port or status_port, secret=secret)
    except radius_stats.StatusUnavailable as exc:
        raise fail(f"FreeRADIUS status: {exc}") from None
    logs = radius_stats.log_counters(directory)
    body = radius_stats.prometheus_text(values, logs) if prometheus else radius_stats.table_text(values, logs)
    if out is None:
        typer.echo(body, nl=False)
        return
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_text(body, encoding="utf-8")
    os.replace(tmp, out)


@app.command()
@friendly_errors
def sessions(
    tenant: Annotated[str, typer.Option(help="Tenant id.")],
    nas: Annotated[str | None, typer.Option(help="Only this NAS address.")] = None,
    username: Annotated[str | None, typer.Option(help="Only this user.")] = None,
    limit: Annotated[int, typer.Option(help="At most this many rows.")] = 50,
) -> None:
    """Active sessions of a tenant: user, NAS, addresses (IPv4, IPv6, delegated prefix), duration and bytes so
    far. A terminal too narrow for the table gets one block per session: addresses are never cut."""
    with open_database() as db, db.tenant(tenant, enforce_status=False) as s:
        rows = s.execute(
            text(
                "select username, host(nasipaddress), array_remove(array[host(framedipaddress), "
                "host(framedipv6address), framedipv6prefix::text], null), acctstarttime, "
                "extract(epoch from now() - acctstarttime)::bigint, acctinputoctets, acctoutputoctets "
                "from radacct where tenant_id = :t and acctstoptime is null "
                "and (cast(:nas as text) is null or nasipaddress = cast(:nas as inet)) "
                "and (cast(:u as text) is null or username = :u) order by acctstarttime desc limit :l"
            ),
            {"t": tenant, "nas": nas, "u": username, "l": limit},
        ).all()

    console.print(sessions_view(console, rows))
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

    with open_database() as db, db.tenant(tenant, enforce_status=False) as s:
        row = s.execute(
            text(
                "select nasname, secret from nas where tenant_id = :t and deleted_at is null and "
                "(nasname = :n or shortname = :n)"
            ),
            {"t": tenant, "n": nas},
        ).first()
    if row is None:
        raise fail(f"No NAS {nas!r} in tenant {tenant!r}.")
    address, secret = row
    result = probe_login(
        server=server, port=port, nas_address=address, secret=secret, username=username, password=password
    )
    console.print(f"{result.verdict}")
    for attribute, value in result.attributes:
        console.print(f"  {attribute} = {value}")
    if not result.accepted:
        raise typer.Exit(1)


@app.command("close-session")
@friendly_errors
def close_session(
    radacctid: Annotated[int, typer.Argument(help="The session's radacctid (see `ispops radius sessions`).")],
    tenant: Annotated[str, typer.Option(help="Tenant id.")],
) -> None:
    """Mark an open session closed in radacct (its Stop was lost); audited. Sends nothing to the NAS: to end
    the session on the NAS use the API's disconnect (POST /api/v1/radius/sessions/RADACCTID/disconnect)."""
    import getpass

    with open_database() as db, db.tenant(tenant, enforce_status=False) as s:
        row = close_by_staff(s, tenant, radacctid, actor_id=f"cli:{getpass.getuser()}")
    console.print(
        f"Closed session {radacctid} of {row['username']} at {row['acctstoptime']:%Y-%m-%d %H:%M:%S %Z} "
        f"({row['acctterminatecause']}); the NAS was not told."
    )
