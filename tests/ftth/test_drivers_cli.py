"""The CLI driver (netmiko, Huawei MA5800 templates) against real sshd running the MA5800 console double."""

from __future__ import annotations

import pytest

from ispops.devices.service import DeviceCredentials
from ispops.ftth.drivers.base import (
    Authorisation,
    CommandFailed,
    DriverError,
    DriverTimeout,
    OltTarget,
    OnuAddress,
    PonAddress,
    Transcript,
)
from ispops.ftth.drivers.cli import CliTemplates, HuaweiCli
from tests.ftth.doubles.huawei_ssh import HuaweiSsh

ADDRESS = OnuAddress(PonAddress(0, 1, 0), 5)
REQUEST = Authorisation(
    ADDRESS, "HWTC1A2B3C4D", line_profile="10", service_profile="FTTH_BRIDGE", vlan_id=100, description="subscriber 42"
)


def driver(ssh: HuaweiSsh, timeout: float = 10) -> HuaweiCli:
    creds = DeviceCredentials(username=ssh.username, private_key=ssh.private_key, ssh_port=ssh.port)
    return HuaweiCli(OltTarget("olt-1", "127.0.0.1", creds, timeout=timeout))


def test_templates_render_the_ma5800_commands() -> None:
    assert [c.text for c in CliTemplates().authorise(REQUEST)] == [
        "config",
        "interface gpon 0/1",
        "ont add 0 5 sn-auth HWTC1A2B3C4D omci ont-lineprofile-id 10 ont-srvprofile-name FTTH_BRIDGE "
        'desc "subscriber 42"',
        "ont port native-vlan 0 5 eth 1 vlan 100",
        "quit",
        "service-port vlan 100 gpon 0/1/0 ont 5 gemport 1 multi-service user-vlan 100 tag-transform translate",
        "return",
    ]
    with pytest.raises(DriverError, match="description"):
        CliTemplates().authorise(Authorisation(ADDRESS, "HWTC1A2B3C4D", "10", "10", description='x" ; ont delete'))
    with pytest.raises(DriverError, match="lineprofile"):
        CliTemplates().authorise(Authorisation(ADDRESS, "HWTC1A2B3C4D", "a b", "10"))


def test_authorise_then_reboot_then_deauthorise(huawei_ssh: HuaweiSsh) -> None:
    huawei_ssh.reset(autofind=[{"fsp": "0/1/0", "sn": "HWTC1A2B3C4D"}])
    found = driver(huawei_ssh).discover()
    assert [(str(d.pon), d.serial_number, d.equipment_id) for d in found] == [("0/1/0", "HWTC1A2B3C4D", "EG8145V5")]

    transcript = Transcript()
    driver(huawei_ssh).authorise(REQUEST, transcript)
    state = huawei_ssh.state()
    assert [(o["fsp"], o["id"], o["sn"], o["native_vlan"]) for o in state["onts"]] == [
        ("0/1/0", 5, "HWTC1A2B3C4D", 100)
    ]
    assert state["service_ports"] == [{"vlan": 100, "fsp": "0/1/0", "ont": 5, "gem": 1}]
    assert transcript.planned[0] == "display ont info by-sn HWTC1A2B3C4D"
    assert [s.command for s in transcript.steps] == transcript.planned
    assert all(s.ok for s in transcript.steps)
    assert "success: 1" in transcript.text()

    [status] = driver(huawei_ssh).read_status([ADDRESS])
    assert (status.online, status.serial_number, status.distance_m) == (True, "HWTC1A2B3C4D", 1500)
    [optics] = driver(huawei_ssh).read_optics([ADDRESS])
    assert (optics.rx_dbm, optics.tx_dbm, optics.olt_rx_dbm, optics.voltage_v) == (-20.15, 2.05, -22.6, 3.28)

    reboot = Transcript()
    driver(huawei_ssh).reboot(ADDRESS, reboot)
    assert huawei_ssh.state()["resets"] == ["0/1/0 5"]
    assert [s.command for s in reboot.steps] == ["config", "interface gpon 0/1", "ont reset 0 5", "y", "quit", "return"]

    gone = Transcript()
    driver(huawei_ssh).deauthorise(ADDRESS, "HWTC1A2B3C4D", gone)
    assert huawei_ssh.state()["onts"] == [] and huawei_ssh.state()["service_ports"] == []
    again = Transcript()  # already gone: still fine
    driver(huawei_ssh).deauthorise(ADDRESS, "HWTC1A2B3C4D", again)
    assert all(s.ok for s in again.steps)


def test_a_refused_command_stops_the_sequence_with_its_output(huawei_ssh: HuaweiSsh) -> None:
    huawei_ssh.reset(fail=["ont port native-vlan"], fail_message="The ONT is not online")
    transcript = Transcript()
    with pytest.raises(CommandFailed) as failed:
        driver(huawei_ssh).authorise(REQUEST, transcript)
    assert failed.value.command == "ont port native-vlan 0 5 eth 1 vlan 100"
    assert "Failure: The ONT is not online" in failed.value.output
    assert transcript.steps[-1].ok is False and transcript.steps[-1].command == failed.value.command
    log = huawei_ssh.state()["log"]
    assert not any(line.startswith("service-port") for line in log)  # nothing after the failure was sent

    # the retry starts from a clean state and completes
    huawei_ssh.reset(onts=huawei_ssh.state()["onts"])
    retry = Transcript()
    driver(huawei_ssh).authorise(REQUEST, retry)
    assert [o["id"] for o in huawei_ssh.state()["onts"]] == [5]
    assert "ont delete 0 5" in [s.command for s in retry.steps]


def test_a_serial_authorised_elsewhere_is_refused_untouched(huawei_ssh: HuaweiSsh) -> None:
    onts = [{"fsp": "0/2/1", "id": 7, "sn": "HWTC1A2B3C4D", "line": "10", "srv": "10", "desc": "", "native_vlan": None}]
    huawei_ssh.reset(onts=onts)
    with pytest.raises(CommandFailed, match="already authorised at 0/2/1 ont 7"):
        driver(huawei_ssh).authorise(REQUEST, Transcript())
    assert huawei_ssh.state()["onts"] == onts


def test_a_hung_olt_is_a_timeout(huawei_ssh: HuaweiSsh) -> None:
    huawei_ssh.reset(hang=["ont add"])
    transcript = Transcript()
    with pytest.raises(DriverTimeout, match="ont add"):
        driver(huawei_ssh, timeout=2).authorise(REQUEST, transcript)
    assert transcript.steps[-1].ok is False
