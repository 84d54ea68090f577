"""User names RADIUS can match: undo rlm_sql's escaping, refuse control characters (issue 13, item 5).

rlm_sql does not hand a value to a query as it is. FreeRADIUS first prints it C-style (``\\`` for a
backslash, ``\\"`` for a double quote, ``\\t``, ``\\n``, ``\\r``, ``\\NNN`` in octal for other control
characters), then rlm_sql writes every byte outside its safe set (letters, digits, ``@.-_: /``) as ``=XX``
in hexadecimal. So the user ``o'brien`` reached our functions as ``o=27brien`` and ``CORP\\bob`` as
``CORP=5C=5Cbob``: the lookup found nobody, and accounting stored the mangled name with no subscriber.
Multi-byte UTF-8 characters pass unchanged.

``ispops_radius_name(text)`` undoes both steps; the rendered queries wrap every ``%{SQL-User-Name}`` in it
(``src/ispops/radius/raddb/mods-enabled/sql``), so every name the API accepts authenticates and is
accounted under its own spelling. A name without ``=`` was never escaped and is returned at once (the
common case costs one ``strpos``). The escaping itself stays: it is what keeps a quote from ending the SQL
string literal.

Control characters (below U+0020, and U+007F) can no longer be stored in a user name
(``subscribers.pppoe_username``, ``radcheck.username``, ``radreply.username``): no NAS user types them and
they break log lines. The upgrade refuses to run while such names exist, naming how many.

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-07
"""

from __future__ import annotations

from ispops.db.ddl import steps

revision = "0026"
down_revision = "0025"
branch_labels = None
depends_on = None

NAME = r"""
CREATE FUNCTION ispops_radius_name(p text) RETURNS text
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $$
-- A value as rlm_sql put it into a query (see migration 0026), back to what the NAS sent.
DECLARE
  s text := '';
  res text := '';
  i integer := 1;
  n integer;
  c text;
BEGIN
  IF strpos(p, '=') = 0 THEN
    RETURN p;  -- nothing was escaped: the C-style step's backslash would have become =5C
  END IF;
  -- 1. rlm_sql: "=XX" (upper-case hex) is one byte outside the safe set.
  n := length(p);
  WHILE i <= n LOOP
    c := substr(p, i, 1);
    IF c = '=' AND substr(p, i + 1, 2) ~ '^[0-9A-F]{2}$' THEN
      s := s || chr(('x' || substr(p, i + 1, 2))::bit(8)::integer);
      i := i + 3;
    ELSE
      s := s || c;
      i := i + 1;
    END IF;
  END LOOP;
  IF strpos(s, E'\\') = 0 THEN
    RETURN s;
  END IF;
  -- 2. FreeRADIUS's C-style printing: \\ \" \t \n \r \NNN.
  n := length(s);
  i := 1;
  WHILE i <= n LOOP
    c := substr(s, i, 1);
    IF c = E'\\' AND i < n THEN
      c := substr(s, i + 1, 1);
      IF c = 't' THEN
        res := res || chr(9);
        i := i + 2;
      ELSIF c = 'n' THEN
        res := res || chr(10);
        i := i + 2;
      ELSIF c = 'r' THEN
        res := res || chr(13);
        i := i + 2;
      ELSIF substr(s, i + 1, 3) ~ '^[0-3][0-7]{2}$' AND substr(s, i + 1, 3) <> '000' THEN
        res := res || chr((substr(s, i + 1, 1)::integer * 64) + (substr(s, i + 2, 1)::integer * 8)
                          + substr(s, i + 3, 1)::integer);
        i := i + 4;
      ELSE
        res := res || c;  -- \\ and \" stand for the character itself
        i := i + 2;
      END IF;
    ELSE
      res := res || c;
      i := i + 1;
    END IF;
  END LOOP;
  RETURN res;
END $$
"""

# Where a user name is stored: (table, column, the CHECK it had before). One CHECK each, named
# ck_<table>__<column> so the API's 422 names the field.
NAME_COLUMNS = [
    ("subscribers", "pppoe_username", None),
    ("radcheck", "username", "length(username) BETWEEN 1 AND 253"),
    ("radreply", "username", "length(username) BETWEEN 1 AND 253"),
]
NO_CONTROL = "{column} !~ '[\\x01-\\x1f\\x7f]'"


def _refuse_existing(table: str, column: str) -> str:
    return f"""
DO $$
DECLARE n bigint;
BEGIN
  SELECT count(*) INTO n FROM {table} WHERE ({NO_CONTROL.format(column=column)}) IS FALSE;
  IF n > 0 THEN
    RAISE EXCEPTION '{table}.{column}: % row(s) hold control characters, which RADIUS cannot match; '
                    'rename them before upgrading (migration 0026)', n;
  END IF;
END $$
"""


def _constraint(table: str, column: str, expr: str | None) -> str:
    return f"ALTER TABLE {table} ADD CONSTRAINT ck_{table}__{column} CHECK ({expr})"


UPGRADE = [
    NAME,
    "REVOKE ALL ON FUNCTION ispops_radius_name(text) FROM PUBLIC",
    "GRANT EXECUTE ON FUNCTION ispops_radius_name(text) TO ispops_radius",
]
DOWNGRADE: list[str] = []
for _table, _column, _before in NAME_COLUMNS:
    _rule = NO_CONTROL.format(column=_column)
    UPGRADE.append(_refuse_existing(_table, _column))
    if _before is not None:
        UPGRADE.append(f"ALTER TABLE {_table} DROP CONSTRAINT ck_{_table}__{_column}")
        _rule = f"{_before} AND {_rule}"
        DOWNGRADE += [
            f"ALTER TABLE {_table} DROP CONSTRAINT ck_{_table}__{_column}",
            _constraint(_table, _column, _before),
        ]
    else:
        DOWNGRADE.append(f"ALTER TABLE {_table} DROP CONSTRAINT ck_{_table}__{_column}")
    UPGRADE.append(_constraint(_table, _column, _rule))
DOWNGRADE.append("DROP FUNCTION ispops_radius_name(text)")

upgrade, downgrade = steps(UPGRADE, DOWNGRADE)
