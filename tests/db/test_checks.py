"""The named rules of the database and what ispops.db.checks says of them are the same rules.

Every ``ck_<table>__<column>`` CHECK in pg_catalog, and every rule a trigger enforces under such a name,
is either a simple rule declared in ``RULES`` with the same bounds, an enumeration of ``COLUMN_ENUMS``, or
said in ``WORDS``; and nothing is declared that the database does not enforce.
"""

from __future__ import annotations

import re

import psycopg
import pytest

from ispops.db.checks import RULES, WORDS, Rule, parse, words
from ispops.db.server import Server, libpq_dsn
from ispops.models.enums import COLUMN_ENUMS

NAME = re.compile(r"^ck_(?P<table>[a-z0-9_]+?)__(?P<column>[a-z0-9_]+)$")
# A rule of a trigger function as ispops.db.ddl.check_rule writes it (migration 0018 and later) …
CHECK_RULE = re.compile(
    r"IF NOT \((?P<cond>(?:(?!\bIF\b).)*?)\) THEN\s+RAISE EXCEPTION (?:(?!\bIF\b).)*?"
    r"CONSTRAINT = '(?P<name>ck_\w+)'",
    re.S,
)
# … or as migration 0010 wrote its first ones: the condition that refuses the value.
REFUSAL = re.compile(
    r"IF (?P<cond>NEW\.\w+ (?:NOT BETWEEN -?\d+ AND -?\d+|IS NOT NULL AND NEW\.\w+ <= -?\d+)) THEN\s+"
    r"RAISE EXCEPTION (?:(?!\bIF\b).)*?CONSTRAINT = '(?P<name>ck_\w+)'",
    re.S,
)


def _refused_as_rule(cond: str) -> str:
    """0010's refusal conditions, turned into the rule they protect."""
    between = re.fullmatch(r"(NEW\.\w+) NOT BETWEEN (-?\d+) AND (-?\d+)", cond)
    if between:
        return f"{between.group(1)} BETWEEN {between.group(2)} AND {between.group(3)}"
    positive = re.fullmatch(r"(NEW\.\w+) IS NOT NULL AND NEW\.\w+ <= (-?\d+)", cond)
    assert positive is not None, cond
    return f"{positive.group(1)} > {positive.group(2)}"


@pytest.fixture(scope="module")
def catalog(server: Server) -> dict[str, list[str]]:
    """Every named rule of the schema: constraint name -> its definitions (a CHECK, trigger rules)."""
    found: dict[str, list[str]] = {}
    with psycopg.connect(libpq_dsn(server.admin_url)) as conn:
        for name, definition in conn.execute(
            "SELECT conname, pg_get_constraintdef(c.oid) FROM pg_constraint c "
            "WHERE c.contype = 'c' AND c.connamespace = 'public'::regnamespace AND c.conname LIKE 'ck\\_%' "
            "AND NOT EXISTS (SELECT 1 FROM pg_inherits i WHERE i.inhrelid = c.conrelid)"
        ):
            found.setdefault(name, []).append(definition)
        for (source,) in conn.execute(
            "SELECT p.prosrc FROM pg_proc p JOIN pg_trigger t ON t.tgfoid = p.oid "
            "WHERE p.pronamespace = 'public'::regnamespace AND p.prosrc LIKE '%CONSTRAINT = ''ck\\_%' "
            "GROUP BY p.prosrc"
        ):
            for m in CHECK_RULE.finditer(source):
                found.setdefault(m.group("name"), []).append(m.group("cond"))
            for m in REFUSAL.finditer(source):
                found.setdefault(m.group("name"), []).append(_refused_as_rule(m.group("cond")))
    return found


def test_the_catalog_was_read(catalog: dict[str, list[str]]) -> None:
    assert "ck_subscribers__billing_cycle_day" in catalog
    assert "ck_ip_pools__vlan_id" in catalog  # a trigger's rule (0018)
    assert "ck_ip_pools__warning_threshold_percent" in catalog  # 0010's form


def test_every_named_rule_is_declared_once_and_the_same(catalog: dict[str, list[str]]) -> None:
    wrong: dict[str, tuple[Rule | None, Rule | None]] = {}
    unsaid: list[str] = []
    for name, definitions in sorted(catalog.items()):
        m = NAME.match(name)
        assert m is not None, name
        table, column = m.group("table"), m.group("column")
        parsed = {parse(column, d) for d in definitions}
        assert len(parsed) == 1, (name, definitions)  # a CHECK and a trigger rule under one name agree
        rule = parsed.pop()
        if rule is None:
            if name not in WORDS:
                unsaid.append(name)
            continue
        assert name not in WORDS, f"{name} is simple: declare it in RULES, not WORDS"
        enum = COLUMN_ENUMS.get((table, column))
        if rule.values is not None and enum is not None:
            assert set(rule.values) == {str(v) for v in enum}, name
            assert name not in RULES, name
            continue
        if RULES.get(name) != rule:
            wrong[name] = (RULES.get(name), rule)
    assert wrong == {}, "declared vs database"
    assert unsaid == [], "rules without words: add them to ispops.db.checks.WORDS"
    assert set(RULES) <= set(catalog), "declared rules the database does not enforce"
    assert set(WORDS) <= set(catalog), "words for rules the database does not have"
    assert all(words(name) for name in catalog)


EMAIL_CHECK = "CHECK (((x)::text ~ '^[^@[:space:]]+@[^@[:space:]]+$'::text))"


@pytest.mark.parametrize(
    ("column", "definition", "rule"),
    [
        ("day", "CHECK (((day >= 1) AND (day <= 28)))", Rule(ge=1, le=28)),
        ("vlan_id", "NEW.vlan_id BETWEEN 1 AND 4094", Rule(ge=1, le=4094)),
        (
            "x",
            "CHECK (((x IS NULL) OR ((x >= ('-50'::integer)::numeric) AND (x <= (10)::numeric))))",
            Rule(ge=-50, le=10),
        ),
        ("x", "CHECK (((length(x) >= 8) AND (length(x) <= 128)))", Rule(min_length=8, max_length=128)),
        ("x", EMAIL_CHECK, Rule(pattern="^[^@[:space:]]+@[^@[:space:]]+$")),
        ("x", "CHECK ((x = ANY (ARRAY['a'::text, 'b''c'::text])))", Rule(values=("a", "b'c"))),
        ("x", "CHECK (((x IS NULL) OR (x > 0)))", Rule(gt=0)),
        ("x", "CHECK (((x >= 0) AND (y >= 0)))", None),  # two columns
        ("x", "CHECK (((x IS NULL) OR (x <> id)))", None),
        ("x", "CHECK ((jsonb_typeof(x) = 'object'::text))", None),
    ],
)
def test_parse(column: str, definition: str, rule: Rule | None) -> None:
    assert parse(column, definition) == rule


def test_words() -> None:
    assert words("ck_subscribers__billing_cycle_day") == "billing_cycle_day must be between 1 and 28"
    assert words("ck_nas__coa_secret") == "coa_secret must be 8 to 128 characters long"
    assert words("ck_subscribers__pppoe_username") == "pppoe_username must not contain control characters"
    assert words("ck_devices__status") == "status must be one of active, inactive, maintenance, failed"
    assert words("not_ours") is None
