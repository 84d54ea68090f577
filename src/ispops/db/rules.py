"""The canonical homes of the database rules, and how the live database compares with them.

Every function the application relies on, the triggers that run them and who may EXECUTE them are written
once, as their current ``CREATE OR REPLACE`` text, in ``src/ispops/<domain>/sql/*.sql`` (docs/architecture.md,
"Where the database rules live"). The enumerated CHECK lists are the Python enumerations of
``ispops.models.enums.COLUMN_ENUMS``. Migrations are frozen snapshots of them: ``ispops db revision``
(``ispops.db.revision``) writes a new one from the differences :func:`compare` finds, and
``tests/db/test_rules.py`` checks that a database migrated to head has no difference at all.

A canonical file holds only these statements (comments between them are documentation):

- ``CREATE OR REPLACE FUNCTION …`` (one signature per name: overloads are not supported);
- ``REVOKE ALL ON FUNCTION f(…) FROM PUBLIC`` and ``GRANT EXECUTE ON FUNCTION f(…) TO role, …`` for a
  function of the same file: together, the complete list of who may call it (no REVOKE: everyone may);
- ``CREATE OR REPLACE TRIGGER … ON table …``.

Definitions are compared the way PostgreSQL prints them (``pg_get_functiondef``, ``pg_get_triggerdef``):
the canonical statements are applied to the database inside a transaction that is rolled back, and what
PostgreSQL then prints is compared with what it prints for the live objects. So a canonical text may be
laid out for reading; only a change PostgreSQL would see counts.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import psycopg

from ispops.config import OWNER_ROLE
from ispops.errors import IspopsError

PACKAGE_ROOT = Path(__file__).resolve().parents[1]  # src/ispops: homes are <domain>/sql/*.sql below it

# Functions in schema public that are generated at run time, so they have no canonical text of their own:
# the function that builds them has (and is registered).
GENERATED_FUNCTIONS = frozenset(
    {
        # Rebuilt by ispops_radacct_build_router() (radius/sql/radacct_partitions.sql) whenever the set of
        # radacct partitions changes: one branch per month (migrations 0017, 0019, 0025).
        "ispops_radacct_route",
    }
)
# Trigger functions attached to tables by a DDL helper rather than by a rule of their own: such triggers
# are made per table (``ispops.db.ddl.tenant_table``: ``<table>_audit`` on every managed table) and are
# not registered; the function itself is (db/sql/audit_columns.sql).
PER_TABLE_TRIGGER_FUNCTIONS = frozenset({"ispops_audit_columns"})

_FUNCTION = re.compile(r"CREATE\s+OR\s+REPLACE\s+FUNCTION\s+(?:public\.)?(\w+)\s*\(", re.IGNORECASE)
_TRIGGER = re.compile(
    r"CREATE\s+OR\s+REPLACE\s+TRIGGER\s+(\w+)\s.*?\sON\s+(?:public\.)?(\w+)\s", re.IGNORECASE | re.DOTALL
)
_GRANT = re.compile(
    r"(GRANT|REVOKE)\s+(?:EXECUTE|ALL)\s+ON\s+FUNCTION\s+(?:public\.)?(\w+)\s*\(.*?\)\s+(?:TO|FROM)\s+(.+)",
    re.IGNORECASE | re.DOTALL,
)
# An enumerated CHECK as PostgreSQL prints it: ``CHECK ((col)::text = ANY ((ARRAY['a'::…, …])::text[]))``.
_ENUM_CHECK = re.compile(
    r"^CHECK \(\(\(?(?P<column>\w+)\)?(?:::text)? = ANY \(\(?ARRAY\[(?P<values>[^\]]*)\]\)?(?:::text\[\])?\)\)\)"
    r"(?P<not_valid> NOT VALID)?$"
)
_LITERAL = re.compile(r"'((?:[^']|'')*)'::")
# An enumerated CHECK written as a trigger rule (``ispops.db.ddl.check_rule``), e.g. pool_type in ipam_pool_guard.
_GUARD_LIST = re.compile(
    r"IF NOT \(NEW\.(?P<column>\w+) IN \((?P<values>[^)]*)\)\) THEN.*?CONSTRAINT = 'ck_(?P<table>\w+?)__(?P=column)'",
    re.DOTALL,
)
_QUOTED = re.compile(r"'((?:[^']|'')*)'")


class RulesError(IspopsError):
    """A canonical file cannot be read or applied; the message names the file and the object."""

    code = "rules_error"


# --- canonical files -------------------------------------------------------------------------------------


def sql_files(root: Path = PACKAGE_ROOT) -> list[Path]:
    """Every canonical file: ``<domain>/sql/*.sql`` under ``root``, in a stable order."""
    return sorted(root.glob("*/sql/*.sql"))


def split_statements(text: str) -> list[str]:
    """The statements of a SQL file, without their ``;`` and without the comments before each.

    Knows what PostgreSQL knows about where a statement ends: ``--`` and ``/* */`` comments, quoted
    strings and identifiers, and dollar-quoted bodies (``$$``, ``$function$``).
    """
    statements: list[str] = []
    start = i = 0
    n = len(text)
    while i < n:
        c = text[i]
        if text.startswith("--", i):
            end = text.find("\n", i)
            i = n if end < 0 else end + 1
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            i = n if end < 0 else end + 2
        elif c in "'\"":
            end = i + 1
            while end < n and not (text[end] == c and not text.startswith(c * 2, end)):
                end += 2 if text.startswith(c * 2, end) else 1
            i = end + 1
        elif c == "$" and (tag := re.match(r"\$(?:[A-Za-z_]\w*)?\$", text[i:])):
            end = text.find(tag.group(0), i + len(tag.group(0)))
            if end < 0:
                raise RulesError(f"unterminated {tag.group(0)} quote")
            i = end + len(tag.group(0))
        elif c == ";":
            statements.append(text[start:i])
            i = start = i + 1
        else:
            i += 1
    statements.append(text[start:])
    return [s for s in (_strip_comments(s) for s in statements) if s]


def _strip_comments(statement: str) -> str:
    """The statement without the comment lines and blank lines in front of it."""
    lines = statement.strip().splitlines()
    while lines and (not lines[0].strip() or lines[0].lstrip().startswith("--")):
        lines.pop(0)
    return "\n".join(lines).strip()


@dataclass(frozen=True)
class Function:
    name: str
    sql: str
    source: Path
    grantees: frozenset[str]  # roles that may EXECUTE it besides its owner; "PUBLIC" for everyone


@dataclass(frozen=True)
class Trigger:
    table: str
    name: str
    sql: str
    source: Path


@dataclass(frozen=True)
class Homes:
    """What the canonical files define, in file order."""

    functions: dict[str, Function]
    triggers: dict[tuple[str, str], Trigger]


def load_homes(root: Path = PACKAGE_ROOT) -> Homes:
    functions: dict[str, Function] = {}
    triggers: dict[tuple[str, str], Trigger] = {}
    for path in sql_files(root):
        grants: dict[str, set[str]] = {}
        revoked: set[str] = set()
        local: list[str] = []
        for statement in split_statements(path.read_text(encoding="utf-8")):
            where = f"{path.relative_to(root)}: {statement.splitlines()[0][:80]}"
            if match := _FUNCTION.match(statement):
                name = match.group(1)
                if name in functions or name in local:
                    raise RulesError(f"{where}: function {name} is defined twice")
                local.append(name)
                functions[name] = Function(name, statement, path, frozenset())
            elif match := _TRIGGER.match(statement):
                key = (match.group(2), match.group(1))
                if key in triggers:
                    raise RulesError(f"{where}: trigger {key[1]} on {key[0]} is defined twice")
                triggers[key] = Trigger(key[0], key[1], statement, path)
            elif match := _GRANT.match(statement):
                verb, name, roles = match.group(1).upper(), match.group(2), _roles(match.group(3))
                if name not in local:
                    raise RulesError(f"{where}: {verb} for a function this file does not define")
                if verb == "REVOKE":
                    if roles != {"PUBLIC"}:
                        raise RulesError(f"{where}: only REVOKE ALL … FROM PUBLIC is meaningful here")
                    revoked.add(name)
                else:
                    grants.setdefault(name, set()).update(roles)
            else:
                raise RulesError(f"{where}: a canonical file holds only CREATE OR REPLACE FUNCTION/TRIGGER and GRANT")
        for name in local:
            public = set() if name in revoked else {"PUBLIC"}
            functions[name] = Function(name, functions[name].sql, path, frozenset(public | grants.get(name, set())))
    return Homes(functions, triggers)


def _roles(text: str) -> set[str]:
    return {r.strip().strip('"') if r.strip().upper() != "PUBLIC" else "PUBLIC" for r in text.split(",")}


# --- the live catalog ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LiveFunction:
    name: str
    identity: str  # the argument types that name it: DROP FUNCTION public.name(identity)
    definition: str  # pg_get_functiondef
    grantees: frozenset[str]


@dataclass(frozen=True)
class LiveTrigger:
    table: str
    name: str
    function: str
    definition: str  # pg_get_triggerdef


@dataclass(frozen=True)
class CheckList:
    table: str
    column: str
    values: tuple[str, ...]
    definition: str  # pg_get_constraintdef

    @property
    def not_valid(self) -> bool:
        return self.definition.endswith(" NOT VALID")


Conn = psycopg.Connection[Any]


def read_functions(conn: Conn) -> dict[str, list[LiveFunction]]:
    """The functions in schema public owned by the owner role: name -> its signatures."""
    rows = conn.execute(
        "select p.proname, pg_get_function_identity_arguments(p.oid), pg_get_functiondef(p.oid), "
        "  array(select case when a.grantee = 0 then 'PUBLIC' else a.grantee::regrole::text end "
        "        from aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a "
        "        where a.privilege_type = 'EXECUTE' and a.grantee <> p.proowner) "
        "from pg_proc p join pg_namespace n on n.oid = p.pronamespace "
        "where n.nspname = 'public' and p.prokind in ('f', 'p') and p.proowner = %s::regrole "
        "order by p.proname, p.oid",
        (OWNER_ROLE,),
    ).fetchall()
    found: dict[str, list[LiveFunction]] = {}
    for name, identity, definition, grantees in rows:
        found.setdefault(name, []).append(LiveFunction(name, identity, definition, frozenset(grantees)))
    return found


def read_triggers(conn: Conn) -> dict[tuple[str, str], LiveTrigger]:
    """User triggers on tables of schema public, not those a partition inherits from its parent."""
    rows = conn.execute(
        "select c.relname, t.tgname, p.proname, pg_get_triggerdef(t.oid) "
        "from pg_trigger t join pg_class c on c.oid = t.tgrelid join pg_namespace n on n.oid = c.relnamespace "
        "join pg_proc p on p.oid = t.tgfoid "
        "where n.nspname = 'public' and not t.tgisinternal and t.tgparentid = 0"
    ).fetchall()
    return {(r[0], r[1]): LiveTrigger(r[0], r[1], r[2], r[3]) for r in rows}


def read_check_lists(conn: Conn) -> dict[tuple[str, str], CheckList]:
    """Every enumerated CHECK ``ck_<table>__<column>`` of a table (not a partition) in schema public."""
    rows = conn.execute(
        "select r.relname, c.conname, pg_get_constraintdef(c.oid) from pg_constraint c "
        "join pg_class r on r.oid = c.conrelid join pg_namespace n on n.oid = r.relnamespace "
        "where n.nspname = 'public' and c.contype = 'c' and not r.relispartition"
    ).fetchall()
    lists: dict[tuple[str, str], CheckList] = {}
    for table, name, definition in rows:
        match = _ENUM_CHECK.match(definition)
        if match is None:
            continue
        column = match.group("column")
        if name != f"ck_{table}__{column}":
            raise RulesError(f"{table}.{name}: an enumerated CHECK on {column} must be named ck_{table}__{column}")
        values = tuple(v.replace("''", "'") for v in _LITERAL.findall(match.group("values")))
        lists[(table, column)] = CheckList(table, column, values, definition)
    return lists


def guard_lists(definitions: Iterable[str]) -> dict[tuple[str, str], tuple[str, ...]]:
    """Enumerations a trigger checks in place of a CHECK (``ddl.check_rule``): (table, column) -> values."""
    lists: dict[tuple[str, str], tuple[str, ...]] = {}
    for definition in definitions:
        for match in _GUARD_LIST.finditer(definition):
            values = tuple(v.replace("''", "'") for v in _QUOTED.findall(match.group("values")))
            lists[(match.group("table"), match.group("column"))] = values
    return lists


# --- comparison ------------------------------------------------------------------------------------------


@dataclass
class Change:
    """One object whose canonical form differs from the database, and the statements that move it."""

    what: str  # e.g. "function ipam_allocate (changed)"
    source: str  # the canonical file, or where the list lives
    upgrade: list[str] = field(default_factory=list)
    downgrade: list[str] = field(default_factory=list)


def _grant_statements(name: str, identity: str, before: frozenset[str], after: frozenset[str]) -> list[str]:
    target = f"FUNCTION public.{name}({identity})"
    statements = [f"REVOKE ALL ON {target} FROM {role}" for role in sorted(before - after)]
    if added := sorted(after - before):
        statements.append(f"GRANT EXECUTE ON {target} TO {', '.join(added)}")
    return statements


def _replace_trigger(definition: str) -> str:
    return "CREATE OR REPLACE TRIGGER " + definition.removeprefix("CREATE TRIGGER ")


def _single(found: Mapping[str, list[LiveFunction]], name: str, where: str) -> LiveFunction | None:
    signatures = found.get(name, [])
    if len(signatures) > 1:
        raise RulesError(
            f"{where}: function {name} has {len(signatures)} signatures; CREATE OR REPLACE with other argument "
            "types adds an overload instead of replacing it: write that change (DROP FUNCTION, CREATE) by hand"
        )
    return signatures[0] if signatures else None


def _canonical_catalog(
    conn: Conn, homes: Homes, root: Path
) -> tuple[dict[str, list[LiveFunction]], dict[tuple[str, str], LiveTrigger]]:
    """What PostgreSQL prints for the canonical statements: applied in a transaction that is rolled back."""
    with conn.transaction(force_rollback=True):
        conn.execute(f"SET LOCAL ROLE {OWNER_ROLE}")
        conn.execute("SET LOCAL check_function_bodies = off")  # file order need not follow call order
        items: list[Function | Trigger] = [*homes.functions.values(), *homes.triggers.values()]
        for item in items:
            try:
                with conn.transaction():
                    conn.execute(item.sql)
            except psycopg.Error as exc:
                what = f"function {item.name}" if isinstance(item, Function) else f"trigger {item.name}"
                message = (exc.diag.message_primary or str(exc)).strip()
                raise RulesError(f"{item.source.relative_to(root)}: {what}: {message}") from exc
        return read_functions(conn), read_triggers(conn)


def compare(
    conn: Conn, homes: Homes, enums: Mapping[tuple[str, str], type[StrEnum]], *, root: Path = PACKAGE_ROOT
) -> list[Change]:
    """Every difference between the canonical homes (and enumerations) and the database ``conn`` is on.

    Each :class:`Change` carries the statements that make the database canonical (``upgrade``) and the
    ones that restore it as it is now (``downgrade``). Empty means the homes are true. ``conn`` must not be
    in a transaction; nothing is left changed.
    """
    live_functions, live_triggers = read_functions(conn), read_triggers(conn)
    checks = read_check_lists(conn)
    conn.rollback()
    canon_functions, canon_triggers = _canonical_catalog(conn, homes, root)

    dropped_triggers: list[Change] = []
    functions: list[Change] = []
    triggers: list[Change] = []
    dropped_functions: list[Change] = []
    check_changes: list[Change] = []

    for name, function in homes.functions.items():
        source = str(function.source.relative_to(root))
        live = _single(live_functions, name, source)
        canon = _single(canon_functions, name, source)
        assert canon is not None
        if live is None:
            change = Change(f"function {name} (new)", source, [function.sql], [])
            change.upgrade += _grant_statements(name, canon.identity, frozenset({"PUBLIC"}), function.grantees)
            change.downgrade.append(f"DROP FUNCTION public.{name}({canon.identity})")
            functions.append(change)
            continue
        change = Change(f"function {name} (changed)", source)
        if canon.definition != live.definition:
            change.upgrade.append(function.sql)
            change.downgrade.append(live.definition.rstrip("\n"))
        if function.grantees != live.grantees:
            change.what = f"function {name} (changed{'' if change.upgrade else ': who may execute it'})"
            change.upgrade += _grant_statements(name, live.identity, live.grantees, function.grantees)
            change.downgrade += _grant_statements(name, live.identity, function.grantees, live.grantees)
        if change.upgrade:
            functions.append(change)

    for name, signatures in sorted(live_functions.items()):
        if name in homes.functions or name in GENERATED_FUNCTIONS:
            continue
        for live in signatures:
            restore = [live.definition.rstrip("\n")]
            restore += _grant_statements(name, live.identity, frozenset({"PUBLIC"}), live.grantees)
            drop = f"DROP FUNCTION public.{name}({live.identity})"
            dropped_functions.append(Change(f"function {name} (not in any canonical file)", "", [drop], restore))

    for key, trigger in homes.triggers.items():
        source = str(trigger.source.relative_to(root))
        live_trigger = live_triggers.get(key)
        canon_trigger = canon_triggers[key]
        if live_trigger is None:
            drop = f"DROP TRIGGER {trigger.name} ON public.{trigger.table}"
            triggers.append(Change(f"trigger {trigger.name} on {trigger.table} (new)", source, [trigger.sql], [drop]))
        elif live_trigger.definition != canon_trigger.definition:
            triggers.append(
                Change(
                    f"trigger {trigger.name} on {trigger.table} (changed)",
                    source,
                    [trigger.sql],
                    [_replace_trigger(live_trigger.definition)],
                )
            )

    for key, live_trigger in sorted(live_triggers.items()):
        if key in homes.triggers or live_trigger.function in PER_TABLE_TRIGGER_FUNCTIONS:
            continue
        dropped_triggers.append(
            Change(
                f"trigger {live_trigger.name} on {live_trigger.table} (not in any canonical file)",
                "",
                [f"DROP TRIGGER {live_trigger.name} ON public.{live_trigger.table}"],
                [live_trigger.definition],
            )
        )

    for (table, column), enum in enums.items():
        check = checks.get((table, column))
        values = tuple(v.value for v in enum)
        if check is None or check.values == values:
            continue  # no CHECK: the list lives in a trigger rule, part of a function's canonical text
        listed = ", ".join("'" + v.replace("'", "''") + "'" for v in values)
        suffix = " NOT VALID" if check.not_valid else ""
        alter = f"ALTER TABLE {table} DROP CONSTRAINT ck_{table}__{column}, ADD CONSTRAINT ck_{table}__{column}"
        check_changes.append(
            Change(
                f"CHECK list {table}.{column} (changed)",
                f"{enum.__module__}.{enum.__qualname__}",
                [f"{alter} CHECK ({column} IN ({listed})){suffix}"],
                [f"{alter} {check.definition}"],
            )
        )

    return [*dropped_triggers, *functions, *triggers, *dropped_functions, *check_changes]


def upgrade_statements(changes: Iterable[Change]) -> list[str]:
    return [s for change in changes for s in change.upgrade]


def downgrade_statements(changes: Iterable[Change]) -> list[str]:
    """The changes undone in reverse order (a new trigger goes before the new function it runs)."""
    return [s for change in reversed(list(changes)) for s in change.downgrade]
