"""The seed's special indexes, read back from pg_catalog: GiST on point(lng, lat), live-only uniqueness.

The expectations are lists written here from the seed (database-schema-design.md) and the migrations,
not read from the database: a missing or changed index makes these tests fail. Two cross-checks make a
future table unable to forget: every table with coordinates must be in ``GIST`` (or say why not in
``NO_GIST``), and every table with ``deleted_at`` must be in ``LIVE_UNIQUE`` and keep all its natural
unique keys to live rows.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

import psycopg
import pytest

from ispops.db.server import Server, libpq_dsn

LIVE = "deleted_at IS NULL"

# table -> (longitude column, latitude column, whether the index covers live rows only). The seed
# indexes subscribers' service location over all rows and the others over live rows.
GIST: dict[str, tuple[str, str, bool]] = {
    "subscribers": ("service_location_lng", "service_location_lat", False),
    "devices": ("location_lng", "location_lat", True),
    "splitters": ("location_lng", "location_lat", True),
    "fiber_closures": ("location_lng", "location_lat", True),
    "wireless_towers": ("longitude", "latitude", True),
    "wireless_subscribers": ("install_longitude", "install_latitude", True),
}
# Tables with coordinates and, like the seed, no GiST index.
NO_GIST = {
    "fiber_cables": "a cable has two ends (start_location_*, end_location_*); the seed indexes neither",
    "wireless_sectors": "coverage_min_lat…: a bounding box, GiST-indexed as a box (idx_wireless_sectors_coverage)",
    "wireless_leads": "listed by time; nothing looks leads up by place",
}

# Every table with soft delete -> its natural unique keys (index key columns as PostgreSQL prints them).
# Each must be a unique index whose predicate is `deleted_at IS NULL` (plus `<key> IS NOT NULL` for an
# optional key), so a deleted row never blocks a new live one.
LIVE_UNIQUE: dict[str, set[tuple[str, ...]]] = {
    "tenants": {("slug",), ("lower(domain::text)",)},
    "users": {("tenant_id", "lower(email::text)"), ("tenant_id", "username")},
    "customers": {("tenant_id", "customer_number")},
    "bandwidth_profiles": {("tenant_id", "name")},
    "subscribers": {("tenant_id", "subscriber_number"), ("tenant_id", "pppoe_username")},
    "nas": {("nasname",), ("tenant_id", "shortname")},
    "ip_pools": {("tenant_id", "name")},
    "devices": {("tenant_id", "name")},
    "vpn_tunnels": {("tenant_id", "vpn_ip"), ("tenant_id", "tunnel_name")},
    "olts": {("tenant_id", "device_id")},
    "onus": {
        ("tenant_id", "serial_number"),
        ("tenant_id", "pon_port_id", "onu_id"),
        ("tenant_id", "splitter_id", "splitter_port"),
    },
    "splitters": {
        ("tenant_id", "name"),
        ("tenant_id", "parent_splitter_id", "parent_output_port"),
        ("tenant_id", "pon_port_id"),
    },
    "fiber_closures": {("tenant_id", "name")},
    "fiber_cables": {("tenant_id", "cable_name")},
    "wireless_towers": {("tenant_id", "name")},
    "wireless_sectors": {("tenant_id", "tower_id", "name")},
    "wireless_subscribers": {("tenant_id", "lower(cpe_mac::text)")},
    "wireless_leads": set(),  # no natural key: every enquiry is its own
    "automation_endpoints": set(),  # no natural key: a tenant may register several AWX or NetBox endpoints
    "webhook_endpoints": set(),  # no natural key: a tenant may send the same events to several URLs
    "platform_operators": {("lower(email::text)",)},
}
# Technical keys, not natural ones: the primary key and what composite tenant foreign keys point at.
SURROGATE_KEYS = {("id",), ("tenant_id", "id")}

POINT = re.compile(r"^point\((\w+)(?:::[a-z ]+)?, (\w+)(?:::[a-z ]+)?\)$")


@dataclass(frozen=True)
class Index:
    table: str
    name: str
    method: str
    unique: bool
    keys: tuple[str, ...]
    predicate: str | None


def read_indexes(conn: psycopg.Connection[tuple[object, ...]]) -> list[Index]:
    rows = conn.execute(
        """
        select t.relname, i.relname, am.amname, ix.indisunique,
               array(select pg_get_indexdef(ix.indexrelid, k, true)
                       from generate_series(1, ix.indnkeyatts) k order by k),
               pg_get_expr(ix.indpred, ix.indrelid, true)
          from pg_index ix
          join pg_class i on i.oid = ix.indexrelid
          join pg_class t on t.oid = ix.indrelid
          join pg_namespace n on n.oid = t.relnamespace
          join pg_am am on am.oid = i.relam
         where n.nspname = 'public' and not t.relispartition
        """
    ).fetchall()
    indexes = []
    for table, name, method, unique, keys, predicate in rows:
        assert isinstance(keys, list)
        indexes.append(
            Index(
                str(table),
                str(name),
                str(method),
                bool(unique),
                tuple(str(k) for k in keys),
                None if predicate is None else str(predicate),
            )
        )
    return indexes


def tables_with_column(conn: psycopg.Connection[tuple[object, ...]], pattern: str) -> set[str]:
    rows = conn.execute(
        "select distinct c.relname from pg_attribute a join pg_class c on c.oid = a.attrelid "
        "join pg_namespace n on n.oid = c.relnamespace where n.nspname = 'public' and c.relkind in ('r', 'p') "
        "and not c.relispartition and a.attnum > 0 and not a.attisdropped and a.attname ~ %s",
        (pattern,),
    ).fetchall()
    return {str(r[0]) for r in rows}


def live_only(index: Index) -> bool:
    """The predicate is `deleted_at IS NULL`, optionally with `<key column> IS NOT NULL` conditions."""
    if index.predicate is None:
        return False
    first, *rest = index.predicate.split(" AND ")
    return first == LIVE and all(
        c.endswith(" IS NOT NULL") and c.removesuffix(" IS NOT NULL") in index.keys for c in rest
    )


def gist_problems(indexes: list[Index]) -> list[str]:
    problems = []
    for table, (lng, lat, live) in sorted(GIST.items()):
        found = [
            i
            for i in indexes
            if i.table == table
            and i.method == "gist"
            and len(i.keys) == 1
            and (m := POINT.match(i.keys[0])) is not None
            and m.groups() == (lng, lat)
        ]
        if not found:
            problems.append(f"{table}: no GiST index on point({lng}, {lat})")
        elif [i.predicate for i in found] != [LIVE if live else None]:
            problems.append(f"{table}: GiST point({lng}, {lat}) predicate is {[i.predicate for i in found]}")
    return problems


def live_unique_problems(indexes: list[Index]) -> list[str]:
    problems = []
    for table, keys in sorted(LIVE_UNIQUE.items()):
        unique = [i for i in indexes if i.table == table and i.unique]
        for key in sorted(keys):
            if not any(i.keys == key and live_only(i) for i in unique):
                problems.append(f"{table}: no unique index on ({', '.join(key)}) WHERE {LIVE}")
        for i in unique:  # uniqueness of a natural key never reaches deleted rows
            if i.keys not in SURROGATE_KEYS and not live_only(i):
                problems.append(f"{table}: {i.name} on ({', '.join(i.keys)}) also applies to deleted rows")
    return problems


@pytest.fixture
def catalog(server: Server) -> Iterator[psycopg.Connection[tuple[object, ...]]]:
    """An admin connection to the session database; whatever a test does in it is rolled back."""
    with psycopg.connect(libpq_dsn(server.admin_url)) as conn:
        try:
            yield conn
        finally:
            conn.rollback()


def test_gist_point_indexes_of_the_seed_exist(catalog: psycopg.Connection[tuple[object, ...]]) -> None:
    assert gist_problems(read_indexes(catalog)) == []


def test_every_table_with_coordinates_is_covered(catalog: psycopg.Connection[tuple[object, ...]]) -> None:
    with_coordinates = tables_with_column(catalog, r"(^|_)(lat|latitude)$")
    assert with_coordinates == set(GIST) | set(NO_GIST)


def test_natural_keys_are_unique_among_live_rows_only(catalog: psycopg.Connection[tuple[object, ...]]) -> None:
    assert live_unique_problems(read_indexes(catalog)) == []


def test_every_soft_deleted_table_is_listed(catalog: psycopg.Connection[tuple[object, ...]]) -> None:
    assert tables_with_column(catalog, r"^deleted_at$") == set(LIVE_UNIQUE)


def test_the_checks_catch_missing_and_wrong_indexes(catalog: psycopg.Connection[tuple[object, ...]]) -> None:
    """The same checks on a broken schema (inside a transaction that is rolled back) report each break."""
    catalog.execute("DROP INDEX idx_devices_location")
    catalog.execute("DROP INDEX idx_wireless_towers_location")
    catalog.execute(
        "CREATE INDEX idx_wireless_towers_location ON wireless_towers USING gist (point(latitude, longitude))"
    )
    catalog.execute("DROP INDEX uq_tenants__slug")
    catalog.execute("CREATE UNIQUE INDEX uq_tenants__slug ON tenants (slug)")
    catalog.execute("DROP INDEX uq_onus__tenant_id__serial_number")
    indexes = read_indexes(catalog)

    assert gist_problems(indexes) == [
        "devices: no GiST index on point(location_lng, location_lat)",
        "wireless_towers: no GiST index on point(longitude, latitude)",  # lat/lng swapped is not it
    ]
    assert live_unique_problems(indexes) == [
        "onus: no unique index on (tenant_id, serial_number) WHERE deleted_at IS NULL",
        "tenants: no unique index on (slug) WHERE deleted_at IS NULL",
        "tenants: uq_tenants__slug on (slug) also applies to deleted rows",
    ]
