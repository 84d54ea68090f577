"""VOLTHA (ONF's open OLT abstraction) through its northbound API, over the REST mapping of
``voltha.VolthaService`` (voltha-protos ``voltha.proto``: ``GET /api/v1/devices``, ``GET
/api/v1/devices/{id}``, ``POST /api/v1/devices/{id}/enable|disable|reboot``; JSON as protobuf's JSON
mapping writes it).

VOLTHA cannot run here (it needs Kubernetes, Kafka and etcd): this adapter is tested against recorded
responses served by a local HTTP double (tests/ftth/doubles/voltha.py), never against VOLTHA itself.

What the operations mean in VOLTHA: the OLT adapter discovers ONUs itself, as child devices of the OLT
(``parent_id``); authorising one enables it, deauthorising disables it. Its PON port is the child's
``proxy_address.channel_id`` (frame and slot 0) and its ONU id ``proxy_address.onu_id``. Light levels are
published on VOLTHA's Kafka KPI topic, not through the NBI: ``read_optics`` is :class:`Unsupported`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import httpx

from ispops.ftth.drivers.base import (
    Authorisation,
    CommandFailed,
    DiscoveredOnu,
    DriverError,
    DriverTimeout,
    OltTarget,
    OnuAddress,
    OnuState,
    OpticalReading,
    PonAddress,
    Step,
    Transcript,
    Unsupported,
)

DEFAULT_PORT = 8882


class Voltha:
    name = "voltha"

    def __init__(self, target: OltTarget, *, transport: httpx.BaseTransport | None = None) -> None:
        if not target.olt_device_id:
            raise DriverError("voltha_device_id: the OLT's VOLTHA device id is required")
        self.target = target
        self.base = f"http://{_host(target.host)}:{target.port or DEFAULT_PORT}"
        self.transport = transport

    def _request(self, method: str, path: str, transcript: Transcript | None = None) -> Any:
        line = f"{method} {path}"
        try:
            with httpx.Client(base_url=self.base, timeout=self.target.timeout, transport=self.transport) as client:
                response = client.request(method, path, headers={"Accept": "application/json"})
        except httpx.TimeoutException:
            if transcript is not None:
                transcript.record(Step(line, "(no answer)\n", ok=False))
            raise DriverTimeout(f"VOLTHA {self.base}: no answer to {line} within {self.target.timeout:g} s") from None
        except httpx.HTTPError as exc:
            raise DriverError(f"VOLTHA {self.base}: {type(exc).__name__}: {exc}") from None
        body = response.text
        ok = response.status_code < 400
        if transcript is not None:
            transcript.record(Step(line, f"{response.status_code} {body}\n", ok=ok))
        if not ok:
            message = _message(body) or response.reason_phrase
            raise CommandFailed(line, f"{response.status_code} {message}")
        return response.json() if body.strip() else {}

    def _children(self) -> list[dict[str, Any]]:
        devices = self._request("GET", "/api/v1/devices").get("items", [])
        return [d for d in devices if d.get("parent_id") == self.target.olt_device_id and not d.get("root")]

    def _by_serial(self, serial_number: str) -> dict[str, Any] | None:
        return next(
            (d for d in self._children() if str(d.get("serial_number", "")).upper() == serial_number.upper()), None
        )

    def discover(self) -> list[DiscoveredOnu]:
        return [
            DiscoveredOnu(
                pon=_address(d).pon,
                serial_number=str(d.get("serial_number", "")).upper(),
                equipment_id=d.get("model") or None,
            )
            for d in self._children()
            if d.get("admin_state") != "ENABLED" or d.get("oper_status") == "DISCOVERED"
        ]

    def authorise(self, request: Authorisation, transcript: Transcript) -> None:
        onu = self._by_serial(request.serial_number)
        if onu is None:
            raise CommandFailed("GET /api/v1/devices", f"no ONU with serial {request.serial_number} under the OLT\n")
        found = _address(onu)
        if found != request.address:
            raise CommandFailed(
                "GET /api/v1/devices", f"ONU {request.serial_number} is at {found}, not at {request.address}\n"
            )
        transcript.plan([f"POST /api/v1/devices/{onu['id']}/enable"])
        if onu.get("admin_state") == "ENABLED":  # a previous attempt got this far
            transcript.record(Step(transcript.planned[0], "already ENABLED: nothing to send\n"))
            return
        self._request("POST", f"/api/v1/devices/{onu['id']}/enable", transcript)

    def deauthorise(self, address: OnuAddress, serial_number: str, transcript: Transcript) -> None:
        onu = self._by_serial(serial_number)
        if onu is None:
            transcript.record(Step("GET /api/v1/devices", f"no ONU with serial {serial_number}: already gone\n"))
            return
        transcript.plan([f"POST /api/v1/devices/{onu['id']}/disable"])
        if onu.get("admin_state") == "DISABLED":
            transcript.record(Step(transcript.planned[0], "already DISABLED: nothing to send\n"))
            return
        self._request("POST", f"/api/v1/devices/{onu['id']}/disable", transcript)

    def reboot(self, address: OnuAddress, transcript: Transcript) -> None:
        onu = next((d for d in self._children() if _address(d) == address), None)
        if onu is None:
            raise CommandFailed("GET /api/v1/devices", f"no ONU at {address} under the OLT\n")
        transcript.plan([f"POST /api/v1/devices/{onu['id']}/reboot"])
        self._request("POST", f"/api/v1/devices/{onu['id']}/reboot", transcript)

    def read_status(self, addresses: Sequence[OnuAddress] | None = None) -> list[OnuState]:
        wanted = set(addresses) if addresses is not None else None
        out = []
        for d in self._children():
            address = _address(d)
            if wanted is not None and address not in wanted:
                continue
            out.append(
                OnuState(
                    address=address,
                    serial_number=str(d.get("serial_number", "")).upper() or None,
                    online=d.get("oper_status") == "ACTIVE" and d.get("connect_status") == "REACHABLE",
                )
            )
        return out

    def read_optics(self, addresses: Sequence[OnuAddress] | None = None) -> list[OpticalReading]:
        raise Unsupported("VOLTHA publishes optical levels on its Kafka KPI topic, not through the NBI")


def _address(device: dict[str, Any]) -> OnuAddress:
    proxy = device.get("proxy_address") or {}
    return OnuAddress(PonAddress(0, 0, int(proxy.get("channel_id", 0))), int(proxy.get("onu_id", 0)))


def _host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _message(body: str) -> str | None:
    try:
        data = json.loads(body)
    except ValueError:
        return body.strip()[:500] or None
    return str(data.get("message") or data.get("error") or "")[:500] or None if isinstance(data, dict) else None
