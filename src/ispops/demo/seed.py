"""Demo data: two ISPs with plant realistic enough to click through. Idempotent.

Every object is looked up by its natural key and created only if missing, so running the seed again
changes nothing (and never overwrites what someone edited). Values are deterministic.

Everything the platform sends packets to (NAS addresses for CoA/Disconnect, devices' management and
primary addresses for SNMP polling and SSH backups, hence the OLT's) is on the loopback network, so trying
the demo never reaches another machine: each ISP has its own 127.<n>.0.0/16, ``127.<n>.100.1`` for the
NAS and ``127.<n>.<x>.<y>`` for the management network. Addresses that are only handed out (subscriber
pools, their DNS servers and gateways) keep realistic values: nothing connects to them.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ispops.db.session import Database
from ispops.demo import ftth as demo_ftth
from ispops.demo import ftth_plant, wireless
from ispops.models import (
    AnsibleJob,
    BandwidthProfile,
    Customer,
    Device,
    FiberCable,
    IpAllocation,
    IpPool,
    Nas,
    Olt,
    Onu,
    ServiceActivation,
    Splitter,
    Subscriber,
    Tenant,
    User,
    WirelessSector,
    WirelessSubscriber,
    WirelessTower,
)
from ispops.models.base import Base
from ispops.radius.provisioning import set_password
from ispops.tenancy.service import PASSWORD_HASHER

M = TypeVar("M", bound=Base)

DEMO_PASSWORD = "ispops-demo-2026"  # noqa: S105 - staff login for the demo tenants (documented in the README)
FIRST_NAMES = ["Amina", "Brian", "Chloe", "David", "Esther", "Farid", "Grace", "Hiro", "Ines", "Jomo", "Kofi", "Lena"]
LAST_NAMES = ["Otieno", "Smith", "Nakamura", "Mwangi", "Garcia", "Okafor", "Novak", "Haddad", "Silva", "Kim"]
PROFILES = [
    # name, down, up, burst down, burst up, monthly cap GB
    ("Home 20", 20, 5, 30, 8, None),
    ("Home 50", 50, 10, 75, 15, None),
    ("Business 100", 100, 50, None, None, None),
    ("Lite 10", 10, 2, None, None, 200),
]


@dataclass(frozen=True)
class DemoIsp:
    slug: str
    name: str
    lat: float
    lng: float
    net: int  # second octet of the ISP's loopback network 127.<net>.0.0/16
    prefix: str  # subscriber number / username prefix
    plan_type: str
    old_nas_ip: str  # the NAS address of earlier versions of the seed, moved onto loopback

    @property
    def nas_ip(self) -> str:
        return f"127.{self.net}.100.1"

    def mgmt(self, x: int, y: int) -> str:
        """A management address on the ISP's loopback network (10.255.x.y in earlier seeds)."""
        return f"127.{self.net}.{x}.{y}"


DEMO_ISPS = [
    DemoIsp("lakeside-fibre", "Lakeside Fibre", -0.0917, 34.7680, 10, "LKF", "professional", "198.51.100.1"),
    DemoIsp("ridgeline-wireless", "Ridgeline Wireless", 40.0150, -105.2705, 20, "RDG", "starter", "198.51.100.2"),
]
FTTH_PER_ISP = 8
WISP = "ridgeline-wireless"  # the wireless ISP: a second tower, CPE readings, its public coverage page
WIRELESS_PER_ISP = 4


def get_or_create(session: Session, entity: type[M], key: dict[str, Any], /, **values: Any) -> tuple[M, bool]:
    """The live row matching ``key``, or a new one made from ``key`` and ``values``."""
    stmt = select(entity).filter_by(**key)
    if hasattr(entity, "deleted_at"):
        stmt = stmt.filter_by(deleted_at=None)
    found = session.scalars(stmt.limit(1)).first()
    if found is not None:
        return found, False
    obj = entity(**key, **values)
    session.add(obj)
    session.flush()
    return obj, True


