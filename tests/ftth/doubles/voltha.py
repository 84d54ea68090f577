"""VOLTHA's northbound API, as a double: the REST mapping of ``voltha.VolthaService`` (voltha-protos
``voltha.proto``: ``GET /api/v1/devices``, ``POST /api/v1/devices/{id}/enable|disable|reboot``) answering
from recorded responses (``voltha_devices.json``). Enabling and disabling change the recorded state as
VOLTHA does; an unknown id is gRPC's NOT_FOUND as the gateway maps it (404 with ``{"code": 5, ...}``)."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.ftth.doubles.http_double import HttpDouble, serve

RECORDED = json.loads((Path(__file__).parent / "voltha_devices.json").read_text())


@contextmanager
def voltha_nbi() -> Iterator[HttpDouble]:
    devices: list[dict[str, Any]] = copy.deepcopy(RECORDED["items"])

    def handle(method: str, path: str, body: Any) -> tuple[int, Any]:
        if method == "GET" and path == "/api/v1/devices":
            return 200, {"items": devices}
        m = re.fullmatch(r"/api/v1/devices/([^/]+)/(enable|disable|reboot)", path)
        if method == "POST" and m:
            device = next((d for d in devices if d["id"] == m.group(1)), None)
            if device is None:
                return 404, {"code": 5, "message": f"{m.group(1)}", "details": []}
            if m.group(2) == "enable":
                if device["admin_state"] == "ENABLED":
                    return 400, {"code": 9, "message": "device-already-enabled", "details": []}
                device["admin_state"], device["oper_status"] = "ENABLED", "ACTIVE"
            elif m.group(2) == "disable":
                device["admin_state"], device["oper_status"] = "DISABLED", "UNKNOWN"
            return 200, {}
        return 404, {"code": 12, "message": "Not Implemented", "details": []}

    with serve(handle) as double:
        yield double
