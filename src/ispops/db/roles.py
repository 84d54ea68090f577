"""Database roles (DESIGN.md, Tenancy 2), created or corrected by ``ispops db upgrade``.

- ``ispops_owner``   NOLOGIN; owns every table; migrations run as it (``SET ROLE``).
- ``ispops_app``     the API and workers; NOBYPASSRLS, never an owner.
- ``ispops_radius``  FreeRADIUS; only the grants rlm_sql needs.
- ``ispops_platform`` platform-operator work (tenants); sees no tenant-owned table.

Roles are cluster-wide; grants on objects are made by the migrations.
"""

from __future__ import annotations

import contextlib

import psycopg
from psycopg import errors, sql
from sqlalchemy.engine import URL

from ispops.config import LOGIN_ROLES, OWNER_ROLE
from ispops.db.server import libpq_dsn
from ispops.errors import ConfigurationError

_SAFE = "NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE NOREPLICATION INHERIT"


ROLES_LOCK = 7_310_002  # pg_advisory_lock key for role changes (migrations use 7_310_001)
MIN_SERVER_VERSION = 150000  # ON DELETE SET NULL (column) needs PostgreSQL 15


def require_server_version(version_num: int) -> None:
    if version_num < MIN_SERVER_VERSION:
        found = f"{version_num // 10000}.{version_num % 10000}"
        raise ConfigurationError(
            f"PostgreSQL {MIN_SERVER_VERSION // 10000} or newer is required; this server is {found}"
        )


def ensure_roles(admin_url: URL, *, password: str | None = None) -> None:
    """Create the roles if missing and force their attributes to the safe set."""
    with psycopg.connect(libpq_dsn(admin_url), autocommit=True) as conn:
        require_server_version(conn.info.server_version)
        # Roles are cluster-wide catalog rows: two processes creating or altering them at once fail
        # ("duplicate key", "tuple concurrently updated"). Take turns; the lock ends with the session.
        conn.execute("select pg_advisory_lock(%s)", (ROLES_LOCK,))
        wanted = [(OWNER_ROLE, "NOLOGIN")] + [(role, "LOGIN") for role in LOGIN_ROLES]
        for role, login in wanted:
            ident = sql.Identifier(role)
            exists = conn.execute("select 1 from pg_roles where rolname = %s", (role,)).fetchone()
            if not exists:
                with contextlib.suppress(errors.DuplicateObject, errors.UniqueViolation):  # made meanwhile
                    conn.execute(sql.SQL("create role {} " + login + " " + _SAFE).format(ident))
            conn.execute(sql.SQL("alter role {} " + login + " " + _SAFE).format(ident))
            if password and login == "LOGIN":
                conn.execute(sql.SQL("alter role {} password {}").format(ident, sql.Literal(password)))

        is_super = conn.execute("select rolsuper from pg_roles where rolname = current_user").fetchone()
        if not (is_super and is_super[0]):
            # The migrator must be able to SET ROLE to the owner.
            conn.execute(sql.SQL("grant {} to current_user").format(sql.Identifier(OWNER_ROLE)))


def grant_database(admin_url: URL) -> None:
    """Database-level grants: the roles may connect; the owner may create in schema public."""
    with psycopg.connect(libpq_dsn(admin_url), autocommit=True) as conn:
        db = sql.Identifier(str(admin_url.database))
        conn.execute(
            sql.SQL("grant connect on database {} to {}").format(
                db, sql.SQL(", ").join(sql.Identifier(r) for r in (OWNER_ROLE, *LOGIN_ROLES))
            )
        )
        conn.execute(sql.SQL("grant usage, create on schema public to {}").format(sql.Identifier(OWNER_ROLE)))
        conn.execute("revoke create on schema public from public")
