"""The VOLTHA adapter against recorded NBI responses (VOLTHA itself cannot run here)."""

from __future__ import annotations

import pytest

from ispops.devices.service import DeviceCredentials
from ispops.ftth.drivers import NotConfigured, build
from ispops.ftth.drivers.base import (
    Authorisation,
    CommandFailed,
    OltTarget,
    OnuAddress,
    PonAddress,
    Transcript,
    Unsupported,
)
from ispops.ftth.drivers.voltha import Voltha
from tests.ftth.doubles.voltha import voltha_nbi


def driver(port: int, olt: str | None = "olt-7f3a1c") -> Voltha:
    return Voltha(OltTarget("olt", "127.0.0.1", DeviceCredentials(), port=port, olt_device_id=olt, timeout=5))


def test_discover_authorise_reboot_deauthorise() -> None:
    with voltha_nbi() as nbi:
        olt = driver(nbi.port)
        assert [(str(d.pon), d.serial_number) for d in olt.discover()] == [("0/0/1", "BRCM22222222")]
        states = {s.serial_number: s for s in olt.read_status()}
        assert set(states) == {"ALCLF00DCAFE", "BRCM22222222"}  # the other OLT's ONU is not ours
        assert states["ALCLF00DCAFE"].online is True and states["BRCM22222222"].online is False

        address = OnuAddress(PonAddress(0, 0, 1), 3)
        transcript = Transcript()
        olt.authorise(Authorisation(address, "BRCM22222222"), transcript)
        assert ("POST", "/api/v1/devices/onu-9e8f7a/enable", None) in nbi.requests
        assert transcript.steps[-1].command == "POST /api/v1/devices/onu-9e8f7a/enable" and transcript.steps[-1].ok
        again = Transcript()
        olt.authorise(Authorisation(address, "BRCM22222222"), again)  # retried: already enabled, nothing sent
        assert "already ENABLED" in again.text()
        assert [r for r in nbi.requests if r[0] == "POST"] == [("POST", "/api/v1/devices/onu-9e8f7a/enable", None)]

        olt.reboot(address, Transcript())
        olt.deauthorise(address, "BRCM22222222", Transcript())
        assert [r[1] for r in nbi.requests if r[0] == "POST"][-2:] == [
            "/api/v1/devices/onu-9e8f7a/reboot",
            "/api/v1/devices/onu-9e8f7a/disable",
        ]
        with pytest.raises(Unsupported):
            olt.read_optics()


def test_refusals_name_what_is_wrong() -> None:
    with voltha_nbi() as nbi:
        olt = driver(nbi.port)
        with pytest.raises(CommandFailed, match="no ONU with serial"):
            olt.authorise(Authorisation(OnuAddress(PonAddress(0, 0, 0), 1), "HWTC00000000"), Transcript())
        with pytest.raises(CommandFailed, match="is at 0/0/1 ont 3"):
            olt.authorise(Authorisation(OnuAddress(PonAddress(0, 0, 0), 1), "BRCM22222222"), Transcript())
        with pytest.raises(NotConfigured) as missing:
            build("voltha", OltTarget("olt", "127.0.0.1", DeviceCredentials(), port=nbi.port))
        assert missing.value.field == "voltha_device_id"
    with pytest.raises(NotConfigured) as unknown:
        build("zte_magic", OltTarget("olt", "127.0.0.1", DeviceCredentials()))
    assert unknown.value.field == "driver"
