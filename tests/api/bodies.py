"""Valid request bodies for every resource, so tests can expect a change to succeed (2xx), not merely
"not refused".

``create_body(site, name)`` is a body that creates a new row next to the ones ``tests.factories.populate``
made (unique names, its own parent where the table allows one child per parent); ``PATCH`` is a change
every role allowed to update the resource may make (field techs only change installation details of a
subscriber).
"""

from __future__ import annotations

import ipaddress
import itertools
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi.testclient import TestClient

_serial = itertools.count(100)


@dataclass
class Site:
    """A populated tenant, as its tenant admin sees it through the API."""

    client: TestClient
    tenant: str
    headers: dict[str, str]
    ids: dict[str, str]

    def post(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        response = self.client.post(f"/api/v1/{name}", json=body, headers=self.headers)
        assert response.status_code == 201, (name, body, response.text)
        return dict(response.json())

    def fresh(self, name: str) -> dict[str, Any]:
        """A new row of ``name``, made by the tenant admin, that nothing references yet."""
        return self.post(name, create_body(self, name))


def _device(site: Site, n: int, kind: str) -> str:
    return str(site.post("devices", {"name": f"{kind}-{n}", "device_type": kind})["id"])


def _subscriber(site: Site, n: int) -> str:
    return str(site.post("subscribers", {"subscriber_number": f"SUB-X{n}", "service_type": "wireless"})["id"])


def _nas_address(tenant: str, n: int) -> str:
    """A NAS address no other tenant holds (addresses are unique across tenants): 2001:db8:<tenant>::<n>."""
    return str(ipaddress.IPv6Address((0x20010DB8 << 96) | (zlib.crc32(tenant.encode()) << 32) | n))


def _strand(site: Site, n: int) -> str:
    """A strand of its own (nothing links, splices or connects it yet) on the tenant's cable."""
    return str(site.post("fiber_strands", {"cable_id": site.ids["fiber_cables"], "strand_number": 1000 + n})["id"])


Maker = Callable[[Site, int], dict[str, Any]]
CREATE: dict[str, Maker] = {
    "users": lambda s, n: {
        "email": f"user{n}@{s.tenant}.example",
        "password": "a-long-enough-password",
        "roles": ["field_tech"],
    },
    "customers": lambda s, n: {"customer_number": f"C-{n}", "name": f"Customer {n}"},
    "subscribers": lambda s, n: {
        "subscriber_number": f"SUB-{n}",
        "service_type": "ftth",
        "customer_id": s.ids["customers"],
        "bandwidth_profile_id": s.ids["bandwidth_profiles"],
    },
    "bandwidth_profiles": lambda s, n: {"name": f"plan-{n}", "download_mbps": 20, "upload_mbps": 5},
    "nas": lambda s, n: {"nasname": _nas_address(s.tenant, n), "shortname": f"nas{n}", "secret": f"s3cret-{n}"},
    "radcheck": lambda s, n: {"username": f"user{n}", "attribute": "Login-Time", "op": ":=", "value": "Al0800-1800"},
    "radreply": lambda s, n: {"username": f"user{n}", "attribute": "Reply-Message", "op": ":=", "value": "hello"},
    "ip_pools": lambda s, n: {"name": f"pool-{n}", "network_cidr": f"10.{n % 200 + 20}.0.0/24"},
    "ip_allocations": lambda s, n: {"ip_pool_id": s.ids["ip_pools"]},
    "devices": lambda s, n: {"name": f"dev-{n}", "device_type": "switch"},
    "vpn_tunnels": lambda s, n: {
        "tunnel_name": f"wg-{n}",
        "device_id": s.ids["devices"],
        "ip_pool_id": s.ids["ip_pools"],
        "server_public_key": "HIgo9xNzJMWLKASShiTqIybxZ0U3wGLiUeJ1PKf8ykw=",
        "server_endpoint": "vpn.isp.example:51820",
    },
    "olts": lambda s, n: {"device_id": _device(s, n, "olt"), "technology": "gpon"},
    "olt_pon_ports": lambda s, n: {"olt_id": s.ids["olts"], "frame": 1, "slot": n // 256 % 256, "port": n % 256},
    # A GPON port has ids 0-127 (migration 0027): spread the ONUs over ports 0/0/1, 0/0/2, ...
    "onus": lambda s, n: {
        "olt_id": s.ids["olts"],
        "serial_number": f"ZTEG{n:08d}",
        "pon_port": 1 + n // 128 % 255,
        "onu_id": n % 128,
    },
    "splitters": lambda s, n: {"name": f"SPL-{n}", "split_ratio": "1x8", "olt_id": s.ids["olts"]},
    # no end given: any one reference a test adds makes a valid end
    "fiber_cables": lambda s, n: {"cable_name": f"CAB-{n}", "fiber_count": 12},
    "fiber_closures": lambda s, n: {"name": f"CL-{n}"},
    "fiber_strands": lambda s, n: {"cable_id": s.ids["fiber_cables"], "strand_number": 100 + n},
    "fiber_links": lambda s, n: {"strand_id": _strand(s, n), "splitter_id": s.ids["splitters"], "seq": n},
    "fiber_splices": lambda s, n: {"strand_a_id": _strand(s, n), "closure_id": s.ids["fiber_closures"]},
    "fiber_connectors": lambda s, n: {"strand_id": _strand(s, n), "strand_end": "end"},
    "wireless_towers": lambda s, n: {"name": f"Tower {n}", "latitude": -1.2, "longitude": 36.8},
    "wireless_sectors": lambda s, n: {
        "tower_id": s.ids["wireless_towers"],
        "name": f"S-{n}",
        "frequency_mhz": 5800,
        "azimuth": 90,
        "beamwidth_degrees": 60,
    },
    "wireless_subscribers": lambda s, n: {
        "subscriber_id": _subscriber(s, n),
        "sector_id": s.ids["wireless_sectors"],
        "cpe_mac": f"02:00:00:00:{n // 256 % 256:02x}:{n % 256:02x}",
        "install_latitude": -1.31,
        "install_longitude": 36.81,
    },
    "service_activations": lambda s, n: {
        "subscriber_id": s.ids["subscribers"],
        "activation_type": "new_service",
        "bandwidth_profile_id": s.ids["bandwidth_profiles"],
    },
    "ansible_jobs": lambda s, n: {
        "job_name": f"job-{n}",
        "playbook_name": "backup.yml",
        "target_device_id": s.ids["devices"],
    },
    "automation_playbooks": lambda s, n: {
        "name": f"playbooks-{n}",
        "source_type": "git",
        "source": "https://git.example.net/isp/playbooks.git",
        "git_ref": "main",
        "playbook_file": "site.yml",
    },
    "automation_schedules": lambda s, n: {
        "name": f"nightly-{n}",
        "playbook_name": "backup.yml",
        "cron": "15 2 * * *",
        "target_device_id": s.ids["devices"],
    },
    "automation_endpoints": lambda s, n: {
        "kind": "netbox",
        "url": f"http://127.0.0.1:{9000 + n}/",
        "netbox_tenant": f"isp-{n}",
        "token": f"token-{n}-0123456789",
    },
    "netbox_syncs": lambda s, n: {"direction": "export", "dry_run": True},
}

# One change per updatable resource that every role allowed to update it may make.
PATCH: dict[str, dict[str, Any]] = {
    "users": {"full_name": "Renamed User"},
    "customers": {"notes": "moved house"},
    "subscribers": {"installation_notes": "ladder needed"},
    "bandwidth_profiles": {"description": "changed plan"},
    "nas": {"description": "changed bras"},
    "radcheck": {"value": "Al0900-1700"},
    "radreply": {"value": "good bye"},
    "ip_pools": {"description": "changed pool"},
    "ip_allocations": {"mac_address": "02:aa:bb:cc:dd:ee"},
    "devices": {"site_name": "Changed POP"},
    "vpn_tunnels": {"persistent_keepalive": 30},
    "olts": {"voltha_device_id": "voltha-changed"},
    "olt_pon_ports": {"description": "towards the market"},
    "onus": {"vendor": "Changed Vendor"},
    "splitters": {"location_name": "Changed cabinet"},
    "fiber_cables": {"start_location_name": "Changed manhole"},
    "fiber_closures": {"location_name": "Changed chamber"},
    "fiber_strands": {"status": "reserved"},
    "fiber_links": {"notes": "re-spliced"},
    "fiber_splices": {"notes": "re-made"},
    "fiber_connectors": {"notes": "cleaned"},
    "wireless_towers": {"site_address": "Changed hill"},
    "wireless_sectors": {"antenna_model": "Changed antenna"},
    "wireless_subscribers": {"install_address": "Changed road"},
    "automation_schedules": {"cron": "45 3 * * 1"},
    "automation_endpoints": {"url": "http://127.0.0.1:9999/"},
}


def create_body(site: Site, name: str) -> dict[str, Any]:
    return CREATE[name](site, next(_serial))


def raise_limits(admin: Any, tenant: str) -> None:
    """Room for the extra rows these bodies create (the default limits are small: 2 OLTs, 5 users)."""
    admin.execute(
        "update tenants set max_users = 100, max_olts = 100, max_routers = 100, max_wireless_aps = 100, "
        "max_subscribers = 1000 where id = %s",
        (tenant,),
    )
