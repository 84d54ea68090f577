"""GenieACS's northbound API (NBI), as a double, following its documented API (docs.genieacs.com, "API
Reference"): ``GET /devices/?query=<JSON>&projection=...`` and ``POST /devices/<id>/tasks?connection_request
&timeout=<ms>`` (200: the CPE answered the connection request and the task ran; 202: queued for its next
inform; 404: no such device). GenieACS needs MongoDB, which cannot run here.

Devices are dicts as GenieACS stores them (``_id``, ``_deviceId``, ``_tags``, ``_lastInform`` and the
parameter tree under ``InternetGatewayDevice`` or ``Device``); ``setParameterValues`` writes into that tree
(``{"_value": ...}`` leaves), so a test reads back what the CPE got."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from tests.ftth.doubles.http_double import HttpDouble, serve


def cpe(
    serial: str,
    *,
    tenant: str,
    model: str = "tr098",
    manufacturer: str = "Huawei Technologies Co., Ltd",
    online: bool = True,
) -> dict[str, Any]:
    oui = "00259E" if manufacturer.startswith("Huawei") else "001E80"
    root = "InternetGatewayDevice" if model == "tr098" else "Device"
    return {
        "_id": f"{oui}-HG8245H-{serial}",
        "_deviceId": {"_Manufacturer": manufacturer, "_OUI": oui, "_ProductClass": "HG8245H", "_SerialNumber": serial},
        "_tags": [f"ispops-{tenant}"] if tenant else [],
        "_lastInform": "2026-12-07T10:00:00.000Z",
        root: {"DeviceInfo": {"SoftwareVersion": {"_value": "V5R020C10S115"}}},
        "_online": online,
    }


def _get(device: dict[str, Any], dotted: str) -> Any:
    node: Any = device
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def _set(device: dict[str, Any], dotted: str, value: Any) -> None:
    node = device
    parts = dotted.split(".")
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = {"_value": value}


@dataclass
class Acs:
    devices: list[dict[str, Any]] = field(default_factory=list)
    tasks: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    fail_tasks: bool = False
    http: HttpDouble | None = None

    @property
    def url(self) -> str:
        assert self.http is not None
        return f"http://127.0.0.1:{self.http.port}"

    def value(self, serial: str, path: str) -> Any:
        device = next(d for d in self.devices if d["_deviceId"]["_SerialNumber"] == serial)
        leaf = _get(device, path)
        return None if leaf is None else leaf.get("_value")

    def handle(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        url = urlsplit(path)
        if method == "GET" and url.path == "/devices/":
            query = json.loads(parse_qs(url.query).get("query", ["{}"])[0])
            found = []
            for d in self.devices:
                ok = True
                for key, want in query.items():
                    got = d.get("_tags") if key == "_tags" else _get(d, key)
                    ok = ok and (want in got if isinstance(got, list) else got == want)
                if ok:
                    found.append({k: v for k, v in d.items() if k != "_online"})
            return 200, found
        if method == "POST" and url.path.startswith("/devices/") and url.path.endswith("/tasks"):
            device_id = unquote(url.path[len("/devices/") : -len("/tasks")])
            device = next((d for d in self.devices if d["_id"] == device_id), None)
            if device is None:
                return 404, None
            if self.fail_tasks:
                return 500, {"error": "internal error"}
            self.tasks.append((device_id, body))
            if not device["_online"]:
                return 202, {"_id": f"task-{len(self.tasks)}", **body}
            if body.get("name") == "setParameterValues":
                for path_, value, _type in body["parameterValues"]:
                    _set(device, path_, value)
            return 200, {"_id": f"task-{len(self.tasks)}", **body}
        return 404, None


@contextmanager
def genieacs(*devices: dict[str, Any]) -> Iterator[Acs]:
    acs = Acs(list(devices))
    with serve(acs.handle) as http:
        acs.http = http
        yield acs
