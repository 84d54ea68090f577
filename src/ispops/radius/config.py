"""Render a complete FreeRADIUS 3.2 configuration (a raddb directory) for an ispops database.

The templates live next to this module (``raddb/``); ``@@NAME@@`` placeholders are filled from
:class:`RaddbOptions`. The rendered directory also holds FreeRADIUS's log, run and spool directories, so
one ``freeradius -f -d DIR`` runs it (``ispops radius run`` does exactly that).
"""

from __future__ import annotations

import ipaddress
import os
import secrets
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from sqlalchemy.engine import URL

from ispops.config import RADIUS_ROLE
from ispops.db.server import Server
from ispops.errors import ValidationFailed
from ispops.radius.clients import ClientsRefresh, RadiusClient, ensure_placeholder, refresh_clients, write_clients

TEMPLATES = "raddb"
LIBDIR = Path("/usr/lib/freeradius")
STATUS_SECRET_FILE = "status-secret"  # noqa: S105 (a file name) the Status-Server secret, kept across renders (mode 0600)
DB_DOWN_ACTIONS = ("drop", "reject")
POSTAUTH_MODES = ("sql", "spool")
POSTAUTH_SPOOL = "spool/postauth"  # under the raddb: the post-auth log files of --postauth spool
INSTALL_HINT = (
    "FreeRADIUS 3.2 is not installed. On Debian/Ubuntu: "
    "apt-get install freeradius freeradius-postgresql freeradius-utils"
)


@dataclass(frozen=True)
class RaddbOptions:
    """What varies between installations. The SQL pool is sized to the thread pool."""

    conninfo: str
    listen: str = "*"
    auth_port: int = 1812
    acct_port: int = 1813
    coa_port: int | None = None  # the CoA listener is off unless a port is given
    threads: int = 16
    libdir: Path = LIBDIR
    user: str | None = None  # drop privileges to this user (and its group) after start
    # Accounting answered from the disk spool and replayed (no loss while PostgreSQL is down). False
    # writes accounting straight to PostgreSQL: the NAS retries while the database is down (bench/radius.py
    # uses it to time the SQL path itself).
    spool: bool = True
    # NASes added after start become clients without a restart: unknown sources in this IPv4 network are
    # looked up in the database. None (the default): off, the clients are those read at start. Off by
    # default because every packet from an unknown source in the network costs a database lookup: a flood
    # of 8,000 packets/s from strangers took AAA from ~800 to ~1 answer/s (bench/radius_flood.py).
    dynamic_clients: str | None = None
    client_lifetime: int = 300  # seconds a NAS found that way stays a client before it is looked up again
    # What an Access-Request gets while the database is unreachable: no answer ("drop", the NAS fails over to
    # its next RADIUS server) or an Access-Reject ("reject").
    db_down: str = "drop"
    # The post-auth log: "sql" (one INSERT per Access-Request, before the answer) or "spool" (a line in a
    # local file, shipped in batches by ispops.radius.postauth_replay; `ispops radius run` uses it).
    postauth: str = "sql"
    # Status-Server on 127.0.0.1 (FreeRADIUS's counters, `ispops radius stats`); None turns it off.
    status_port: int | None = 18121
    # Its secret; None: the one kept in the raddb (STATUS_SECRET_FILE), or a new random one.
    status_secret: str | None = None

    def validate(self) -> None:
        ports = {"auth_port": self.auth_port, "acct_port": self.acct_port}
        if self.coa_port is not None:
            ports["coa_port"] = self.coa_port
        if self.status_port is not None:
            ports["status_port"] = self.status_port
        for name, port in ports.items():
            if not 1 <= port <= 65535:
                raise ValidationFailed(f"radius config: {name} must be 1-65535", field=name)
        if len(set(ports.values())) != len(ports):
            raise ValidationFailed(
                "radius config: acct_port: the auth, accounting, CoA and status ports must differ", field="acct_port"
            )
        if not 1 <= self.threads <= 256:
            raise ValidationFailed("radius config: threads must be 1-256", field="threads")
        if self.dynamic_clients is not None:
            try:
                network = ipaddress.IPv4Network(self.dynamic_clients)
            except ValueError:
                raise ValidationFailed(
                    "radius config: dynamic_clients must be an IPv4 network such as 10.0.0.0/8", field="dynamic_clients"
                ) from None
            if network.prefixlen == 32:
                raise ValidationFailed(
                    "radius config: dynamic_clients must be a network, not one address", field="dynamic_clients"
                )
        if not 10 <= self.client_lifetime <= 86400:
            raise ValidationFailed("radius config: client_lifetime must be 10-86400 seconds", field="client_lifetime")
        if self.postauth not in POSTAUTH_MODES:
            raise ValidationFailed("radius config: postauth must be 'sql' or 'spool'", field="postauth")
        if self.db_down not in DB_DOWN_ACTIONS:
            raise ValidationFailed("radius config: db_down must be 'drop' or 'reject'", field="db_down")
        if self.status_secret is not None and (
            len(self.status_secret) < 8 or not all(c.isalnum() or c in "-_." for c in self.status_secret)
        ):
            raise ValidationFailed(
                "radius config: status_secret must be 8 or more letters, digits, '-', '_', '.'", field="status_secret"
            )
        if '"' in self.conninfo or "\n" in self.conninfo:
            raise ValidationFailed("radius config: the connection string cannot contain quotes", field="conninfo")


