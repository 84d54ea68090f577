"""The Huawei SNMP driver against real snmpd serving HUAWEI-XPON-MIB (tests/ftth/doubles/huawei_snmp.py)."""

from __future__ import annotations

import pytest

from ispops.devices.snmp import SnmpCredentials, SnmpTarget
from ispops.ftth.drivers.base import DriverTimeout, OnuAddress, PonAddress, Unsupported
from ispops.ftth.drivers.snmp import HuaweiSnmp, if_index, olt_rx_dbm, pon_of, serial_text
from tests.devices.conftest import COMMUNITY
from tests.ftth.doubles.huawei_snmp import FakeAutofind, FakeOnu, HuaweiAgent, OltWalk
from tests.ports import free_udp_port


def driver(agent: HuaweiAgent, community: str = COMMUNITY) -> HuaweiSnmp:
    return HuaweiSnmp(
        SnmpTarget("127.0.0.1", agent.port, SnmpCredentials("v2c", community=community)), timeout=1, retries=0
    )


WALK = OltWalk(
    onus=[
        FakeOnu(1, 0, 0, "HWTC00000001", rx_dbm=-19.55, tx_dbm=2.31, olt_rx_dbm=-21.4, distance_m=1830),
        FakeOnu(1, 0, 3, "HWTC00000002", online=False, last_down_cause=13),
        FakeOnu(2, 15, 127, "ZTEG0000ABCD", rx_dbm=-27.9, olt_rx_dbm=-30.01, distance_m=19950, last_down_cause=1),
    ],
    autofind=[FakeAutofind(1, 0, 1, "HWTC1A2B3C4D"), FakeAutofind(3, 7, 1, "ALCLF00DCAFE", equipment="G-240W-F")],
)


def test_addressing_follows_the_documented_ifindex() -> None:
    assert if_index(PonAddress(0, 1, 0)) == 4194312192
    assert pon_of(4194312192) == PonAddress(0, 1, 0)
    assert pon_of(if_index(PonAddress(0, 17, 15))) == PonAddress(0, 17, 15)
    assert pon_of(1) is None
    with pytest.raises(Unsupported):
        if_index(PonAddress(1, 1, 0))
    assert serial_text(bytes.fromhex("48575443") + bytes.fromhex("1A2B3C4D")) == "HWTC1A2B3C4D"
    assert olt_rx_dbm(7860) == -21.4  # firmware offset
    assert olt_rx_dbm(-2140) == -21.4  # as the MIB documents it
    assert olt_rx_dbm(2147483647) is None


def test_status_distance_and_last_down_cause(huawei_agent: HuaweiAgent) -> None:
    huawei_agent.serve(WALK)
    states = {s.address: s for s in driver(huawei_agent).read_status()}
    assert len(states) == 3
    first = states[OnuAddress(PonAddress(0, 1, 0), 0)]
    assert (first.serial_number, first.online, first.distance_m, first.last_down_cause) == (
        "HWTC00000001",
        True,
        1830,
        None,
    )
    gasp = states[OnuAddress(PonAddress(0, 1, 0), 3)]
    assert (gasp.online, gasp.distance_m, gasp.last_down_cause) == (False, None, "dying_gasp")
    far = states[OnuAddress(PonAddress(0, 2, 15), 127)]
    assert (far.serial_number, far.online, far.last_down_cause) == ("ZTEG0000ABCD", True, "los")


def test_optics_are_scaled_to_dbm_and_an_offline_onu_has_none(huawei_agent: HuaweiAgent) -> None:
    huawei_agent.serve(WALK)
    wanted = [OnuAddress(PonAddress(0, 1, 0), 0), OnuAddress(PonAddress(0, 1, 0), 3)]
    readings = {r.address: r for r in driver(huawei_agent).read_optics(wanted)}
    assert set(readings) == set(wanted)
    up = readings[wanted[0]]
    assert (up.rx_dbm, up.tx_dbm, up.olt_rx_dbm, up.temperature_c, up.voltage_v, up.bias_ma, up.distance_m) == (
        -19.55,
        2.31,
        -21.4,
        45,
        3.3,
        12,
        1830,
    )
    down = readings[wanted[1]]
    assert (down.rx_dbm, down.tx_dbm, down.olt_rx_dbm, down.distance_m) == (None, None, None, None)


def test_discovery_lists_the_autofind_table(huawei_agent: HuaweiAgent) -> None:
    huawei_agent.serve(WALK)
    found = driver(huawei_agent).discover()
    assert [(str(d.pon), d.serial_number, d.equipment_id) for d in found] == [
        ("0/1/0", "HWTC1A2B3C4D", "EG8145V5"),
        ("0/3/7", "ALCLF00DCAFE", "G-240W-F"),
    ]


def test_a_changed_olt_is_seen_on_the_next_read(huawei_agent: HuaweiAgent) -> None:
    huawei_agent.serve(OltWalk(onus=[FakeOnu(1, 0, 0, "HWTC00000001", online=False, last_down_cause=1)]))
    [state] = driver(huawei_agent).read_status()
    assert (state.online, state.last_down_cause) == (False, "los")
    huawei_agent.serve(OltWalk())
    assert driver(huawei_agent).read_status() == []


def test_no_answer_is_a_timeout(huawei_agent: HuaweiAgent) -> None:
    silent = HuaweiSnmp(
        SnmpTarget("127.0.0.1", free_udp_port(), SnmpCredentials("v2c", community="x")), timeout=0.3, retries=0
    )
    with pytest.raises(DriverTimeout):
        silent.read_status()
    with pytest.raises(DriverTimeout):  # a wrong community gets no answer either
        driver(huawei_agent, community="wrong").read_optics()
