"""``ispops devices poll`` against the test database and a real snmpd."""

from __future__ import annotations

from ispops.db.session import Database
from tests.cli.test_cli import cli_env, invoke  # noqa: F401  (the fixture)
from tests.devices.conftest import COMMUNITY, Agent
from tests.devices.test_polling import add_device, device
from tests.factories import make_tenant


def test_devices_poll_command(db: Database, agent: Agent, cli_env: dict[str, str]) -> None:  # noqa: F811
    make_tenant(db, "tenant-a")
    did = add_device(db, "tenant-a", "edge-1", snmp_port=agent.port, snmp_community=COMMUNITY)
    add_device(db, "tenant-a", "spare", management_ip=None)

    result = invoke("devices", "poll", "--tenant", "tenant-a", "--timeout", "0.5")

    assert result.exit_code == 0, result.output
    assert "tenant-a: 1 online, 0 degraded, 0 offline, 1 not pollable" in result.output
    assert "spare: no management_ip or primary_ip to poll" in result.output
    assert device(db, "tenant-a", did).operational_status == "online"


def test_devices_poll_unknown_tenant(db: Database, cli_env: dict[str, str]) -> None:  # noqa: F811
    result = invoke("devices", "poll", "--tenant", "nope")
    assert result.exit_code == 1
    assert "no tenant 'nope'" in result.output
