"""SNMP polling against a real snmpd: v2c and v3, wrong credentials, silence, degraded, many devices."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from typing import Any

import pytest
from sqlalchemy import select

from ispops.config import Settings
from ispops.db.session import Database
from ispops.devices import jobs
from ispops.devices.service import credentials_path
from ispops.devices.snmp import InterfaceSample, SnmpCredentials, SnmpTarget, classify, poll_device
from ispops.models import Device, DeviceInterface
from ispops.secrets.file import FileSecretStore
from tests.devices.conftest import COMMUNITY, V3_AUTH, V3_PRIV, V3_USER, Agent
from tests.factories import make_tenant
from tests.ports import free_udp_port

FAST = Settings(snmp_timeout_seconds=0.5, snmp_retries=0, snmp_device_deadline_seconds=10, snmp_concurrency=8)


def add_device(db: Database, tenant: str, name: str, **values: Any) -> uuid.UUID:
    with db.tenant(tenant) as s:
        device = Device(
            tenant_id=tenant,
            name=name,
            device_type=values.pop("device_type", "switch"),
            management_ip=values.pop("management_ip", "127.0.0.1"),
            **values,
        )
        s.add(device)
        s.flush()
        return device.id


def device(db: Database, tenant: str, device_id: uuid.UUID) -> Device:
    with db.tenant(tenant) as s:
        return s.scalars(select(Device).where(Device.id == device_id)).one()


def interfaces(db: Database, tenant: str, device_id: uuid.UUID) -> list[DeviceInterface]:
    with db.tenant(tenant) as s:
        stmt = select(DeviceInterface).where(DeviceInterface.device_id == device_id).order_by(DeviceInterface.if_index)
        return list(s.scalars(stmt))


@pytest.fixture
def tenant(db: Database) -> str:
    make_tenant(db, "tenant-a")
    return "tenant-a"


def test_v2c_poll_records_status_system_group_and_interfaces(db: Database, tenant: str, agent: Agent) -> None:
    did = add_device(db, tenant, "edge-1", snmp_port=agent.port, snmp_community=COMMUNITY)

    summary = jobs.poll_tenant(db, tenant, settings=FAST)

    assert (summary.online, summary.offline, summary.degraded, summary.skipped) == (1, 0, 0, 0)
    d = device(db, tenant, did)
    assert d.operational_status == "online"
    assert d.last_seen is not None and d.last_polled_at == d.last_seen
    assert d.last_poll_error is None
    assert d.sys_name == "ispops-test-agent"
    assert d.sys_descr == "ispops test agent (Net-SNMP)"
    assert d.sys_uptime_seconds is not None and d.sys_uptime_seconds >= 0
    rows = interfaces(db, tenant, did)
    lo = next(r for r in rows if r.if_index == 1)
    assert (lo.name, lo.admin_status, lo.oper_status) == ("lo", "up", "up")
    assert lo.in_octets is not None and lo.in_octets >= 0 and lo.out_octets is not None
    assert lo.hc_counters is True  # ifXTable answered: 64-bit counters

    # Idempotent: polling again updates the same rows.
    jobs.poll_tenant(db, tenant, settings=FAST)
    again = interfaces(db, tenant, did)
    assert [r.if_index for r in again] == [r.if_index for r in rows]
    assert {r.id for r in again} == {r.id for r in rows}
    assert device(db, tenant, did).last_seen > d.last_seen  # type: ignore[operator]


def test_v3_credentials_come_from_the_secret_store(
    db: Database, tenant: str, agent: Agent, store: FileSecretStore
) -> None:
    did = add_device(db, tenant, "olt-1", device_type="olt", snmp_port=agent.port, snmp_version="v3")
    path = credentials_path(tenant, did)
    store.put(path, json.dumps({"snmp_user": V3_USER, "snmp_auth_key": V3_AUTH, "snmp_priv_key": V3_PRIV}).encode())
    with db.tenant(tenant) as s:
        s.get_one(Device, did).credentials_vault_path = path

    summary = jobs.poll_tenant(db, tenant, settings=FAST, store=store)

    assert summary.online == 1, summary.problems
    assert device(db, tenant, did).sys_name == "ispops-test-agent"
    assert interfaces(db, tenant, did)

    # Wrong privacy key: the agent cannot decrypt, nothing usable comes back: offline, with the reason.
    wrong = {"snmp_user": V3_USER, "snmp_auth_key": V3_AUTH, "snmp_priv_key": "wrong-key-1"}
    store.put(path, json.dumps(wrong).encode())
    summary = jobs.poll_tenant(db, tenant, settings=FAST, store=store)
    assert summary.offline == 1
    d = device(db, tenant, did)
    assert d.operational_status == "offline" and d.last_poll_error


def test_v3_without_credentials_is_not_pollable(db: Database, tenant: str, agent: Agent) -> None:
    did = add_device(db, tenant, "olt-1", snmp_port=agent.port, snmp_version="v3")
    summary = jobs.poll_tenant(db, tenant, settings=FAST)
    assert summary.skipped == 1
    d = device(db, tenant, did)
    assert d.operational_status is None  # not polled: no status is invented
    assert d.last_poll_error is not None and "snmp_user" in d.last_poll_error


def test_unknown_community_is_offline_and_keeps_the_last_good_data(db: Database, tenant: str, agent: Agent) -> None:
    did = add_device(db, tenant, "edge-1", snmp_port=agent.port, snmp_community=COMMUNITY)
    jobs.poll_tenant(db, tenant, settings=FAST)
    good = device(db, tenant, did)
    with db.tenant(tenant) as s:
        s.get_one(Device, did).snmp_community = "not-the-community"

    summary = jobs.poll_tenant(db, tenant, settings=FAST)

    assert summary.offline == 1
    d = device(db, tenant, did)
    assert d.operational_status == "offline"
    assert d.last_poll_error and "No SNMP response" in d.last_poll_error
    assert d.last_seen == good.last_seen  # last seen is when it last answered
    assert d.sys_name == "ispops-test-agent"
    assert interfaces(db, tenant, did)  # the last walk stays visible


def test_closed_port_is_offline_within_the_bounds(db: Database, tenant: str) -> None:
    did = add_device(db, tenant, "ghost", snmp_port=free_udp_port(), snmp_community=COMMUNITY)
    started = time.monotonic()
    summary = jobs.poll_tenant(db, tenant, settings=FAST)
    assert summary.offline == 1
    assert device(db, tenant, did).operational_status == "offline"
    # 0.5 s timeout, no retries: nowhere near the 10 s deadline.
    assert time.monotonic() - started < FAST.snmp_device_deadline_seconds


def test_device_deadline_bounds_a_slow_poll() -> None:
    target = SnmpTarget("127.0.0.1", free_udp_port(), SnmpCredentials("v2c", community=COMMUNITY))
    result = asyncio.run(poll_device(target, timeout=5, retries=3, deadline=0.5))
    assert result.status == "offline"
    assert result.error == "no complete answer within 0.5 s"


def test_admin_up_interface_down_is_degraded(db: Database, tenant: str, degraded_agent: Agent) -> None:
    did = add_device(db, tenant, "edge-1", snmp_port=degraded_agent.port, snmp_community=COMMUNITY)
    summary = jobs.poll_tenant(db, tenant, settings=FAST)
    assert summary.degraded == 1
    lo = next(r for r in interfaces(db, tenant, did) if r.if_index == 1)
    assert (lo.admin_status, lo.oper_status) == ("up", "down")
    assert device(db, tenant, did).operational_status == "degraded"


def test_classify() -> None:
    up = InterfaceSample(1, admin_status="up", oper_status="up")
    shut = InterfaceSample(2, admin_status="down", oper_status="down")
    broken = InterfaceSample(3, admin_status="up", oper_status="lower_layer_down")
    assert classify(reachable=False, interfaces=[up]) == "offline"
    assert classify(reachable=True, interfaces=[up, shut]) == "online"
    assert classify(reachable=True, interfaces=[up, broken]) == "degraded"
    assert classify(reachable=True, interfaces=None) == "degraded"


def test_many_devices_with_bounded_concurrency(
    db: Database, tenant: str, agent: Agent, monkeypatch: pytest.MonkeyPatch
) -> None:
    live = [
        add_device(db, tenant, f"cpe-{i}", device_type="cpe", snmp_port=agent.port, snmp_community=COMMUNITY)
        for i in range(24)
    ]
    dead = [add_device(db, tenant, f"dead-{i}", snmp_port=free_udp_port(), snmp_community=COMMUNITY) for i in range(6)]
    no_address = add_device(db, tenant, "spare", management_ip=None, snmp_community=COMMUNITY)
    inactive = add_device(db, tenant, "retired", status="inactive", snmp_port=agent.port, snmp_community=COMMUNITY)

    in_flight = peak = 0
    real = jobs.poll_device  # type: ignore[attr-defined]

    async def counted(*args: Any, **kwargs: Any) -> Any:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        try:
            return await real(*args, **kwargs)
        finally:
            in_flight -= 1

    monkeypatch.setattr(jobs, "poll_device", counted)
    summary = jobs.poll_tenant(db, tenant, settings=FAST, concurrency=4)

    assert (summary.online, summary.offline, summary.skipped) == (24, 6, 1)
    assert peak == 4
    assert {device(db, tenant, d).operational_status for d in live} == {"online"}
    assert {device(db, tenant, d).operational_status for d in dead} == {"offline"}
    assert device(db, tenant, no_address).last_poll_error == "no management_ip or primary_ip to poll"
    assert device(db, tenant, inactive).last_polled_at is None


def test_poll_runs_from_inside_an_event_loop(db: Database, tenant: str, agent: Agent) -> None:
    """A job runner may call the plain function from async code: it still completes."""
    did = add_device(db, tenant, "edge-1", snmp_port=agent.port, snmp_community=COMMUNITY)

    async def inside() -> jobs.PollSummary:
        return jobs.poll_tenant(db, tenant, settings=FAST)

    assert asyncio.run(inside()).online == 1
    assert device(db, tenant, did).operational_status == "online"


def test_other_tenants_devices_are_not_polled(db: Database, tenant: str, agent: Agent) -> None:
    make_tenant(db, "tenant-b")
    theirs = add_device(db, "tenant-b", "edge-b", snmp_port=agent.port, snmp_community=COMMUNITY)
    jobs.poll_tenant(db, tenant, settings=FAST)
    assert device(db, "tenant-b", theirs).last_polled_at is None


def test_a_database_failure_recording_one_result_does_not_stop_the_job(
    db: Database, tenant: str, agent: Agent, admin: Any
) -> None:
    """Not a data error (here the app role has lost UPDATE on devices): every device
    is still polled, the job returns, and the summary says which results were not recorded."""
    first = add_device(db, tenant, "edge-a", snmp_port=agent.port, snmp_community=COMMUNITY)
    second = add_device(db, tenant, "edge-b", snmp_port=agent.port, snmp_community=COMMUNITY)
    admin.execute("revoke update on devices from ispops_app")
    try:
        summary = jobs.poll_tenant(db, tenant, settings=FAST)
    finally:
        admin.execute("grant update on devices to ispops_app")

    assert summary.online == 2  # both answered
    assert sorted(p.split(":")[0] for p in summary.problems) == ["edge-a", "edge-b"]
    assert all("could not be recorded" in p for p in summary.problems)
    assert device(db, tenant, first).operational_status is None  # nothing half-written
    assert interfaces(db, tenant, second) == []
    # With the privilege back, the next run records both.
    assert jobs.poll_tenant(db, tenant, settings=FAST).problems == []
    assert device(db, tenant, first).operational_status == "online"
