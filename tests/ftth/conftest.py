"""FTTH test fixtures (shared by the FTTH tests; each block says whose)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from sqlalchemy import text

from ispops.db.session import Database
from tests.api.conftest import api_settings, app_client, auth, client  # noqa: F401 (the API fixtures)
from tests.ftth import onu_world
from tests.ftth.doubles.huawei_snmp import HuaweiAgent, start_huawei_agent
from tests.ftth.doubles.huawei_ssh import HuaweiSsh, start_huawei_ssh
from tests.ftth.onu_world import OltWorld

# --- OLTs, PON ports and ONUs (tests/ftth/onu_world.py) ------------------------------------------------


@pytest.fixture
def olt_world(db: Database) -> OltWorld:
    """Tenant isp-a: a GPON OLT, its PON port 0/1/3 (128 ids) and a 1x8 splitter NAP-1."""
    return onu_world.build(db, "isp-a")


@pytest.fixture
def other_world(db: Database, olt_world: OltWorld) -> OltWorld:
    """Tenant isp-b, built like isp-a (for the other-tenant tests)."""
    return onu_world.build(db, "isp-b")


# --- OLT drivers and provisioning (doubles in tests/ftth/doubles/) ------------------------------------


@pytest.fixture(scope="session")
def huawei_agent(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HuaweiAgent]:
    """Real snmpd answering HUAWEI-XPON-MIB from a walk the test sets (``huawei_agent.serve(walk)``)."""
    yield from start_huawei_agent(tmp_path_factory.mktemp("huawei-snmp"))


@pytest.fixture(scope="session")
def huawei_ssh_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HuaweiSsh]:
    yield from start_huawei_ssh(tmp_path_factory.mktemp("huawei-ssh"))


@pytest.fixture
def huawei_ssh(huawei_ssh_server: HuaweiSsh) -> HuaweiSsh:
    """Real sshd whose console answers like an MA5800, emptied for the test."""
    huawei_ssh_server.reset()
    return huawei_ssh_server


# --- Optical health (tests/ftth/test_optics*.py, test_alarms*.py) -------------------------------------


@dataclass
class OpticsWorld:
    """``olt_world`` with ``n`` online ONUs on its port 0/1/3, ONU i on splitter NAP-1's port i + 1 (up to 8)."""

    world: OltWorld
    onus: list[uuid.UUID]

    @property
    def tenant(self) -> str:
        return self.world.tenant


def add_online_onus(db: Database, world: OltWorld, n: int, *, prefix: str = "OPTX") -> list[uuid.UUID]:
    with db.tenant(world.tenant) as s:
        return [
            s.execute(
                text(
                    "insert into onus (tenant_id, olt_id, pon_port_id, onu_id, serial_number, status, splitter_id, "
                    "splitter_port) values (:t, :olt, :port, :i, :serial, 'online', :spl, :sp) returning id"
                ),
                {
                    "t": world.tenant,
                    "olt": world.olt,
                    "port": world.port,
                    "i": i,
                    "serial": f"{prefix}{i:08d}",
                    "spl": world.splitter if i < 8 else None,
                    "sp": i + 1 if i < 8 else None,
                },
            ).scalar_one()
            for i in range(n)
        ]


@pytest.fixture
def optics_world(db: Database, olt_world: OltWorld) -> OpticsWorld:
    """Tenant isp-a's OLT with 6 online ONUs, all under splitter NAP-1."""
    return OpticsWorld(olt_world, add_online_onus(db, olt_world, 6))
