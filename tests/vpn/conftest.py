"""VPN test fixtures: a secret store the app uses (a temporary file store that can be made to fail),
two tenants with a device and a VPN pool each, and ``wg`` when wireguard-tools is installed."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from ispops.db.session import Database
from ispops.secrets import runtime
from ispops.secrets.file import FileSecretStore
from ispops.secrets.store import SecretStoreError
from tests.api.conftest import api_settings, app_client, auth, client  # noqa: F401 - the API fixtures
from tests.factories import populate

VPN_POOL = (
    "insert into ip_pools (tenant_id, name, network_cidr, gateway, start_ip, end_ip, total_ips, pool_type) "
    "values (:t, :name, cast(:net as cidr), cast(:gw as inet), cast(:start as inet), cast(:end as inet), :total, "
    ":type) returning id::text"
)
HUB_KEY = "HIgo9xNzJMWLKASShiTqIybxZ0U3wGLiUeJ1PKf8ykw="  # the hub's public key in every test


class FlakyStore(FileSecretStore):
    """A real file store whose operations can be made to fail, like an unreachable Vault."""

    fail: frozenset[str] = frozenset()

    def _maybe_fail(self, op: str) -> None:
        if op in self.fail:
            raise SecretStoreError(f"secret store unavailable ({op})")

    def put(self, path: str, value: bytes) -> None:
        self._maybe_fail("put")
        super().put(path, value)

    def get(self, path: str) -> bytes:
        self._maybe_fail("get")
        return super().get(path)

    def delete(self, path: str) -> None:
        self._maybe_fail("delete")
        super().delete(path)

    def secrets(self) -> list[str]:
        """Every stored secret path (test helper)."""
        return sorted(
            str(p.relative_to(self.root)).removesuffix(".sec") for p in self.root.rglob("*.sec") if p.is_file()
        )


@pytest.fixture
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[FlakyStore]:
    """The secret store the API uses during the test (installed after the app has started)."""
    request.getfixturevalue("client")
    flaky = FlakyStore(tmp_path / "secrets", os.urandom(32))
    with runtime.installed(flaky):
        yield flaky


def add_pool(db: Database, tenant: str, net: str = "10.99.0.0/24", name: str = "vpn", pool_type: str = "vpn") -> str:
    import ipaddress

    network = ipaddress.ip_network(net)
    hosts = list(network.hosts())
    with db.tenant(tenant) as session:
        return str(
            session.execute(
                text(VPN_POOL),
                {
                    "t": tenant,
                    "name": name,
                    "net": net,
                    "gw": str(hosts[0]),
                    "start": str(hosts[1]),
                    "end": str(hosts[-1]),
                    "total": len(hosts) - 1,
                    "type": pool_type,
                },
            ).scalar_one()
        )


class World:
    def __init__(self, a: dict[str, str], b: dict[str, str], pool_a: str, pool_b: str) -> None:
        self.a, self.b, self.pool_a, self.pool_b = a, b, pool_a, pool_b


@pytest.fixture
def world(db: Database) -> World:
    """tenant-a and tenant-b, each with one row everywhere (factories) and a VPN pool 10.99.0.0/24.
    The factory tunnel of each tenant already holds 10.99.0.2 (made without IPAM)."""
    a = populate(db, "tenant-a", 1)
    b = populate(db, "tenant-b", 2)
    return World(a, b, add_pool(db, "tenant-a"), add_pool(db, "tenant-b"))


def tunnel_body(world: World, **extra: Any) -> dict[str, Any]:
    return {
        "tunnel_name": "wg-router-1",
        "device_id": world.a["devices"],
        "ip_pool_id": world.pool_a,
        "server_public_key": HUB_KEY,
        "server_endpoint": "vpn.isp.example:51820",
        **extra,
    }


requires_wg = pytest.mark.skipif(
    shutil.which("wg") is None or shutil.which("wg-quick") is None, reason="wireguard-tools is not installed"
)
