"""IPAM over HTTP: creation through the validation, the actions, errors naming the field, isolation, roles."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from ispops.db.session import Database
from tests.api.conftest import TokenFor
from tests.factories import snapshot
from tests.ipam.conftest import OTHER, TENANT, new_pool, new_subscriber, static_ip


@pytest.fixture
def noc(tenants: Database, auth: TokenFor) -> dict[str, str]:
    return auth(TENANT, "noc_engineer")


def post(client: TestClient, path: str, headers: dict[str, str], body: dict[str, Any] | None = None) -> Any:
    return client.post(f"/api/v1/{path}", json=body, headers=headers)


def test_create_a_pool_with_defaults_and_utilisation(client: TestClient, noc: dict[str, str]) -> None:
    made = post(
        client,
        "ip_pools",
        noc,
        {
            "name": "cgnat",
            "network_cidr": "100.64.0.0/22",
            "gateway": "100.64.0.1",
            "vlan_id": 100,
            "default_lease_seconds": 3600,
        },
    )
    assert made.status_code == 201, made.text
    pool = made.json()
    assert (pool["start_ip"], pool["end_ip"], pool["total_ips"]) == ("100.64.0.2", "100.64.3.254", 1021)
    assert (pool["allocated_ips"], pool["available_ips"], pool["next_ip"]) == (0, 1021, "100.64.0.2")
    assert float(pool["utilisation_percent"]) == 0 and pool["warning"] is False
    pd = post(client, "ip_pools", noc, {"name": "pd", "network_cidr": "2001:db8::/40", "delegated_prefix_length": 56})
    assert pd.status_code == 201, pd.text
    assert (pd.json()["start_ip"], pd.json()["total_ips"]) == ("2001:db8::/56", 65536)
    listed = client.get("/api/v1/ip_pools?warning=false&sort=-utilisation_percent", headers=noc)
    assert listed.status_code == 200 and listed.json()["total"] == 2


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"name": "x", "network_cidr": "10.0.0.5/24"}, 422, "network_cidr"),
        ({"name": "x", "network_cidr": "10.0.0.0/24", "gateway": "10.0.9.1"}, 422, "gateway"),
        ({"name": "x", "network_cidr": "10.0.0.0/24", "start_ip": "10.0.0.9", "end_ip": "10.0.0.2"}, 422, "end_ip"),
        ({"name": "x", "network_cidr": "10.0.0.0/24", "start_ip": "10.0.1.1"}, 422, "start_ip"),
        (
            {
                "name": "x",
                "network_cidr": "10.0.0.0/24",
                "gateway": "10.0.0.5",
                "start_ip": "10.0.0.2",
                "end_ip": "10.0.0.9",
            },
            422,
            "gateway",
        ),
        ({"name": "x", "network_cidr": "10.0.0.0/24", "delegated_prefix_length": 56}, 422, "delegated_prefix_length"),
        ({"name": "x", "network_cidr": "10.0.0.0/24", "vlan_id": 5000}, 422, "vlan_id"),
        (
            {"name": "x", "network_cidr": "10.0.0.0/24", "warning_threshold_percent": 0},
            422,
            "warning_threshold_percent",
        ),
        ({"name": "x", "network_cidr": "10.1.0.0/25"}, 409, "network_cidr"),  # overlaps "taken" below
        ({"name": "taken", "network_cidr": "10.2.0.0/24"}, 409, "name"),
        # counters and what the database derives from them are not inputs
        ({"name": "x", "network_cidr": "10.0.0.0/24", "available_ips": 5}, 422, "available_ips"),
        ({"name": "x", "network_cidr": "10.0.0.0/24", "utilisation_percent": 50}, 422, "utilisation_percent"),
        ({"name": "x", "network_cidr": "10.0.0.0/24", "warning": True}, 422, "warning"),
    ],
)
def test_bad_pools_name_the_field(
    client: TestClient, tenants: Database, noc: dict[str, str], body: dict[str, Any], status: int, field: str
) -> None:
    new_pool(tenants, name="taken", network_cidr="10.1.0.0/24")
    response = post(client, "ip_pools", noc, body)
    assert response.status_code == status, response.text
    assert response.json()["field"] == field, response.text
    assert response.headers["content-type"] == "application/problem+json"


def test_allocate_release_renew_reserve(
    client: TestClient, tenants: Database, noc: dict[str, str], admin: psycopg.Connection[Any]
) -> None:
    pool = new_pool(tenants, name="biz", network_cidr="203.0.113.0/29", gateway="203.0.113.1", pool_type="static")
    sub = new_subscriber(tenants)
    made = post(
        client,
        f"ip_pools/{pool.id}/allocate",
        noc,
        {"subscriber_id": str(sub), "lease_seconds": 600, "mac_address": "02:00:00:00:00:01"},
    )
    assert made.status_code == 201, made.text
    allocation = made.json()
    assert (allocation["ip_address"], allocation["status"]) == ("203.0.113.2", "allocated")
    assert allocation["lease_end"] is not None
    assert static_ip(admin, sub) == "203.0.113.2"
    assert post(client, f"ip_pools/{pool.id}/allocate", noc).json()["ip_address"] == "203.0.113.3"
    reserved = post(client, f"ip_pools/{pool.id}/reserve", noc, {"ip_address": "203.0.113.6"})
    assert reserved.status_code == 201 and reserved.json()["status"] == "reserved"
    # The generic create goes through the allocator too.
    generic = post(client, "ip_allocations", noc, {"ip_pool_id": str(pool.id)})
    assert generic.status_code == 201 and generic.json()["ip_address"] == "203.0.113.4", generic.text
    renewed = post(client, f"ip_allocations/{allocation['id']}/renew", noc, {"lease_seconds": 7200})
    assert renewed.status_code == 200 and renewed.json()["lease_end"] > allocation["lease_end"]
    usage = client.get(f"/api/v1/ip_pools/{pool.id}/utilisation", headers=noc)
    assert usage.status_code == 200
    assert usage.json() | {"pool_id": None} == {
        "pool_id": None,
        "name": "biz",
        "total_ips": 5,
        "allocated_ips": 4,
        "available_ips": 1,
        "utilisation_percent": 80.0,
        "warning_threshold_percent": 90,
        "warning": False,
        "by_status": {"allocated": 3, "active": 0, "reserved": 1},
        "leases_expired": 0,
    }
    post(client, f"ip_pools/{pool.id}/allocate", noc)
    full = post(client, f"ip_pools/{pool.id}/allocate", noc)
    assert full.status_code == 409 and "'biz'" in full.json()["detail"] and full.json()["field"] == "ip_pool_id"
    released = post(client, f"ip_allocations/{allocation['id']}/release", noc)
    assert released.status_code == 200 and released.json()["status"] == "released"
    assert static_ip(admin, sub) is None
    again = post(client, f"ip_allocations/{allocation['id']}/release", noc)
    assert again.status_code == 409 and again.json()["field"] == "status"
    history = client.patch(
        f"/api/v1/ip_allocations/{allocation['id']}", json={"mac_address": "02:00:00:00:00:02"}, headers=noc
    )
    assert history.status_code == 409
    events = admin.execute(
        "select action, changes->>'action' from audit_events where entity = 'ip_allocations' order by occurred_at, id"
    ).fetchall()
    assert ("action", "release") in events and ("create", "allocate") in events and ("action", "renew") in events


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("allocate", {"ip_address": "203.0.113.9"}, "ip_address"),
        ("allocate", {"ip_address": "203.0.113.1"}, "ip_address"),  # the gateway
        ("allocate", {"ip_address": "garbage"}, "ip_address"),
        ("allocate", {"mac_address": "zz"}, "mac_address"),
        ("allocate", {"lease_seconds": 0}, "lease_seconds"),
        ("allocate", {"subscriber_id": "00000000-0000-0000-0000-000000000001"}, "subscriber_id"),
        ("reserve", {"ip_address": "198.51.100.1"}, "ip_address"),
    ],
)
def test_bad_allocations_name_the_field(
    client: TestClient, tenants: Database, noc: dict[str, str], path: str, body: dict[str, Any], field: str
) -> None:
    pool = new_pool(tenants, name="p", network_cidr="203.0.113.0/29", gateway="203.0.113.1")
    response = post(client, f"ip_pools/{pool.id}/{path}", noc, body)
    assert response.status_code == 422, response.text
    assert response.json()["field"] == field, response.text


def test_another_tenant_gets_404_on_every_ipam_route_and_changes_nothing(
    client: TestClient, tenants: Database, auth: TokenFor, admin: psycopg.Connection[Any]
) -> None:
    pool = new_pool(tenants, name="p", network_cidr="10.40.0.0/29")
    mine = post(client, f"ip_pools/{pool.id}/allocate", auth(TENANT, "noc_engineer")).json()
    intruder = auth(OTHER, "tenant_admin")
    before = snapshot(admin, TENANT)
    responses = [
        post(client, f"ip_pools/{pool.id}/allocate", intruder),
        post(client, f"ip_pools/{pool.id}/allocate", intruder, {"ip_address": "10.40.0.5"}),
        post(client, f"ip_pools/{pool.id}/reserve", intruder),
        client.get(f"/api/v1/ip_pools/{pool.id}/utilisation", headers=intruder),
        post(client, f"ip_allocations/{mine['id']}/release", intruder),
        post(client, f"ip_allocations/{mine['id']}/renew", intruder, {"lease_seconds": 60}),
    ]
    for response in responses:
        assert response.status_code == 404, (response.request.url, response.text)
        assert response.headers["content-type"] == "application/problem+json"
    # Another tenant's pool named in a body is a reference to a row that does not exist: 422 naming it.
    referred = post(client, "ip_allocations", intruder, {"ip_pool_id": str(pool.id)})
    assert (referred.status_code, referred.json()["field"]) == (422, "ip_pool_id"), referred.text
    assert snapshot(admin, TENANT) == before


@pytest.mark.parametrize(
    ("role", "read", "write"),
    [("tenant_admin", 200, 201), ("noc_engineer", 200, 201), ("support_agent", 200, 403), ("field_tech", 403, 403)],
)
def test_roles(client: TestClient, tenants: Database, auth: TokenFor, role: str, read: int, write: int) -> None:
    pool = new_pool(tenants, name="p", network_cidr="10.41.0.0/29")
    who = auth(TENANT, role)
    assert client.get(f"/api/v1/ip_pools/{pool.id}/utilisation", headers=who).status_code == read
    allocated = post(client, f"ip_pools/{pool.id}/allocate", who)
    assert allocated.status_code == write
    assert post(client, f"ip_pools/{pool.id}/reserve", who).status_code == write
    held = post(client, f"ip_pools/{pool.id}/allocate", auth(TENANT, "noc_engineer")).json()
    assert post(client, f"ip_allocations/{held['id']}/release", who).status_code == (200 if write == 201 else 403)
    created = post(client, "ip_pools", who, {"name": "q", "network_cidr": "10.42.0.0/29"})
    assert created.status_code == write


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"vlan_id": 0}, "vlan_id"),
        ({"vlan_id": 4095}, "vlan_id"),
        ({"pool_type": "bogus"}, "pool_type"),
        ({"gateway": "10.9.9.9"}, "gateway"),
        ({"warning_threshold_percent": 101}, "warning_threshold_percent"),
    ],
)
def test_bad_pool_edits_name_the_field(
    client: TestClient, tenants: Database, noc: dict[str, str], change: dict[str, Any], field: str
) -> None:
    pool = new_pool(tenants, name="p", network_cidr="10.43.0.0/29")
    response = client.patch(f"/api/v1/ip_pools/{pool.id}", json=change, headers=noc)
    assert response.status_code == 422, response.text
    assert response.json()["field"] == field, response.text
