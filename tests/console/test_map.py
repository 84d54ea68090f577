"""The network map (/console/map): its features against the database, tenant scoping, the tile setting,
and in a real browser: every demo feature drawn, nothing requested from any other host."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

import httpx
import psycopg
from playwright.sync_api import Page, Route, expect

from ispops.console import map_data
from ispops.console.pages.network_map import href, tile_host
from ispops.db.session import Database
from tests.console.conftest import console_login, signed_in
from tests.console.plant_seed import FIBRE, WISP, flagged_onu, seed, staff

# What each layer should hold, counted straight from the tables (as the admin, past RLS, per tenant).
EXPECTED = {
    "tower": "select count(*) from wireless_towers where tenant_id = %s and deleted_at is null",
    "sector": "select count(*) from wireless_sectors where tenant_id = %s and deleted_at is null"
    " and coverage_area_geojson is not null",
    "splitter": "select count(*) from splitters where tenant_id = %s and deleted_at is null"
    " and location_lat is not null and location_lng is not null",
    "closure": "select count(*) from fiber_closures where tenant_id = %s and deleted_at is null"
    " and location_lat is not null",
    "cable": "select count(*) from fiber_cables where tenant_id = %s and deleted_at is null"
    " and geojson_path is not null",
    "device": "select count(*) from devices where tenant_id = %s and deleted_at is null and location_lat is not null",
    # An ONU is placed at its drop's end or its subscriber's address: an unconfigured one (the demo's found
    # ONU) has neither, so it is not on the map. Every demo subscriber has an address.
    "onu": "select count(*) from onus where tenant_id = %s and deleted_at is null and status <> 'retired'"
    " and subscriber_id is not null",
}


def expected_counts(admin: psycopg.Connection[Any], tenant: str) -> dict[str, int]:
    out = {}
    for kind, sql in EXPECTED.items():
        row = admin.execute(sql, (tenant,)).fetchone()
        assert row is not None
        out[kind] = int(row[0])
    return out


def test_the_features_are_the_tenants_rows(db: Database, admin: psycopg.Connection[Any]) -> None:
    seed(db)
    admin.execute("update devices set operational_status = 'offline' where tenant_id = %s and name = 'olt-1'", (FIBRE,))
    with db.tenant(FIBRE, enforce_status=False) as s:
        mine = map_data.features(s, FIBRE, href)
    with db.tenant(WISP, enforce_status=False) as s:
        theirs = map_data.features(s, WISP, href)
    expected = expected_counts(admin, FIBRE)
    assert all(n > 0 for n in expected.values()), expected
    assert map_data.counts(mine) == expected
    assert {f["id"] for f in mine["features"]}.isdisjoint({f["id"] for f in theirs["features"]})
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for f in mine["features"]:
        by_kind.setdefault(f["properties"]["kind"], []).append(f)
    # ONUs coloured by light: the demo's one ONU 5 dB down is critical (GPON B+: at or below -27 dBm).
    health = sorted(f["properties"]["health"] for f in by_kind["onu"])
    assert health == ["critical"] + ["ok"] * (len(health) - 1)
    # Devices offline are marked; every feature links to its console page.
    assert [f["properties"]["name"] for f in by_kind["device"] if f["properties"]["offline"]] == ["olt-1"]
    assert all(f["properties"]["href"].startswith("/console/ftth/onus/") for f in by_kind["onu"])
    assert all(f["properties"]["href"].startswith("/console/ftth/pon/") for f in by_kind["splitter"])
    assert all(f["geometry"]["type"] == "Polygon" for f in by_kind["sector"])
    assert all(f["geometry"]["type"] == "LineString" for f in by_kind["cable"])


def test_an_onu_sits_where_its_drop_ends(db: Database, admin: psycopg.Connection[Any]) -> None:
    seed(db)
    row = admin.execute(
        "select o.id, c.geojson_path -> 'coordinates' -> -1 from onus o"
        " join fiber_links l on l.tenant_id = o.tenant_id and l.onu_id = o.id"
        " join fiber_strands st on st.tenant_id = l.tenant_id and st.id = l.strand_id"
        " join fiber_cables c on c.tenant_id = st.tenant_id and c.id = st.cable_id"
        " where o.tenant_id = %s limit 1",
        (FIBRE,),
    ).fetchone()
    assert row is not None
    with db.tenant(FIBRE, enforce_status=False) as s:
        onus = {f["properties"]["id"]: f for f in map_data.features(s, FIBRE, href)["features"]}
    assert onus[str(row[0])]["geometry"]["coordinates"] == row[1]


def test_the_onu_layer_is_capped(db: Database) -> None:
    seed(db)
    with db.tenant(FIBRE, enforce_status=False) as s:
        capped = map_data.features(s, FIBRE, href, max_onus=3)
    assert map_data.counts(capped)["onu"] == 3 and capped["truncated"] is True


def test_the_tile_source_is_the_tenants_setting(db: Database, admin: psycopg.Connection[Any]) -> None:
    seed(db)
    with db.tenant(FIBRE, enforce_status=False) as s:
        assert map_data.tile_source(s, FIBRE) is None  # the default: none
    for bad in ("javascript:alert(1)", "https://tiles.example/no-placeholders.png", 42):
        admin.execute(
            "update tenants set settings = jsonb_set(settings, '{map}', jsonb_build_object('tile_url', %s::jsonb))"
            " where id = %s",
            (psycopg.types.json.Jsonb(bad), FIBRE),
        )
        with db.tenant(FIBRE, enforce_status=False) as s:
            assert map_data.tile_source(s, FIBRE) is None, bad
    url = "https://{s}.tiles.example/{z}/{x}/{y}.png"
    admin.execute(
        "update tenants set settings = jsonb_set(settings, '{map}', %s) where id = %s",
        (psycopg.types.json.Jsonb({"tile_url": url, "attribution": "Example"}), FIBRE),
    )
    with db.tenant(FIBRE, enforce_status=False) as s:
        assert map_data.tile_source(s, FIBRE) == {"url": url, "attribution": "Example"}
    with db.tenant(WISP, enforce_status=False) as s:
        assert map_data.tile_source(s, WISP) is None  # another tenant's setting is its own
    assert tile_host(url) == "https://*.tiles.example"
    assert tile_host("http://127.0.0.1:9000/{z}/{x}/{y}.png") == "http://127.0.0.1:9000"


def test_the_map_draws_every_demo_feature_and_asks_no_other_host(
    page: Page, db: Database, admin: psycopg.Connection[Any]
) -> None:
    seed(db)
    requested: list[str] = []
    outside: list[str] = []

    def guard(route: Route) -> None:
        host = urlsplit(route.request.url).hostname
        if host != "127.0.0.1":
            outside.append(route.request.url)
            route.abort()
        else:
            route.continue_()

    page.on("request", lambda r: requested.append(r.url))
    page.context.route("**/*", guard)
    console_login(page, staff(db, FIBRE, "field_tech"))
    page.goto("/console/map")
    drawn = page.locator("#network-map[data-drawn]")
    expect(drawn).to_have_count(1)
    expected = expected_counts(admin, FIBRE)
    assert drawn.get_attribute("data-drawn") == str(sum(expected.values()))
    for kind, n in expected.items():
        expect(page.locator(f"#network-map path.ispops-f-{kind}")).to_have_count(n)
    expect(page.locator("#network-map path.ispops-health-critical")).to_have_count(1)
    # Click through: the faulty ONU's popup links to its page.
    page.locator("#network-map path.ispops-health-critical").dispatch_event("click")
    link = page.locator(".leaflet-popup-content a")
    _, serial = flagged_onu(db, FIBRE)
    expect(link).to_have_text(serial)
    link.click()
    page.wait_for_url(re.compile(r".*/console/ftth/onus/[0-9a-f-]{36}$"))
    expect(page.get_by_role("heading", name=f"ONU {serial}")).to_be_visible()
    assert outside == [], outside
    assert requested and all(urlsplit(u).hostname == "127.0.0.1" for u in requested)
    assert not any("/tiles/" in u for u in requested)  # no tile source: no tiles


def test_a_tile_source_is_used_when_the_tenant_sets_one(
    page: Page, console_url: str, db: Database, admin: psycopg.Connection[Any]
) -> None:
    seed(db)
    tiles = f"{console_url}/tiles/{{z}}/{{x}}/{{y}}.png"
    admin.execute(
        "update tenants set settings = jsonb_set(settings, '{map}', %s) where id = %s",
        (psycopg.types.json.Jsonb({"tile_url": tiles, "attribution": "Local tiles"}), FIBRE),
    )
    asked: list[str] = []
    page.on("request", lambda r: asked.append(r.url) if "/tiles/" in r.url else None)
    console_login(page, staff(db, FIBRE, "support_agent"))
    response = page.goto("/console/map")
    assert response is not None
    assert f"img-src 'self' {console_url}" in response.headers["content-security-policy"]
    expect(page.locator("#network-map[data-drawn]")).to_have_count(1)
    expect(page.locator(".leaflet-control-attribution")).to_contain_text("Local tiles")
    page.wait_for_function("document.querySelectorAll('#network-map img.leaflet-tile').length > 0")
    assert asked and all(u.startswith(f"{console_url}/tiles/") for u in asked)


def test_the_features_endpoint_is_the_signed_in_tenants(console_url: str, db: Database) -> None:
    seed(db)
    client = signed_in(console_url, staff(db, FIBRE, "support_agent"))
    mine = client.get("/console/map/features.geojson")
    theirs = signed_in(console_url, staff(db, WISP, "support_agent")).get("/console/map/features.geojson")
    assert mine.status_code == theirs.status_code == 200
    assert mine.headers["content-type"] == "application/geo+json"
    a, b = mine.json(), theirs.json()
    assert a["type"] == "FeatureCollection" and a["features"]
    assert {f["id"] for f in a["features"]}.isdisjoint({f["id"] for f in b["features"]})
    with db.tenant(FIBRE, enforce_status=False) as s:
        assert a["features"] == map_data.features(s, FIBRE, href)["features"]
    assert httpx.get(f"{console_url}/console/map/features.geojson", follow_redirects=False).status_code == 303
    # Every kind's popup link opens a console page of this tenant.
    first: dict[str, str | None] = {}
    for f in a["features"]:
        first.setdefault(f["properties"]["kind"], f["properties"]["href"])
    assert set(first) == set(map_data.KINDS)
    for kind, link in first.items():
        assert link is not None, kind
        assert client.get(link.split("#")[0]).status_code == 200, (kind, link)