def _offset(isp: DemoIsp, i: int, spread: float = 0.01) -> tuple[Decimal, Decimal]:
    lat = Decimal(str(round(isp.lat + spread * ((i * 7) % 11 - 5) / 5, 6)))
    lng = Decimal(str(round(isp.lng + spread * ((i * 3) % 13 - 6) / 6, 6)))
    return lat, lng


def _seed_tenant_row(db: Database, isp: DemoIsp) -> bool:
    with db.platform() as session:
        _, made = get_or_create(
            session,
            Tenant,
            {"id": isp.slug},
            name=isp.name,
            slug=isp.slug,
            status="active",
            plan_type=isp.plan_type,
            email=f"noc@{isp.slug}.demo",
            max_subscribers=1000,
            max_users=20,
            max_olts=5,
            max_routers=10,
            max_wireless_aps=20,
            country="KE" if isp.slug.startswith("lake") else "US",
        )
        return made


def _move_to_loopback(session: Session, isp: DemoIsp, t: str) -> None:
    """Data from seeds that used routable addresses: move exactly those demo values onto loopback."""
    session.execute(update(Nas).where(Nas.tenant_id == t, Nas.nasname == isp.old_nas_ip).values(nasname=isp.nas_ip))
    moves = {
        isp.old_nas_ip: isp.nas_ip,
        "10.255.0.1": isp.mgmt(0, 1),
        "10.255.0.2": isp.mgmt(0, 2),
        "10.255.1.1": isp.mgmt(1, 1),
        **{f"10.255.2.{n}": isp.mgmt(2, n) for n in (1, 2, 3)},
    }
    for column in (Device.management_ip, Device.primary_ip):
        for old, new in moves.items():
            session.execute(update(Device).where(Device.tenant_id == t, column == old).values({column.key: new}))


def _seed_network(session: Session, isp: DemoIsp, t: str) -> dict[str, Any]:
    _move_to_loopback(session, isp, t)
    router, _ = get_or_create(
        session,
        Device,
        {"tenant_id": t, "name": "core-rtr-1"},
        device_type="router",
        vendor="MikroTik",
        model="CCR2004-1G-12S+2XS",
        management_ip=isp.mgmt(0, 1),
        primary_ip=isp.nas_ip,
        site_name="Core POP",
        status="active",
        operational_status="online",
        snmp_version="v2c",
        port_count=14,
        location_lat=Decimal(str(isp.lat)),
        location_lng=Decimal(str(isp.lng)),
    )
    get_or_create(
        session,
        Device,
        {"tenant_id": t, "name": "agg-sw-1"},
        device_type="switch",
        vendor="Cisco",
        model="C9300-24T",
        management_ip=isp.mgmt(0, 2),
        site_name="Core POP",
        status="active",
        operational_status="online",
        port_count=24,
    )
    get_or_create(
        session,
        Nas,
        {"tenant_id": t, "nasname": isp.nas_ip},
        shortname="bras-1",
        type="mikrotik",
        secret=secrets.token_urlsafe(18),
        description=f"{isp.name} PPPoE concentrator (core-rtr-1)",
    )
    dynamic, _ = get_or_create(
        session,
        IpPool,
        {"tenant_id": t, "name": "cgnat-subscribers"},
        network_cidr="100.64.0.0/22",
        gateway="100.64.0.1",
        dns_primary="1.1.1.1",
        dns_secondary="9.9.9.9",
        start_ip="100.64.0.2",
        end_ip="100.64.3.254",
        total_ips=1021,
        pool_type="dynamic",
        vlan_id=100,
    )
    static, _ = get_or_create(
        session,
        IpPool,
        {"tenant_id": t, "name": "business-static"},
        network_cidr="203.0.113.0/28",
        gateway="203.0.113.1",
        dns_primary="1.1.1.1",
        start_ip="203.0.113.2",
        end_ip="203.0.113.14",
        total_ips=13,
        pool_type="static",
        vlan_id=200,
    )
    get_or_create(  # WireGuard management tunnels take their addresses here (hub 10.254.0.1): only written
        session,
        IpPool,
        {"tenant_id": t, "name": "wireguard-mgmt"},  # into tunnel configs, never contacted
        network_cidr="10.254.0.0/24",
        gateway="10.254.0.1",
        start_ip="10.254.0.2",
        end_ip="10.254.0.254",
        total_ips=253,
        pool_type="vpn",
    )
    get_or_create(
        session,
        AnsibleJob,
        {"tenant_id": t, "job_name": "nightly-config-backup"},
        playbook_name="backup_routeros.yml",
        job_type="backup",
        target_device_id=router.id,
        status="success",
        exit_code=0,
        changed_tasks=0,
        failed_tasks=0,
        triggered_by="system",
        trigger_source="scheduled",
    )
    return {"dynamic": dynamic, "static": static}


