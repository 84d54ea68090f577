"""The demo data never makes the platform reach beyond this machine, and tells a consistent story."""

from __future__ import annotations

import ipaddress
from typing import Any
from urllib.parse import urlsplit

import psycopg

from ispops.db.session import Database
from ispops.demo.seed import DEMO_ISPS, seed_demo

Admin = psycopg.Connection[Any]

# Every place the platform takes an address to send packets to: CoA/Disconnect (nas), SNMP polling and SSH
# backups (devices, the OLT and wireless APs being devices), CPE and ONU management, VPN endpoints.
CONTACTED = {
    "nas.nasname": "select nasname from nas",
    "devices.management_ip": "select host(management_ip) from devices where management_ip is not null",
    "devices.primary_ip": "select host(primary_ip) from devices where primary_ip is not null",
    "olts (their device)": "select host(coalesce(d.management_ip, d.primary_ip)) from olts o "
    "join devices d on d.tenant_id = o.tenant_id and d.id = o.device_id",
    "wireless_sectors (their AP)": "select host(coalesce(d.management_ip, d.primary_ip)) from wireless_sectors s "
    "join devices d on d.tenant_id = s.tenant_id and d.id = s.device_id",
    "wireless_subscribers.cpe_ip": "select host(cpe_ip) from wireless_subscribers where cpe_ip is not null",
    "onus.lan_ip": "select host(lan_ip) from onus where lan_ip is not null",
    "onus.acs_url": "select acs_url from onus where acs_url is not null",
    "vpn_tunnels.server_endpoint": "select server_endpoint from vpn_tunnels where server_endpoint is not null",
    "vpn_tunnels.peer_endpoint": "select peer_endpoint from vpn_tunnels where peer_endpoint is not null",
}


def _host(value: str) -> str:
    if "://" in value:
        return urlsplit(value).hostname or value
    if value.startswith("["):  # [::1]:51820
        return value[1 : value.index("]")]
    return value.rsplit(":", 1)[0] if value.count(":") == 1 else value


def contacted(admin: Admin) -> dict[str, list[str]]:
    return {name: [str(row[0]) for row in admin.execute(sql)] for name, sql in CONTACTED.items()}


def not_loopback(found: dict[str, list[str]]) -> list[tuple[str, str]]:
    return [
        (name, value)
        for name, values in found.items()
        for value in values
        if not ipaddress.ip_address(_host(value)).is_loopback
    ]


def test_every_address_the_demo_makes_the_platform_contact_is_loopback(db: Database, admin: Admin) -> None:
    seed_demo(db)
    found = contacted(admin)
    assert not_loopback(found) == []
    # Not vacuous: the NASes, the routers, switches, OLTs and APs of both ISPs are all there, each distinct.
    assert len(found["nas.nasname"]) == len(DEMO_ISPS) == len(set(found["nas.nasname"]))
    assert len(found["devices.management_ip"]) == 6 * len(DEMO_ISPS) == len(set(found["devices.management_ip"]))
    assert len(found["olts (their device)"]) == len(DEMO_ISPS)
    assert len(found["wireless_sectors (their AP)"]) == 3 * len(DEMO_ISPS)
    # The router the NAS runs on answers on the NAS address.
    assert sorted(found["devices.primary_ip"]) == sorted(found["nas.nasname"])


def test_data_from_earlier_seeds_is_moved_onto_loopback(db: Database, admin: Admin) -> None:
    seed_demo(db)
    lakeside = DEMO_ISPS[0]
    # What seeds before this one wrote: documentation and private addresses that were really contacted.
    admin.execute("update nas set nasname = %s where tenant_id = %s", (lakeside.old_nas_ip, lakeside.slug))
    admin.execute(
        "update devices set management_ip = '10.255.0.1', primary_ip = %s where tenant_id = %s and name = 'core-rtr-1'",
        (lakeside.old_nas_ip, lakeside.slug),
    )
    admin.execute(
        "update devices set management_ip = cast('10.255.2.' || right(name, 1) as inet) "
        "where tenant_id = %s and name like 'ap-hill-%%'",
        (lakeside.slug,),
    )
    assert len(not_loopback(contacted(admin))) == 1 + 2 + 3 + 3  # nas, router twice, three APs and sectors
    seed_demo(db)
    assert not_loopback(contacted(admin)) == []
    assert admin.execute("select count(*) from nas").fetchone() == (len(DEMO_ISPS),)


def test_demo_subscribers_in_service_have_been_activated(db: Database, admin: Admin) -> None:
    seed_demo(db)
    rows = admin.execute(
        "select status, service_activated_at is not null, installation_date is not null, "
        "service_suspended_at is not null, service_activated_at < now() from subscribers"
    ).fetchall()
    assert {r[0] for r in rows} == {"active", "suspended"}
    assert all(activated and installed and past for _, activated, installed, _, past in rows)
    assert all(suspended_at == (status == "suspended") for status, _, _, suspended_at, _ in rows)
    [(unfinished,)] = admin.execute(
        "select count(*) from service_activations a join subscribers s on s.id = a.subscriber_id "
        "where a.completed_at is distinct from s.service_activated_at"
    ).fetchall()
    assert unfinished == 0
