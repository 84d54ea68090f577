"""The vpn_tunnels API: creation through the VPN service, config download, rotation, handshakes.

Every route: another tenant gets 404 and changes nothing; a failing secret store leaves nothing
half-written; the private key appears only inside a rendered peer config."""

from __future__ import annotations

import datetime as dt
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from ispops.db.session import Database
from ispops.vpn import keys
from tests.api.conftest import TokenFor
from tests.factories import snapshot
from tests.vpn.conftest import HUB_KEY, FlakyStore, World, add_pool, tunnel_body

URL = "/api/v1/vpn_tunnels"


def create(client: TestClient, headers: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
    response = client.post(URL, json=body, headers=headers)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


def private_key(store: FlakyStore, tunnel: dict[str, Any]) -> str:
    return store.get(tunnel["private_key_vault_path"]).decode()


def allocations(admin: psycopg.Connection[Any], tenant: str) -> list[tuple[Any, ...]]:
    return admin.execute(
        "select host(ip_address), status from ip_allocations where tenant_id = %s and ip_pool_id in "
        "(select id from ip_pools where name = 'vpn') order by ip_address",
        (tenant,),
    ).fetchall()


def test_create_generates_keys_and_allocates(
    client: TestClient, world: World, store: FlakyStore, auth: TokenFor, admin: psycopg.Connection[Any]
) -> None:
    noc = auth("tenant-a", "noc_engineer")
    tunnel = create(client, noc, tunnel_body(world))
    # 10.99.0.1 is the hub (gateway); 10.99.0.2 is held by the factory's tunnel: next free is .3
    assert tunnel["vpn_ip"] == "10.99.0.3"
    assert tunnel["vpn_network"] == "10.99.0.0/24"
    assert tunnel["status"] == "configured" and tunnel["config_generated_at"]
    assert tunnel["config_downloaded_at"] is None
    path = tunnel["private_key_vault_path"]
    assert path.startswith(f"tenants/tenant-a/vpn/{tunnel['id']}/private_key-")
    key = private_key(store, tunnel)
    assert keys.public_key_of(key) == tunnel["public_key"]
    assert key not in str(tunnel)
    # The factory tunnel's address (made without IPAM) was adopted on the way: accounted for now.
    assert allocations(admin, "tenant-a") == [("10.99.0.2", "allocated"), ("10.99.0.3", "allocated")]
    for tunnel_id in (tunnel["id"], world.a["vpn_tunnels"]):
        row = admin.execute("select ip_allocation_id from vpn_tunnels where id = %s", (tunnel_id,)).fetchone()
        assert row is not None and row[0] is not None
    # The private key is in no row of the database.
    dump = admin.execute("select string_agg(row_to_json(v)::text, '') from vpn_tunnels v").fetchone()
    audit = admin.execute("select string_agg(row_to_json(a)::text, '') from audit_events a").fetchone()
    assert dump is not None and audit is not None
    assert key not in dump[0] and key not in (audit[0] or "")


def test_create_with_requested_address_and_pool_found_by_address(
    client: TestClient, world: World, store: FlakyStore, auth: TokenFor
) -> None:
    admin_headers = auth("tenant-a", "tenant_admin")
    body = tunnel_body(world, vpn_ip="10.99.0.77")
    del body["ip_pool_id"]
    assert create(client, admin_headers, body)["vpn_ip"] == "10.99.0.77"


@pytest.mark.parametrize(
    ("change", "status", "field"),
    [
        ({"vpn_ip": "10.98.0.5"}, 422, "vpn_ip"),  # outside the pool
        ({"vpn_ip": "10.99.0.2"}, 409, "vpn_ip"),  # the factory tunnel has it
        ({"vpn_ip": "10.99.0.1"}, 422, "vpn_ip"),  # the hub (gateway): outside the range
        ({"vpn_ip": "not-an-ip"}, 422, "vpn_ip"),
        ({"device_id": None}, 422, "device_id"),
        ({"server_endpoint": "no port"}, 422, "server_endpoint"),
        ({"server_endpoint": "vpn.example:99999"}, 422, "server_endpoint"),
        ({"server_public_key": "short"}, 422, "server_public_key"),
        ({"tunnel_type": "ipsec"}, 422, "tunnel_type"),
        ({"tunnel_name": "wg-olt-1"}, 409, "tunnel_name"),  # the factory tunnel's name
        ({"persistent_keepalive": 70000}, 422, "persistent_keepalive"),
        ({"vpn_network": "10.50.0.0/24"}, 422, "vpn_network"),  # does not hold the tunnel's address
        ({"vpn_network": "not-a-net"}, 422, "vpn_network"),
    ],
)
def test_bad_input_names_the_field(
    change: dict[str, Any],
    status: int,
    field: str,
    client: TestClient,
    world: World,
    store: FlakyStore,
    auth: TokenFor,
    admin: psycopg.Connection[Any],
) -> None:
    before = snapshot(admin, "tenant-a")
    response = client.post(URL, json=tunnel_body(world, **change), headers=auth("tenant-a", "noc_engineer"))
    assert response.status_code == status, response.text
    assert response.json()["field"] == field
    assert snapshot(admin, "tenant-a") == before
    assert store.secrets() == []


def test_no_pool_named_takes_the_tenants_vpn_pool(
    client: TestClient,
    world: World,
    store: FlakyStore,
    auth: TokenFor,
    db: Database,
    admin: psycopg.Connection[Any],
) -> None:
    noc = auth("tenant-a", "noc_engineer")
    body = tunnel_body(world)
    del body["ip_pool_id"]
    add_pool(db, "tenant-a", "10.97.0.0/24", name="not-for-tunnels", pool_type="static")
    assert create(client, noc, body)["vpn_ip"] == "10.99.0.3"  # the one vpn pool, not the static one
    add_pool(db, "tenant-a", "10.96.0.0/24", name="vpn-east")
    before = snapshot(admin, "tenant-a")
    response = client.post(URL, json={**body, "tunnel_name": "wg-2"}, headers=noc)
    assert (response.status_code, response.json()["field"]) == (422, "ip_pool_id")
    assert "vpn, vpn-east" in response.json()["detail"]  # several: the client must choose
    assert snapshot(admin, "tenant-a") == before
    # An address says which pool.
    assert create(client, noc, {**body, "tunnel_name": "wg-2", "vpn_ip": "10.96.0.9"})["vpn_ip"] == "10.96.0.9"


def test_no_vpn_pool_is_a_422_naming_ip_pool_id(
    client: TestClient, world: World, store: FlakyStore, auth: TokenFor, admin: psycopg.Connection[Any]
) -> None:
    admin.execute("update ip_pools set pool_type = 'static' where tenant_id = 'tenant-a' and id = %s", (world.pool_a,))
    body = tunnel_body(world)
    del body["ip_pool_id"]
    before = snapshot(admin, "tenant-a")
    response = client.post(URL, json=body, headers=auth("tenant-a", "noc_engineer"))
    assert (response.status_code, response.json()["field"]) == (422, "ip_pool_id")
    assert "no active pool of type vpn" in response.json()["detail"]
    assert snapshot(admin, "tenant-a") == before
    assert store.secrets() == []


def test_a_vpn_pool_is_not_handed_to_subscribers(
    client: TestClient, world: World, store: FlakyStore, auth: TokenFor, admin: psycopg.Connection[Any]
) -> None:
    noc = auth("tenant-a", "noc_engineer")
    before = snapshot(admin, "tenant-a")
    response = client.post(
        f"/api/v1/ip_pools/{world.pool_a}/allocate", json={"subscriber_id": world.a["subscribers"]}, headers=noc
    )
    assert (response.status_code, response.json()["field"]) == (409, "pool_type")
    assert "not handed to subscribers" in response.json()["detail"]
    assert snapshot(admin, "tenant-a") == before
    # Without a subscriber (the hub's own address, say) it is an ordinary allocation...
    response = client.post(f"/api/v1/ip_pools/{world.pool_a}/allocate", json={}, headers=noc)
    assert response.status_code in (200, 201), response.text
    # ...which is not given to a subscriber afterwards either.
    before = snapshot(admin, "tenant-a")
    patched = client.patch(
        f"/api/v1/ip_allocations/{response.json()['id']}", json={"subscriber_id": world.a["subscribers"]}, headers=noc
    )
    assert (patched.status_code, patched.json()["field"]) == (409, "pool_type"), patched.text
    assert "is vpn" in patched.json()["detail"]
    assert snapshot(admin, "tenant-a") == before


def test_a_pool_subscribers_hold_addresses_in_does_not_become_vpn(
    client: TestClient,
    world: World,
    store: FlakyStore,
    auth: TokenFor,
    db: Database,
    admin: psycopg.Connection[Any],
) -> None:
    noc = auth("tenant-a", "noc_engineer")
    pool = add_pool(db, "tenant-a", "10.95.0.0/24", name="customers", pool_type="static")
    held = client.post(f"/api/v1/ip_pools/{pool}/allocate", json={"subscriber_id": world.a["subscribers"]}, headers=noc)
    assert held.status_code in (200, 201), held.text
    before = snapshot(admin, "tenant-a")
    for new_type in ("vpn", "reserved"):
        r = client.patch(f"/api/v1/ip_pools/{pool}", json={"pool_type": new_type}, headers=noc)
        assert (r.status_code, r.json()["field"]) == (409, "pool_type"), r.text
        assert "subscribers hold addresses in pool customers" in r.json()["detail"]
    assert snapshot(admin, "tenant-a") == before
    # A refused value says why (the rule's own words, not just the constraint's name).
    r = client.patch(f"/api/v1/ip_pools/{pool}", json={"vlan_id": 5000}, headers=noc)
    assert (r.status_code, r.json()["field"]) == (422, "vlan_id"), r.text
    assert "between 1 and 4094" in r.json()["detail"]
    assert client.post(f"/api/v1/ip_allocations/{held.json()['id']}/release", headers=noc).status_code == 200
    assert client.patch(f"/api/v1/ip_pools/{pool}", json={"pool_type": "vpn"}, headers=noc).status_code == 200


def test_other_tenants_device_or_pool(client: TestClient, world: World, store: FlakyStore, auth: TokenFor) -> None:
    noc = auth("tenant-a", "noc_engineer")
    response = client.post(URL, json=tunnel_body(world, device_id=world.b["devices"]), headers=noc)
    assert (response.status_code, response.json()["field"]) == (422, "device_id")
    response = client.post(URL, json=tunnel_body(world, ip_pool_id=world.pool_b), headers=noc)
    assert (response.status_code, response.json()["field"]) == (422, "ip_pool_id")
    assert store.secrets() == []


def test_exhausted_pool_is_409_naming_the_pool(
    client: TestClient, world: World, store: FlakyStore, auth: TokenFor, db: Database
) -> None:
    small = add_pool(db, "tenant-a", "10.98.0.0/29", name="tiny")  # hub .1, peers .2 - .6
    noc = auth("tenant-a", "noc_engineer")
    made = [create(client, noc, tunnel_body(world, ip_pool_id=small, tunnel_name=f"t{i}"))["vpn_ip"] for i in range(5)]
    assert made == [f"10.98.0.{i}" for i in range(2, 7)]
    response = client.post(URL, json=tunnel_body(world, ip_pool_id=small, tunnel_name="t6"), headers=noc)
    assert response.status_code == 409
    assert response.json()["field"] == "ip_pool_id" and "tiny" in response.json()["detail"]


def test_store_failure_on_create_writes_nothing(
    client: TestClient, world: World, store: FlakyStore, auth: TokenFor, admin: psycopg.Connection[Any]
) -> None:
    before = snapshot(admin, "tenant-a")
    store.fail = frozenset({"put"})
    response = client.post(URL, json=tunnel_body(world), headers=auth("tenant-a", "noc_engineer"))
    assert response.status_code == 503
    assert response.json()["code"] == "secret_store_unavailable"
    assert snapshot(admin, "tenant-a") == before
    assert store.secrets() == []


def test_download_wg_quick_records_and_audits(
    client: TestClient, world: World, store: FlakyStore, auth: TokenFor, admin: psycopg.Connection[Any]
) -> None:
    noc = auth("tenant-a", "noc_engineer")
    tunnel = create(client, noc, tunnel_body(world))
    response = client.get(f"{URL}/{tunnel['id']}/config", headers=noc)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    assert response.headers["cache-control"] == "no-store"
    assert 'filename="wg-router-1.conf"' in response.headers["content-disposition"]
    key = private_key(store, tunnel)
    assert f"PrivateKey = {key}\n" in response.text
    assert f"PublicKey = {HUB_KEY}\n" in response.text
    assert "Address = 10.99.0.3/24\n" in response.text
    after = client.get(f"{URL}/{tunnel['id']}", headers=noc).json()
    assert after["config_downloaded_at"] is not None
    assert key not in str(after)
    events = admin.execute(
        "select changes::text from audit_events where entity = 'vpn_tunnels' and entity_id = %s and action = 'action'",
        (tunnel["id"],),
    ).fetchall()
    assert len(events) == 1 and "download_config" in events[0][0] and key not in events[0][0]


def test_the_peer_config_is_given_once_per_key(
    client: TestClient, world: World, store: FlakyStore, auth: TokenFor, admin: psycopg.Connection[Any]
) -> None:
    noc = auth("tenant-a", "noc_engineer")
    tunnel = create(client, noc, tunnel_body(world))
    url = f"{URL}/{tunnel['id']}/config"
    assert client.get(url, headers=noc).status_code == 200
    first = client.get(f"{URL}/{tunnel['id']}", headers=noc).json()["config_downloaded_at"]
    for fmt in ("wg-quick", "routeros"):
        again = client.get(url, params={"format": fmt}, headers=noc)
        assert (again.status_code, again.json()["field"]) == (409, "config_downloaded_at")
        assert "rotate" in again.json()["detail"] and private_key(store, tunnel) not in again.text
    assert client.get(url, params={"format": "hub-peer"}, headers=noc).status_code == 200  # no secret in it
    assert client.get(f"{URL}/{tunnel['id']}", headers=noc).json()["config_downloaded_at"] == first
    downloads = admin.execute(
        "select count(*) from audit_events where entity = 'vpn_tunnels' and entity_id = %s "
        "and changes->>'action' = 'download_config'",
        (tunnel["id"],),
    ).fetchone()
    assert downloads == (1,)
    # A new key is a new config, given once again.
    assert client.post(f"{URL}/{tunnel['id']}/rotate", headers=noc).status_code == 200
    config = client.get(url, params={"format": "routeros"}, headers=noc)
    assert config.status_code == 200 and "private-key=" in config.text
    assert client.get(url, headers=noc).status_code == 409


def test_download_routeros_and_hub_peer(client: TestClient, world: World, store: FlakyStore, auth: TokenFor) -> None:
    noc = auth("tenant-a", "noc_engineer")
    tunnel = create(client, noc, tunnel_body(world))
    key = private_key(store, tunnel)
    ros = client.get(f"{URL}/{tunnel['id']}/config", params={"format": "routeros"}, headers=noc)
    assert ros.status_code == 200
    assert f'private-key="{key}"' in ros.text and "endpoint-address=vpn.isp.example endpoint-port=51820" in ros.text
    assert ros.headers["content-disposition"].endswith('.rsc"')
    hub = client.get(f"{URL}/{tunnel['id']}/config", params={"format": "hub-peer"}, headers=noc)
    assert hub.status_code == 200
    assert key not in hub.text and f"PublicKey = {tunnel['public_key']}" in hub.text
    assert "AllowedIPs = 10.99.0.3/32" in hub.text
    bad = client.get(f"{URL}/{tunnel['id']}/config", params={"format": "openvpn"}, headers=noc)
    assert bad.status_code == 422


def test_config_needs_hub_key_and_stored_secret(
    client: TestClient, world: World, store: FlakyStore, auth: TokenFor
) -> None:
    noc = auth("tenant-a", "noc_engineer")
    factory_tunnel = client.get(f"{URL}/{world.a['vpn_tunnels']}/config", headers=noc)
    assert factory_tunnel.status_code == 409  # made without keys
    body = tunnel_body(world)
    del body["server_public_key"]
    tunnel = create(client, noc, body)
    response = client.get(f"{URL}/{tunnel['id']}/config", headers=noc)
    assert (response.status_code, response.json()["field"]) == (409, "server_public_key")
    patched = client.patch(f"{URL}/{tunnel['id']}", json={"server_public_key": HUB_KEY}, headers=noc)
    assert patched.status_code == 200
    store.delete(tunnel["private_key_vault_path"])
    response = client.get(f"{URL}/{tunnel['id']}/config", headers=noc)
    assert (response.status_code, response.json()["field"]) == (409, "private_key_vault_path")
    assert client.get(f"{URL}/{tunnel['id']}", headers=noc).json()["config_downloaded_at"] is None


def test_store_failure_on_download_records_nothing(
    client: TestClient, world: World, store: FlakyStore, auth: TokenFor
) -> None:
    noc = auth("tenant-a", "noc_engineer")
    tunnel = create(client, noc, tunnel_body(world))
    store.fail = frozenset({"get"})
    assert client.get(f"{URL}/{tunnel['id']}/config", headers=noc).status_code == 503
    assert client.get(f"{URL}/{tunnel['id']}", headers=noc).json()["config_downloaded_at"] is None


def test_rotate_replaces_key_and_deletes_old_secret(
    client: TestClient, world: World, store: FlakyStore, auth: TokenFor
) -> None:
    noc = auth("tenant-a", "noc_engineer")
    tunnel = create(client, noc, tunnel_body(world))
    client.get(f"{URL}/{tunnel['id']}/config", headers=noc)
    old_path = tunnel["private_key_vault_path"]
    response = client.post(f"{URL}/{tunnel['id']}/rotate", headers=noc)
    assert response.status_code == 200, response.text
    rotated = response.json()
    assert rotated["public_key"] != tunnel["public_key"]
    assert rotated["private_key_vault_path"] != old_path
    assert rotated["key_rotated_at"] is not None and rotated["config_downloaded_at"] is None
    assert rotated["vpn_ip"] == tunnel["vpn_ip"]
    assert keys.public_key_of(private_key(store, rotated)) == rotated["public_key"]
    assert store.secrets() == [rotated["private_key_vault_path"]]
    config = client.get(f"{URL}/{tunnel['id']}/config", headers=noc).text
    assert private_key(store, rotated) in config


@pytest.mark.parametrize("failing", ["put", "delete"])
def test_rotate_with_failing_store(
    failing: str, client: TestClient, world: World, store: FlakyStore, auth: TokenFor
) -> None:
    noc = auth("tenant-a", "noc_engineer")
    tunnel = create(client, noc, tunnel_body(world))
    old_key = private_key(store, tunnel)
    store.fail = frozenset({failing})
    response = client.post(f"{URL}/{tunnel['id']}/rotate", headers=noc)
    store.fail = frozenset()
    after = client.get(f"{URL}/{tunnel['id']}", headers=noc).json()
    if failing == "put":  # nothing changed: the old key is still the key
        assert response.status_code == 503
        assert after == client.get(f"{URL}/{tunnel['id']}", headers=noc).json()
        assert after["public_key"] == tunnel["public_key"]
        assert store.secrets() == [tunnel["private_key_vault_path"]]
        assert private_key(store, after) == old_key
    else:  # rotated; the old secret could not be deleted and is left unreferenced (logged)
        assert response.status_code == 200
        assert after["public_key"] != tunnel["public_key"]
        assert keys.public_key_of(private_key(store, after)) == after["public_key"]
        assert sorted(store.secrets()) == sorted([tunnel["private_key_vault_path"], after["private_key_vault_path"]])


def test_rotate_rolled_back_deletes_the_new_secret(
    client: TestClient, world: World, store: FlakyStore, auth: TokenFor, admin: psycopg.Connection[Any]
) -> None:
    """A database failure after the new secret is written (here: the audit insert is refused) rolls
    the row back and deletes the new secret; the old key stays in force."""
    noc = auth("tenant-a", "noc_engineer")
    tunnel = create(client, noc, tunnel_body(world))
    admin.execute("revoke insert on audit_events from ispops_app")
    try:
        response = client.post(f"{URL}/{tunnel['id']}/rotate", headers=noc)
    finally:
        admin.execute("grant insert on audit_events to ispops_app")
    assert response.status_code == 500
    after = client.get(f"{URL}/{tunnel['id']}", headers=noc).json()
    assert after["public_key"] == tunnel["public_key"]
    assert store.secrets() == [tunnel["private_key_vault_path"]]


def _dump(peer_key: str, handshake: dt.datetime | None, rx: int = 1234, tx: int = 5678) -> str:
    hub = keys.generate()
    seconds = int(handshake.timestamp()) if handshake else 0
    return (
        f"{hub.private_key}\t{hub.public_key}\t51820\toff\n"
        f"{peer_key}\t(none)\t198.51.100.9:41000\t10.99.0.3/32\t{seconds}\t{rx}\t{tx}\t25\n"
    )


def test_handshakes_set_status_and_counters(
    client: TestClient, world: World, store: FlakyStore, auth: TokenFor
) -> None:
    noc = auth("tenant-a", "noc_engineer")
    tunnel = create(client, noc, tunnel_body(world))
    now = dt.datetime(2026, 11, 24, 12, 0, tzinfo=dt.UTC)
    url = f"{URL}/{tunnel['id']}/handshakes"
    body = {"dump": _dump(tunnel["public_key"], now - dt.timedelta(seconds=20)), "observed_at": now.isoformat()}
    up = client.post(url, json=body, headers=noc)
    assert up.status_code == 200, up.text
    got = up.json()
    assert got["status"] == "active"
    assert dt.datetime.fromisoformat(got["last_handshake"]) == now - dt.timedelta(seconds=20)
    assert (got["data_rx_bytes"], got["data_tx_bytes"]) == (1234, 5678)
    assert got["peer_endpoint"] == "198.51.100.9:41000"
    later = now + dt.timedelta(minutes=10)
    body = {"dump": _dump(tunnel["public_key"], now - dt.timedelta(seconds=20)), "observed_at": later.isoformat()}
    assert client.post(url, json=body, headers=noc).json()["status"] == "disconnected"


@pytest.mark.parametrize("dump", ["garbage", "", f"{HUB_KEY}\t(none)\t(none)\t(none)\tnever\t0\t0\toff\n"])
def test_malformed_dump_is_422(dump: str, client: TestClient, world: World, store: FlakyStore, auth: TokenFor) -> None:
    noc = auth("tenant-a", "noc_engineer")
    tunnel = create(client, noc, tunnel_body(world))
    response = client.post(f"{URL}/{tunnel['id']}/handshakes", json={"dump": dump}, headers=noc)
    assert (response.status_code, response.json()["field"]) == (422, "dump")


def test_dump_without_this_peer_is_422(client: TestClient, world: World, store: FlakyStore, auth: TokenFor) -> None:
    noc = auth("tenant-a", "noc_engineer")
    tunnel = create(client, noc, tunnel_body(world))
    other = keys.generate().public_key
    response = client.post(f"{URL}/{tunnel['id']}/handshakes", json={"dump": _dump(other, None)}, headers=noc)
    assert (response.status_code, response.json()["field"]) == (422, "dump")


def test_delete_releases_address_and_destroys_key(
    client: TestClient, world: World, store: FlakyStore, auth: TokenFor, admin: psycopg.Connection[Any]
) -> None:
    noc = auth("tenant-a", "noc_engineer")
    tunnel = create(client, noc, tunnel_body(world))
    assert client.delete(f"{URL}/{tunnel['id']}", headers=noc).status_code == 204
    assert allocations(admin, "tenant-a") == [("10.99.0.2", "allocated"), ("10.99.0.3", "released")]
    assert store.secrets() == []
    # The address can be handed out again.
    assert create(client, noc, tunnel_body(world, tunnel_name="again"))["vpn_ip"] == "10.99.0.3"


def test_patch_cannot_touch_keys_or_address(
    client: TestClient, world: World, store: FlakyStore, auth: TokenFor
) -> None:
    noc = auth("tenant-a", "noc_engineer")
    tunnel = create(client, noc, tunnel_body(world))
    for field, value in [
        ("public_key", HUB_KEY),
        ("private_key_vault_path", "x"),
        ("vpn_ip", "10.99.0.9"),
        ("status", "active"),
        ("ip_allocation_id", world.a["ip_allocations"]),
    ]:
        response = client.patch(f"{URL}/{tunnel['id']}", json={field: value}, headers=noc)
        assert response.status_code == 422, (field, response.text)
    response = client.patch(f"{URL}/{tunnel['id']}", json={"server_endpoint": "bad"}, headers=noc)
    assert (response.status_code, response.json()["field"]) == (422, "server_endpoint")
    response = client.patch(f"{URL}/{tunnel['id']}", json={"vpn_network": "10.50.0.0/24"}, headers=noc)
    assert (response.status_code, response.json()["field"]) == (422, "vpn_network")
    wider = client.patch(f"{URL}/{tunnel['id']}", json={"vpn_network": "10.99.0.0/16"}, headers=noc)
    assert wider.status_code == 200 and wider.json()["vpn_network"] == "10.99.0.0/16", wider.text


ROUTES = [
    ("get", "config", None),
    ("get", "config?format=routeros", None),
    ("get", "config?format=hub-peer", None),
    ("post", "rotate", None),
    ("post", "handshakes", {"dump": "x"}),
]


@pytest.mark.parametrize(("method", "action", "body"), ROUTES)
def test_other_tenant_gets_404_and_changes_nothing(
    method: str,
    action: str,
    body: Any,
    client: TestClient,
    world: World,
    store: FlakyStore,
    auth: TokenFor,
    admin: psycopg.Connection[Any],
) -> None:
    tunnel = create(client, auth("tenant-a", "noc_engineer"), tunnel_body(world))
    before, secrets_before = snapshot(admin, "tenant-a"), store.secrets()
    intruder = auth("tenant-b", "tenant_admin")
    response = client.request(method.upper(), f"{URL}/{tunnel['id']}/{action}", json=body, headers=intruder)
    assert response.status_code == 404, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert snapshot(admin, "tenant-a") == before
    assert store.secrets() == secrets_before


@pytest.mark.parametrize("role", ["support_agent", "field_tech"])
@pytest.mark.parametrize(("method", "action", "body"), ROUTES)
def test_only_admins_and_noc(
    role: str,
    method: str,
    action: str,
    body: Any,
    client: TestClient,
    world: World,
    store: FlakyStore,
    auth: TokenFor,
) -> None:
    tunnel = create(client, auth("tenant-a", "tenant_admin"), tunnel_body(world))
    response = client.request(
        method.upper(), f"{URL}/{tunnel['id']}/{action}", json=body, headers=auth("tenant-a", role)
    )
    assert response.status_code == 403, response.text


def test_private_key_in_no_json_response(client: TestClient, world: World, store: FlakyStore, auth: TokenFor) -> None:
    noc = auth("tenant-a", "noc_engineer")
    tunnel = create(client, noc, tunnel_body(world))
    texts = [
        client.get(URL, headers=noc).text,
        client.get(f"{URL}/{tunnel['id']}", headers=noc).text,
        client.patch(f"{URL}/{tunnel['id']}", json={"peer_endpoint": "198.51.100.1:1"}, headers=noc).text,
        client.get("/api/v1/audit_events", headers=auth("tenant-a", "tenant_admin")).text,
        client.get("/openapi.json").text,
    ]
    key = private_key(store, tunnel)
    assert all(key not in t for t in texts)
    rotated = client.post(f"{URL}/{tunnel['id']}/rotate", headers=noc)
    assert private_key(store, rotated.json()) not in rotated.text