def _seed_ftth_plant(session: Session, isp: DemoIsp, t: str) -> tuple[Olt, list[Splitter]]:
    olt_device, _ = get_or_create(
        session,
        Device,
        {"tenant_id": t, "name": "olt-1"},
        device_type="olt",
        vendor="Huawei",
        model="MA5800-X7",
        management_ip=isp.mgmt(1, 1),
        site_name="Core POP",
        status="active",
        operational_status="online",
        port_count=16,
        location_lat=Decimal(str(isp.lat)),
        location_lng=Decimal(str(isp.lng)),
    )
    olt = demo_ftth.seed_olt(session, t, olt_device.id)
    fdh_lat, fdh_lng = _offset(isp, 1)
    fdh, _ = get_or_create(
        session,
        Splitter,
        {"tenant_id": t, "name": "FDH-01"},
        olt_id=olt.id,
        split_ratio="1x8",
        splitter_type="plc",
        installation_type="fdh",
        location_name="Market Street cabinet",
        location_lat=fdh_lat,
        location_lng=fdh_lng,
    )
    naps = []
    for n in (1, 2):
        lat, lng = _offset(isp, 10 + n)
        nap, _ = get_or_create(
            session,
            Splitter,
            {"tenant_id": t, "name": f"NAP-0{n}"},
            olt_id=olt.id,
            split_ratio="1x8",
            installation_type="pole_mount",
            parent_splitter_id=fdh.id,
            parent_output_port=n,
            location_lat=lat,
            location_lng=lng,
        )
        naps.append(nap)
    get_or_create(
        session,
        FiberCable,
        {"tenant_id": t, "cable_name": "FEEDER-01"},
        cable_type="single_mode",
        fiber_count=48,
        start_device_id=olt_device.id,
        start_device_port="0/1/0",
        end_location_name="FDH-01",
        end_location_lat=fdh_lat,
        end_location_lng=fdh_lng,
        length_meters=Decimal("1850.00"),
        installation_method="duct",
        geojson_path={"type": "LineString", "coordinates": [[isp.lng, isp.lat], [float(fdh_lng), float(fdh_lat)]]},
    )
    return olt, naps


def _seed_wireless_plant(session: Session, isp: DemoIsp, t: str) -> list[WirelessSector]:
    lat, lng = _offset(isp, 20, spread=0.03)
    tower, _ = get_or_create(
        session,
        WirelessTower,
        {"tenant_id": t, "name": "Hill Site"},
        tower_type="monopole",
        height_meters=Decimal("30.00"),
        latitude=lat,
        longitude=lng,
        power_type="grid",
        has_backup_power=True,
    )
    sectors = []
    for n, azimuth in enumerate((0, 120, 240), start=1):
        ap, _ = get_or_create(
            session,
            Device,
            {"tenant_id": t, "name": f"ap-hill-{n}"},
            device_type="wireless_ap",
            vendor="Cambium",
            model="ePMP 4525",
            management_ip=isp.mgmt(2, n),
            site_name="Hill Site",
            status="active",
            operational_status="online",
            location_lat=lat,
            location_lng=lng,
        )
        sector, _ = get_or_create(
            session,
            WirelessSector,
            {"tenant_id": t, "tower_id": tower.id, "name": f"Sector {n}"},
            device_id=ap.id,
            sector_number=n,
            frequency_mhz=5180 + 40 * n,
            channel_width_mhz=40,
            azimuth=azimuth,
            beamwidth_degrees=90,
            downtilt_degrees=2,
            max_range_km=Decimal("8.00"),
            max_subscribers=64,
            max_capacity_mbps=400,
            tx_power_dbm=24,
            operational_status="online",
        )
        sectors.append(sector)
    return sectors