def conninfo_for(url: URL) -> str:
    """A libpq key=value string for ``url`` (FreeRADIUS passes it to PQconnectdb unchanged)."""
    parts: dict[str, str] = {}
    host = url.host or url.query.get("host")
    if isinstance(host, tuple):
        host = host[0]
    if host:
        parts["host"] = str(host)
    if url.port:
        parts["port"] = str(url.port)
    parts["dbname"] = str(url.database)
    if url.username:
        parts["user"] = url.username
    if url.password:
        parts["password"] = str(url.password)
    parts["connect_timeout"] = "3"
    return " ".join(f"{k}={_quote(v)}" for k, v in parts.items())


def _quote(value: str) -> str:
    if value and all(c.isalnum() or c in "/._-:@" for c in value):
        return value
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def radius_conninfo(server: Server) -> str:
    return conninfo_for(server.url_for(RADIUS_ROLE))


def _template_files() -> list[tuple[str, str]]:
    root = resources.files("ispops.radius").joinpath(TEMPLATES)
    out: list[tuple[str, str]] = []

    def walk(node: resources.abc.Traversable, prefix: str) -> None:
        for child in sorted(node.iterdir(), key=lambda c: c.name):
            rel = f"{prefix}{child.name}"
            if child.is_dir():
                walk(child, rel + "/")
            elif not child.name.endswith((".py", ".pyc")):
                out.append((rel, child.read_text(encoding="utf-8")))

    walk(root, "")
    return out


# Optional files: @@<NAME>_BEGIN@@ ... @@<NAME>_END@@ around the whole text; what is written when off.
OPTIONAL = {
    "COA": "# CoA listener off (ispops radius config --coa-port PORT turns it on).\n",
    "DYNAMIC": "# Dynamic clients off (the default; --dynamic-clients NETWORK turns them on): a new NAS needs a\n"
    "# new client list (ispops radius config) and a FreeRADIUS restart.\n",
    "STATUS": "# Status-Server off (ispops radius config --status-port PORT turns it on).\n",
}
# Rendered files that hold a secret (mode 0600): the SQL module (database password), the status server.
SECRET_FILES = ("mods-enabled/", "sites-enabled/ispops-status")


def render_text(text: str, values: dict[str, str], *, on: dict[str, bool]) -> str:
    for name, off_text in OPTIONAL.items():
        if f"@@{name}_BEGIN@@" in text:
            if not on[name]:
                return off_text
            text = text.replace(f"@@{name}_BEGIN@@\n", "").replace(f"@@{name}_END@@\n", "")
    for key, value in values.items():
        text = text.replace(f"@@{key}@@", value)
    if "@@" in text:
        raise RuntimeError(f"unfilled placeholder in FreeRADIUS template: {text[text.index('@@') :][:40]}")
    return text


