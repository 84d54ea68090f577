"""Wireless test fixtures: the API fixtures, and a tenant with a plan to sell, through the API."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from ispops.db.session import Database
from tests.api.conftest import TokenFor, api_settings, app_client, auth, client  # noqa: F401  (the API fixtures)
from tests.factories import make_tenant

# A hill near Nairobi; every point of these tests is within a few km of it.
HILL = (-1.30, 36.80)


@dataclass
class Isp:
    """A tenant as its admin sees it through the API."""

    client: TestClient
    tenant: str
    headers: dict[str, str]

    def post(self, path: str, body: dict[str, Any], status: int = 201) -> dict[str, Any]:
        response = self.client.post(f"/api/v1/{path}", json=body, headers=self.headers)
        assert response.status_code == status, (path, body, response.text)
        return dict(response.json())

    def get(self, path: str, status: int = 200, **params: Any) -> Any:
        response = self.client.get(f"/api/v1/{path}", params=params, headers=self.headers)
        assert response.status_code == status, (path, params, response.text)
        return response.json()

    def patch(self, path: str, body: dict[str, Any], status: int = 200) -> dict[str, Any]:
        response = self.client.patch(f"/api/v1/{path}", json=body, headers=self.headers)
        assert response.status_code == status, (path, body, response.text)
        return dict(response.json())

    def tower(self, name: str = "Hill", lat: float = HILL[0], lng: float = HILL[1], **extra: Any) -> dict[str, Any]:
        return self.post("wireless_towers", {"name": name, "latitude": lat, "longitude": lng, **extra})

    def sector(self, tower: dict[str, Any], name: str, **extra: Any) -> dict[str, Any]:
        body = {"tower_id": tower["id"], "name": name, "frequency_mhz": 5800, "azimuth": 90, "beamwidth_degrees": 60}
        return self.post("wireless_sectors", {**body, **extra})

    def plan(self, name: str, mbps: int) -> dict[str, Any]:
        return self.post("bandwidth_profiles", {"name": name, "download_mbps": mbps, "upload_mbps": mbps // 4})

    def cpe(
        self,
        sector: dict[str, Any],
        mac: str,
        lat: float,
        lng: float,
        plan: dict[str, Any] | None = None,
        status: int = 201,
        **extra: Any,
    ) -> dict[str, Any]:
        sub: dict[str, Any] = {"subscriber_number": f"W-{mac[-5:]}", "service_type": "wireless"}
        if plan is not None:
            sub["bandwidth_profile_id"] = plan["id"]
        subscriber = self.post("subscribers", sub)
        body = {
            "subscriber_id": subscriber["id"],
            "sector_id": sector["id"],
            "cpe_mac": mac,
            "install_latitude": lat,
            "install_longitude": lng,
            **extra,
        }
        return self.post("wireless_subscribers", body, status=status)


def make_isp(db: Database, app: TestClient, token_for: TokenFor, tenant: str) -> Isp:
    make_tenant(db, tenant)
    with db.platform() as session:
        session.execute(
            text("update tenants set max_subscribers = 1000, max_wireless_aps = 1000 where id = :t"), {"t": tenant}
        )
    return Isp(app, tenant, token_for(tenant, "tenant_admin"))


def _isp(request: pytest.FixtureRequest, tenant: str) -> Isp:
    db: Database = request.getfixturevalue("db")
    return make_isp(db, request.getfixturevalue("client"), request.getfixturevalue("auth"), tenant)


@pytest.fixture
def isp(request: pytest.FixtureRequest) -> Isp:
    return _isp(request, "wisp-a")


@pytest.fixture
def other(request: pytest.FixtureRequest) -> Isp:
    return _isp(request, "wisp-b")