def _seed_subscriber(
    session: Session, isp: DemoIsp, t: str, i: int, profile: BandwidthProfile, service: str
) -> Subscriber:
    first, last = FIRST_NAMES[i % len(FIRST_NAMES)], LAST_NAMES[(i * 3) % len(LAST_NAMES)]
    customer, _ = get_or_create(
        session,
        Customer,
        {"tenant_id": t, "customer_number": f"{isp.prefix}-C{i:04d}"},
        name=f"{first} {last}",
        email=f"{first.lower()}.{last.lower()}@example.com",
        phone=f"+1555{i:07d}",
    )
    lat, lng = _offset(isp, i)
    username = f"{isp.prefix.lower()}{i:04d}"
    suspended = i % 9 == 0
    installed = date(2025, 1 + i % 12, 1 + (i * 5) % 28)  # deterministic, in the past
    activated = datetime(installed.year, installed.month, installed.day, 15, 0, tzinfo=UTC)
    sub, made = get_or_create(
        session,
        Subscriber,
        {"tenant_id": t, "subscriber_number": f"{isp.prefix}-{i:06d}"},
        customer_id=customer.id,
        service_type=service,
        connection_type="pppoe",
        status="suspended" if suspended else "active",
        suspension_reason="unpaid invoice" if suspended else None,
        installation_date=installed,
        service_activated_at=activated,
        service_suspended_at=datetime(2026, 1, 5, 9, 0, tzinfo=UTC) if suspended else None,
        service_address_line1=f"{10 + i} Lake Road",
        service_address_city="Kisumu" if isp.prefix == "LKF" else "Boulder",
        service_location_lat=lat,
        service_location_lng=lng,
        installation_status="completed",
        bandwidth_profile_id=profile.id,
        pppoe_username=username,
        billing_cycle_day=1 + i % 28,
    )
    if made:
        # The password goes into radcheck (the tenant's password type); the plan's reply rows are rendered
        # by the database when the subscriber is inserted (migration 0013).
        set_password(session, tenant_id=t, subscriber_id=sub.id, password=secrets.token_urlsafe(9))
        session.add(
            ServiceActivation(
                tenant_id=t,
                subscriber_id=sub.id,
                activation_type="new_service",
                workflow_status="completed",
                bandwidth_profile_id=profile.id,
                steps_completed=["radius_provisioned", "cpe_activated"],
                requested_at=activated - timedelta(minutes=30),
                started_at=activated - timedelta(minutes=30),
                completed_at=activated,
                duration_seconds=1800,
            )
        )
        session.flush()
    return sub