def _status_secret(out: Path, options: RaddbOptions) -> str:
    """The Status-Server secret: the option's, else the one kept in the raddb, else a new one."""
    path = out / STATUS_SECRET_FILE
    secret = options.status_secret
    if secret is None and path.exists():
        secret = path.read_text(encoding="utf-8").strip() or None
    secret = secret or secrets.token_urlsafe(24)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(secret + "\n")
    os.chmod(path, 0o600)
    return secret


def render(out: Path, options: RaddbOptions, clients: Sequence[RadiusClient] | None = None) -> Path:
    """Write the raddb into ``out`` (created; rendered files replaced, the spool kept). Returns ``out``.

    ``clients``: the NAS client list to write into ``clients.conf``; None keeps the file there (an empty
    list when there is none: :func:`render_with_clients` reads it from the database).
    """
    options.validate()
    out = out.resolve()
    for sub in ("log", "run", "spool", POSTAUTH_SPOOL):
        (out / sub).mkdir(parents=True, exist_ok=True)
    if clients is not None:
        write_clients(out, clients)
    else:
        ensure_placeholder(out)
    for stale in ("mods-enabled", "sites-enabled", "policy.d"):
        shutil.rmtree(out / stale, ignore_errors=True)
    values = {
        "LIBDIR": str(options.libdir),
        "RADDB": str(out),
        "LOGDIR": str(out / "log"),
        "RUNDIR": str(out / "run"),
        "SPOOLDIR": str(out / "spool"),
        "THREADS": str(options.threads),
        "POOL_MAX": str(options.threads + 2),  # the spool reader holds one more connection
        "POOL_SPARE": str(options.threads + 1),  # FreeRADIUS caps spare at max - min (min is 1)
        "CONNINFO": options.conninfo,
        "LISTEN": options.listen,
        "AUTH_PORT": str(options.auth_port),
        "ACCT_PORT": str(options.acct_port),
        "COA_PORT": str(options.coa_port or 0),
        "ACCOUNTING": "ispops_spool" if options.spool else "sql",
        "DYNAMIC_NETWORK": str(ipaddress.IPv4Network(options.dynamic_clients or "0.0.0.0/0")),
        "CLIENT_LIFETIME": str(options.client_lifetime),
        "DB_DOWN": "ispops_drop" if options.db_down == "drop" else "reject",
        "POSTAUTH_LOG": f"ispops_postauth_{options.postauth}",
        "STATUS_PORT": str(options.status_port or 0),
        "STATUS_SECRET": _status_secret(out, options) if options.status_port is not None else "",
        "SECURITY_USER": (
            f"user = {options.user}\n\tgroup = {options.user}" if options.user else "# runs as the invoking user"
        ),
    }
    for rel, text in _template_files():
        target = out / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        on = {
            "COA": options.coa_port is not None,
            "DYNAMIC": options.dynamic_clients is not None,
            "STATUS": options.status_port is not None,
        }
        target.write_text(render_text(text, values, on=on), encoding="utf-8")
        os.chmod(target, 0o600 if rel.startswith(SECRET_FILES) else 0o644)
    return out


def render_with_clients(out: Path, options: RaddbOptions) -> ClientsRefresh:
    """Refresh the client list from the database (as the RADIUS role of ``options.conninfo``), then render.

    The database unreachable: the last rendered client list is kept (the result says so); with none,
    :class:`ispops.radius.clients.ClientsUnavailable` is raised before anything is written. A client list
    in which two entries match one source address is refused (ValidationFailed), the old file kept.
    """
    options.validate()
    out = out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    refreshed = refresh_clients(out, options.conninfo)
    render(out, options)
    return refreshed


def freeradius_binary() -> str | None:
    for name in ("freeradius", "radiusd"):
        found = shutil.which(name) or (f"/usr/sbin/{name}" if Path(f"/usr/sbin/{name}").exists() else None)
        if found:
            return found
    return None
