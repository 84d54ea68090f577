"""Where the database is: the embedded PostgreSQL (pgserver) or a server named by ``ISPOPS_DATABASE_URL``.

The embedded server listens only on a Unix socket inside its data directory. It is started on first
use, reused by every later process pointing at the same directory (pgserver counts handles), and
stopped when the last process holding a handle exits.
"""

from __future__ import annotations

import os
import re
import warnings
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import sql
from sqlalchemy.engine import URL, make_url

from ispops.config import APP_ROLE, PLATFORM_ROLE, RADIUS_ROLE, Settings

_DB_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
# pgserver hands every caller in one process the same handle, and its cleanup stops the server when
# this process's pid is the last one registered. Count our own users so one close cannot stop it under
# another.
_HANDLE_USERS: dict[int, int] = {}


def sqlalchemy_url(raw: str) -> URL:
    """Accept ``postgresql://`` or ``postgres://`` URLs and pin the psycopg 3 driver."""
    url = make_url(raw.replace("postgres://", "postgresql://", 1))
    if url.get_backend_name() != "postgresql":
        raise ValueError(f"ISPOPS_DATABASE_URL must be a PostgreSQL URL, got {url.get_backend_name()!r}")
    return url.set(drivername="postgresql+psycopg")


def libpq_dsn(url: URL) -> str:
    """The same URL in the form psycopg/libpq accepts (no ``+psycopg``)."""
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


@dataclass
class Server:
    """A running PostgreSQL the platform can use, with one URL per database role."""

    admin_url: URL
    embedded: bool
    description: str
    role_password: str | None = None
    role_urls: dict[str, URL] = field(default_factory=dict)
    _handle: Any = None

    @property
    def database(self) -> str:
        return str(self.admin_url.database)

    def url_for(self, role: str) -> URL:
        if role in self.role_urls:
            return self.role_urls[role]
        return self.admin_url.set(username=role, password=self.role_password)

    def with_database(self, name: str) -> Server:
        """The same server and roles, pointed at another database (tests use one per session).

        The copy does not own the embedded server's handle: close the original.
        """
        return Server(
            admin_url=self.admin_url.set(database=name),
            embedded=self.embedded,
            description=self.description,
            role_password=self.role_password,
            role_urls={role: url.set(database=name) for role, url in self.role_urls.items()},
        )

    def close(self) -> None:
        """Release our handle on the embedded server (it stops when no process holds one).

        Processes that died without releasing theirs (SIGKILL, a crash) are forgotten first, so they cannot
        keep the server running after the last live process is done with it."""
        if self._handle is not None:
            key = id(self._handle)
            _HANDLE_USERS[key] -= 1
            if _HANDLE_USERS[key] == 0:
                del _HANDLE_USERS[key]
                _forget_dead_holders(self._handle)
                self._handle.cleanup()
            self._handle = None

    def other_holders(self) -> list[int]:
        """Other live processes holding the embedded server (it keeps running for them after our close)."""
        if self._handle is None:
            return []
        _forget_dead_holders(self._handle)
        return [pid for pid in self._handle.global_process_id_list.get() if pid != os.getpid()]


def _forget_dead_holders(handle: Any) -> None:
    """Drop the pids of dead processes from pgserver's list of handle holders (``.handle_pids.json``)."""
    with handle._lock:
        pids = handle.global_process_id_list.get()
        alive = [pid for pid in pids if _alive(pid)]
        if alive != pids:
            handle.global_process_id_list.put(alive)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    return True


def create_database(admin_url: URL, name: str, *, owner: str) -> bool:
    """Create database ``name`` owned by ``owner`` if it does not exist. Returns True if created."""
    if not _DB_NAME.match(name):
        raise ValueError(f"invalid database name {name!r}")
    maintenance = admin_url.set(database="postgres")
    with psycopg.connect(libpq_dsn(maintenance), autocommit=True) as conn:
        exists = conn.execute("select 1 from pg_database where datname = %s", (name,)).fetchone()
        if exists:
            return False
        conn.execute(sql.SQL("create database {} owner {}").format(sql.Identifier(name), sql.Identifier(owner)))
        return True


def drop_database(admin_url: URL, name: str) -> None:
    maintenance = admin_url.set(database="postgres")
    with psycopg.connect(libpq_dsn(maintenance), autocommit=True) as conn:
        conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))


def open_server(settings: Settings) -> Server:
    """Start (or attach to) the embedded server, or describe the external one. Does not migrate."""
    if settings.database_url is not None:
        url = sqlalchemy_url(settings.database_url)
        role_urls: dict[str, URL] = {}
        if settings.app_database_url:
            role_urls[APP_ROLE] = sqlalchemy_url(settings.app_database_url)
        if settings.platform_database_url:
            role_urls[PLATFORM_ROLE] = sqlalchemy_url(settings.platform_database_url)
        where = f"{url.host or 'local socket'}:{url.port or 5432}/{url.database}"
        return Server(
            admin_url=url,
            embedded=False,
            description=f"external PostgreSQL at {where} (ISPOPS_DATABASE_URL)",
            role_password=settings.db_role_password,
            role_urls=role_urls,
        )

    # pgserver keeps its lock under the user's runtime dir; platformdirs warns when there is none (CI,
    # containers) and falls back to /tmp, which is what we want.
    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR", category=UserWarning)
    import pgserver  # heavy import (psutil, platformdirs): only when embedded

    data = settings.pg_data_dir
    data.parent.mkdir(parents=True, exist_ok=True)
    handle = pgserver.get_server(data, cleanup_mode="stop")
    _HANDLE_USERS[id(handle)] = _HANDLE_USERS.get(id(handle), 0) + 1
    base = sqlalchemy_url(handle.get_uri())
    return Server(
        admin_url=base.set(database=settings.database_name),
        embedded=True,
        description=f"embedded PostgreSQL 16 (pgserver), data in {data}",
        role_password=settings.db_role_password,
        _handle=handle,
    )


__all__ = [
    "APP_ROLE",
    "PLATFORM_ROLE",
    "RADIUS_ROLE",
    "Server",
    "create_database",
    "drop_database",
    "libpq_dsn",
    "open_server",
    "sqlalchemy_url",
]