def _seed_isp(db: Database, isp: DemoIsp) -> dict[str, int]:
    created = int(_seed_tenant_row(db, isp))
    t = isp.slug
    with db.tenant(t, user_id="demo-seed", enforce_status=False) as session:
        _, made = get_or_create(
            session,
            User,
            {"tenant_id": t, "email": f"admin@{t}.demo"},
            full_name=f"{isp.name} Admin",
            roles=["tenant_admin"],
            is_verified=True,
            password_hash=PASSWORD_HASHER.hash(DEMO_PASSWORD),
        )
        created += int(made)
        profiles = []
        for name, down, up, bdown, bup, cap in PROFILES:
            profile, made = get_or_create(
                session,
                BandwidthProfile,
                {"tenant_id": t, "name": name},
                download_mbps=down,
                upload_mbps=up,
                download_burst_mbps=bdown,
                upload_burst_mbps=bup,
                burst_threshold_mbps=int(down * 0.75) if bdown else None,
                burst_time_seconds=16 if bdown else None,
                monthly_data_cap_gb=cap,
            )
            profiles.append(profile)
            created += int(made)
        pools = _seed_network(session, isp, t)
        olt, naps = _seed_ftth_plant(session, isp, t)
        sectors = _seed_wireless_plant(session, isp, t)
        for i in range(1, FTTH_PER_ISP + WIRELESS_PER_ISP + 1):
            ftth = i <= FTTH_PER_ISP
            profile = profiles[2] if i % 5 == 0 else profiles[i % 2]
            sub = _seed_subscriber(session, isp, t, i, profile, "ftth" if ftth else "wireless")
            if ftth:
                get_or_create(
                    session,
                    Onu,
                    {"tenant_id": t, "serial_number": f"HWTC{isp.prefix}{i:05d}"},
                    olt_id=olt.id,
                    subscriber_id=sub.id,
                    splitter_id=naps[i % 2].id,
                    splitter_port=1 + i // 2,
                    vendor="Huawei",
                    model="HG8145V5",
                    **demo_ftth.onu_values(session, t, olt, i),
                    rx_power_dbm=Decimal("-19.5") - Decimal(i) / 4,
                    tx_power_dbm=Decimal("2.10"),
                    distance_meters=1200 + 90 * i,
                    service_profile=profile.name,
                    vlan_id=100,
                )
            else:
                lat, lng = _offset(isp, i, spread=0.02)
                get_or_create(
                    session,
                    WirelessSubscriber,
                    {"tenant_id": t, "subscriber_id": sub.id},
                    sector_id=sectors[i % 3].id,
                    cpe_mac=f"00:04:56:{i:02x}:{1 if isp.prefix == 'LKF' else 2:02x}:01",
                    cpe_model="Force 300-25",
                    install_latitude=lat,
                    install_longitude=lng,
                    signal_strength_dbm=-58 - i,
                    snr_db=32 - i,
                    signal_quality_percent=90 - i,
                    link_speed_mbps=300,
                    status="active",
                )
            if profile.name == "Business 100":
                get_or_create(
                    session,
                    IpAllocation,
                    {"tenant_id": t, "subscriber_id": sub.id, "ip_pool_id": pools["static"].id},
                    ip_address=f"203.0.113.{1 + i // 5}",
                    status="active",
                )
        created += ftth_plant.seed_plant(session, t)  # after the OLTs and ONUs: traces them
        created += demo_ftth.seed_activity(session, t, olt, f"HWTC{isp.prefix}NEW01")
        created += wireless.seed_wireless(  # after the sectors and CPEs: wedges, predictions, readings
            session,
            t,
            portal_name=isp.name if isp.slug == WISP else None,
            wisp=isp.slug == WISP,
            lat=isp.lat,
            lng=isp.lng,
        )
    return {"created": created}


def seed_demo(db: Database) -> str:
    """Create whatever of the demo data is missing; return a one-line summary."""
    created = 0
    for isp in DEMO_ISPS:
        created += _seed_isp(db, isp)["created"]
    names = ", ".join(isp.slug for isp in DEMO_ISPS)
    per = FTTH_PER_ISP + WIRELESS_PER_ISP
    what = "created" if created else "already present"
    return (
        f"tenants {names} {what}: {per} subscribers each with RADIUS credentials, NAS, IP pools, "
        f"an OLT with ONUs and splitters, a tower with 3 sectors and CPEs. Staff login admin@<tenant>.demo / "
        f"{DEMO_PASSWORD}"
    )
