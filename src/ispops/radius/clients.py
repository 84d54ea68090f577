"""The NAS client list FreeRADIUS loads at start, rendered into a file of the raddb.

FreeRADIUS reads ``clients.conf`` of the raddb instead of asking the database at start (rlm_sql's
``read_clients``), so it starts while PostgreSQL is unreachable. ``ispops radius config``/``run`` (and the
test harness) refresh the file from ``ispops_radius_clients()`` as the RADIUS role; when the database
cannot be reached the last rendered file is kept, and with no earlier file the refresh fails.

The list is checked here before FreeRADIUS sees it: no two entries may match one source address (a second
guard behind the database's uniqueness: the whole list is refused and the last file kept). An entry that
cannot be written (a nasname that is no IP address, a secret FreeRADIUS's syntax cannot carry) is left
out and reported, so one tenant's bad row never blocks every other tenant's NASes.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import psycopg

from ispops.errors import IspopsError, ValidationFailed

CLIENTS_FILE = "clients.conf"
CLIENTS_QUERY = "SELECT id, nasname, shortname, type, secret, server FROM ispops_radius_clients()"
# The first line of a file written before any client list was read (no database seen yet).
PLACEHOLDER = "# ispops: no client list rendered yet"

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class RadiusClient:
    """One row of ``ispops_radius_clients()``. ``server`` is read but never rendered: every client is
    handled by the virtual server of the listener it reaches (``ispops``), whatever the row says."""

    id: int
    nasname: str
    shortname: str
    type: str
    secret: str
    server: str | None = None


class ClientsUnavailable(IspopsError):
    """The database cannot be reached and no client file was rendered before."""

    status = 503
    code = "radius_clients_unavailable"


@dataclass(frozen=True)
class ClientsRefresh:
    path: Path
    fresh: bool  # True: read from the database now; False: the last rendered file was kept
    count: int | None  # clients written (None when the old file was kept)
    error: str | None = None  # why the database could not be read
    skipped: tuple[str, ...] = ()  # NASes left out of the file, and why

    @property
    def message(self) -> str:
        if self.fresh:
            left_out = "".join(f"\n  left out: {line}" for line in self.skipped)
            return f"NAS clients: {self.count} written to {self.path}{left_out}"
        return (
            f"NAS clients: the database is unreachable ({self.error}); keeping the last rendered "
            f"client list {self.path}"
        )


def fetch_clients(conninfo: str) -> list[RadiusClient]:
    """The client list as the RADIUS role reads it (``conninfo`` is the raddb's own connection string)."""
    with psycopg.connect(conninfo, autocommit=True) as conn:
        rows = conn.execute(CLIENTS_QUERY).fetchall()
    return [
        RadiusClient(
            id=int(r[0]),
            nasname=str(r[1]),
            shortname=str(r[2]),
            type=str(r[3] or "other"),
            secret=str(r[4]),
            server=None if r[5] is None else str(r[5]),
        )
        for r in rows
    ]


def _network(nasname: str) -> Network | None:
    """The source addresses an entry matches (None: not an IP address or network as written)."""
    try:
        network = ipaddress.ip_network(nasname, strict=True)
    except ValueError:
        return None
    if isinstance(network, ipaddress.IPv6Network) and network.prefixlen >= 96 and network[0].ipv4_mapped:
        # ::ffff:a.b.c.d is the IPv4 source a.b.c.d: compare it as such.
        mapped = network[0].ipv4_mapped
        assert mapped is not None
        return ipaddress.IPv4Network((mapped, network.prefixlen - 96))
    return network


def carriable(value: str) -> bool:
    """FreeRADIUS 3.2.1 reads a single-quoted value literally, except that \\' is a quote (checked with
    real packets): a value with control characters, a backslash before a quote or at its end cannot be
    written."""
    return (
        bool(value)
        and not any(ord(c) < 32 or ord(c) == 127 for c in value)
        and not (value.endswith("\\") or "\\'" in value)
    )


def unusable(client: RadiusClient) -> str | None:
    """Why this one entry cannot be written (it is left out of the file), or None."""
    if _network(client.nasname) is None:
        return "nasname is not an IP address"
    for name, value in (("secret", client.secret), ("shortname", client.shortname), ("type", client.type)):
        if not carriable(value):
            return f"its {name} is empty or has characters the FreeRADIUS client file cannot carry"
    return None


def check_clients(clients: Sequence[RadiusClient]) -> None:
    """Refuse a list in which two entries match one source address (equal addresses, or a network that
    holds another entry): FreeRADIUS would pick one of them, answering one tenant's NAS as another's."""
    spans: list[tuple[int, int, int, RadiusClient]] = []
    for client in clients:
        network = _network(client.nasname)
        if network is not None:
            spans.append((network.version, int(network.network_address), int(network.broadcast_address), client))
    # CIDR blocks are nested or disjoint: sorted by start (widest first), an entry overlaps an earlier one
    # exactly when it starts before the end of the widest block seen so far.
    spans.sort(key=lambda s: (s[0], s[1], -s[2]))
    widest: dict[int, tuple[int, RadiusClient]] = {}
    for version, start, end, client in spans:
        seen = widest.get(version)
        if seen is not None and start <= seen[0]:
            raise ValidationFailed(
                f"radius clients: NAS {seen[1].id} ({seen[1].nasname}) and NAS {client.id} ({client.nasname}) "
                "match the same source address; FreeRADIUS would answer one of them with the other's tenant",
                field="nasname",
            )
        if seen is None or end > seen[0]:
            widest[version] = (end, client)


def _quote(value: str) -> str:
    """A FreeRADIUS single-quoted string (no ${...} expansion); only the quote is escaped (see carriable)."""
    return "'" + value.replace("'", "\\'") + "'"


def clients_text(clients: Sequence[RadiusClient]) -> tuple[str, list[str]]:
    """The file's text and what was left out (one line per NAS, without secrets). Raises ValidationFailed
    when two entries match one source address."""
    check_clients(clients)
    skipped = [f"NAS {c.id} ({c.shortname.split('/')[0]}): {why}" for c in clients if (why := unusable(c))]
    usable = [c for c in clients if unusable(c) is None]
    lines = [
        "# NAS clients of every tenant, rendered by `ispops radius config` / `ispops radius run` from",
        "# ispops_radius_clients() (do not edit: render again). FreeRADIUS reads this file at start only: a new",
        "# NAS, a changed secret, type or require_ma needs a new render and a restart (docs/radius.md).",
        "# The shortname is <tenant>/<require_ma>/<name>: policy.d/ispops reads the tenant from it.",
        f"# {len(usable)} client(s).",
    ]
    lines += [f"# Left out: {line}" for line in skipped]
    for client in usable:
        network = ipaddress.ip_network(client.nasname, strict=True)
        address = str(network.network_address) if network.num_addresses == 1 else str(network)
        lines += [
            f"client nas_{client.id} {{",
            f"\tipaddr = {address}",
            f"\tsecret = {_quote(client.secret)}",
            f"\tshortname = {_quote(client.shortname)}",
            f"\tnas_type = {_quote(client.type)}",
            "}",
        ]
    return "\n".join(lines) + "\n", skipped


def write_clients(raddb: Path, clients: Sequence[RadiusClient]) -> list[str]:
    """Write the client file atomically, mode 0600 (it holds every NAS's secret); returns what was left out.
    A list with two entries matching one source is refused (ValidationFailed) and the old file kept."""
    text, skipped = clients_text(clients)
    _write(raddb, text)
    return skipped


def _write(raddb: Path, text: str) -> Path:
    path = raddb / CLIENTS_FILE
    tmp = path.with_name(f".{CLIENTS_FILE}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)
    return path


def ensure_placeholder(raddb: Path) -> None:
    """An empty client list for a raddb rendered without the database (FreeRADIUS needs the file)."""
    if not (raddb / CLIENTS_FILE).exists():
        _write(raddb, f"{PLACEHOLDER}: run `ispops radius config` with the database reachable.\n")


def has_rendered_clients(raddb: Path) -> bool:
    path = raddb / CLIENTS_FILE
    return path.exists() and not path.read_text(encoding="utf-8").startswith(PLACEHOLDER)


def refresh_clients(raddb: Path, conninfo: str) -> ClientsRefresh:
    """Render the client file from the database; keep the last one when the database is unreachable."""
    path = raddb / CLIENTS_FILE
    try:
        clients = fetch_clients(conninfo)
    except psycopg.OperationalError as exc:
        error = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if not has_rendered_clients(raddb):
            raise ClientsUnavailable(
                f"Cannot read the NAS client list: the database is unreachable ({error}) and no client list "
                f"was rendered before into {path}. Start FreeRADIUS once with the database up."
            ) from exc
        return ClientsRefresh(path=path, fresh=False, count=None, error=error)
    skipped = write_clients(raddb, clients)
    return ClientsRefresh(path=path, fresh=True, count=len(clients) - len(skipped), skipped=tuple(skipped))
