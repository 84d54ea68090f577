"""CPE management through TR-069: a GenieACS northbound (NBI) adapter and the services the API calls.

GenieACS's NBI (docs.genieacs.com, "API Reference"): ``GET /devices/?query=<MongoDB query as JSON>&projection=``
finds devices; ``POST /devices/<id>/tasks?connection_request&timeout=<ms>`` runs a task
(``setParameterValues``, ``reboot``, ``refreshObject``) at once when the CPE answers the connection
request (200) or queues it for its next inform (202). GenieACS needs MongoDB, which cannot run here: the
adapter is tested against a local HTTP double following that documented API (tests/ftth/doubles/genieacs.py).

Tenancy: an ONU is found only through the tenant's own ``onus`` row (another tenant's is a 404), and the
GenieACS device with that serial must carry the tag ``ispops-<tenant id>`` (set by the ISP's provisioning
preset), else it is not the tenant's: a shared ACS never lets one tenant touch another's CPE.

Parameter paths per data model and vendor (``PATHS``): TR-098 (``InternetGatewayDevice.``) and TR-181
(``Device.``); Huawei's TR-098 keeps the WPA passphrase in ``PreSharedKey.1.PreSharedKey``. Wi-Fi
passphrases are kept in the secret store (``onus.wifi_password_vault_path``, under the tenant's prefix,
a new path per change), never in the database; the PPPoE credentials are the subscriber's RADIUS ones.
"""

from __future__ import annotations

import json
import re
import secrets
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session

from ispops.db.blocking import call_blocking
from ispops.errors import IspopsError, NotFound, ValidationFailed
from ispops.ftth import service
from ispops.models import Onu, RadCheck, Subscriber
from ispops.secrets import SecretStore, tenant_path
from ispops.secrets.txn import secret_changes

TAG_PREFIX = "ispops-"
SSID = re.compile(r"^[\x20-\x7e]{1,32}$")
PASSPHRASE = re.compile(r"^[\x20-\x7e]{8,63}$")

# (data model, vendor) -> parameter paths; vendor "" is the data model's standard path.
PATHS: dict[tuple[str, str], dict[str, str]] = {
    ("tr098", ""): {
        "ssid": "InternetGatewayDevice.LANDevice.1.WLANConfiguration.1.SSID",
        "passphrase": "InternetGatewayDevice.LANDevice.1.WLANConfiguration.1.KeyPassphrase",
        "ppp": "InternetGatewayDevice.WANDevice.1.WANConnectionDevice.1.WANPPPConnection.1.",
        "root": "InternetGatewayDevice",
    },
    ("tr098", "huawei"): {
        "ssid": "InternetGatewayDevice.LANDevice.1.WLANConfiguration.1.SSID",
        "passphrase": "InternetGatewayDevice.LANDevice.1.WLANConfiguration.1.PreSharedKey.1.PreSharedKey",
        "ppp": "InternetGatewayDevice.WANDevice.1.WANConnectionDevice.1.WANPPPConnection.1.",
        "root": "InternetGatewayDevice",
    },
    ("tr181", ""): {
        "ssid": "Device.WiFi.SSID.1.SSID",
        "passphrase": "Device.WiFi.AccessPoint.1.Security.KeyPassphrase",
        "ppp": "Device.PPP.Interface.1.",
        "root": "Device",
    },
}


class AcsError(IspopsError):
    """GenieACS refused or failed the request."""

    status = 502
    code = "acs_error"


class AcsUnavailable(IspopsError):
    status = 503
    code = "acs_unavailable"


@dataclass(frozen=True)
class AcsDevice:
    id: str
    serial_number: str
    data_model: str  # tr098 | tr181
    manufacturer: str | None
    product_class: str | None
    last_inform: str | None

    @property
    def vendor(self) -> str:
        return "huawei" if (self.manufacturer or "").lower().startswith("huawei") else ""

    def paths(self) -> dict[str, str]:
        return PATHS.get((self.data_model, self.vendor)) or PATHS[(self.data_model, "")]


class GenieAcs:
    """GenieACS NBI client (blocking: the services call it through ``call_blocking``)."""

    def __init__(self, base_url: str, *, timeout: float = 10.0, transport: httpx.BaseTransport | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.transport = transport

    def _call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            with httpx.Client(base_url=self.base_url, timeout=self.timeout, transport=self.transport) as client:
                response = client.request(method, path, **kwargs)
        except httpx.TimeoutException:
            raise AcsUnavailable(f"GenieACS: no answer within {self.timeout:g} s") from None
        except httpx.HTTPError as exc:
            raise AcsUnavailable(f"GenieACS: {type(exc).__name__}") from None
        if response.status_code >= 400:
            raise AcsError(
                f"GenieACS refused {method} {path.split('?')[0]}: {response.status_code} {response.text[:300]}"
            )
        return response

    def find(self, *, tenant_id: str, serial_number: str) -> AcsDevice:
        """The tenant's CPE with this serial (404 when there is none, or it is not tagged for the tenant)."""
        query = json.dumps({"_deviceId._SerialNumber": serial_number, "_tags": TAG_PREFIX + tenant_id})
        projection = ",".join(
            ("_id", "_deviceId", "_tags", "_lastInform", "InternetGatewayDevice.DeviceInfo", "Device.DeviceInfo")
        )
        found = self._call("GET", "/devices/", params={"query": query, "projection": projection}).json()
        mine = [d for d in found if TAG_PREFIX + tenant_id in (d.get("_tags") or [])]
        if not mine:
            raise NotFound(f"onus: no CPE with serial {serial_number} in the ACS", table="onus")
        device = mine[0]
        ident = device.get("_deviceId") or {}
        return AcsDevice(
            id=str(device["_id"]),
            serial_number=str(ident.get("_SerialNumber", serial_number)),
            data_model="tr181" if "Device" in device and "InternetGatewayDevice" not in device else "tr098",
            manufacturer=ident.get("_Manufacturer"),
            product_class=ident.get("_ProductClass"),
            last_inform=device.get("_lastInform"),
        )

    def task(self, device: AcsDevice, task: dict[str, Any]) -> str:
        """Run ``task`` now if the CPE answers, else queue it: ``done`` or ``queued``."""
        path = f"/devices/{quote(device.id, safe='')}/tasks?connection_request&timeout={int(self.timeout * 1000)}"
        response = self._call("POST", path, json=task)
        return "done" if response.status_code == 200 else "queued"

    def set_wifi(self, device: AcsDevice, ssid: str, passphrase: str) -> str:
        p = device.paths()
        values = [[p["ssid"], ssid, "xsd:string"], [p["passphrase"], passphrase, "xsd:string"]]
        return self.task(device, {"name": "setParameterValues", "parameterValues": values})

    def set_pppoe(self, device: AcsDevice, username: str, password: str) -> str:
        ppp = device.paths()["ppp"]
        values: list[list[Any]] = [
            [ppp + "Enable", True, "xsd:boolean"],
            [ppp + "Username", username, "xsd:string"],
            [ppp + "Password", password, "xsd:string"],
        ]
        if device.data_model == "tr098":
            values.insert(1, [ppp + "ConnectionType", "IP_Routed", "xsd:string"])
        return self.task(device, {"name": "setParameterValues", "parameterValues": values})

    def reboot(self, device: AcsDevice) -> str:
        return self.task(device, {"name": "reboot"})

    def refresh(self, device: AcsDevice) -> str:
        return self.task(device, {"name": "refreshObject", "objectName": device.paths()["root"]})


# --- services (over the caller's Session; the ACS call goes through call_blocking) --------------------------


def _acs(acs: GenieAcs | None) -> GenieAcs:
    if acs is None:
        raise ValidationFailed(
            "genieacs_nbi_url: no GenieACS configured (ISPOPS_GENIEACS_NBI_URL)", field="genieacs_nbi_url"
        )
    return acs


def find_cpe(session: Session, tenant_id: str, onu_id: uuid.UUID, acs: GenieAcs | None) -> tuple[Onu, AcsDevice]:
    """The tenant's ONU (404 otherwise) and its CPE in the ACS; records ``onus.genieacs_device_id``."""
    onu = service.get_onu(session, tenant_id, onu_id)
    device = call_blocking(_acs(acs).find, tenant_id=tenant_id, serial_number=onu.serial_number)
    if onu.genieacs_device_id != device.id:
        onu.genieacs_device_id = device.id
        session.flush()
    return onu, device


def set_wifi(
    session: Session,
    tenant_id: str,
    onu_id: uuid.UUID,
    *,
    ssid: str,
    passphrase: str,
    acs: GenieAcs | None,
    store: SecretStore,
) -> str:
    """Set the CPE's Wi-Fi SSID and passphrase; the passphrase goes to the secret store (a new path, the old
    one deleted after the commit). All or nothing: if the ACS refuses, the transaction rolls back and the
    new secret is deleted again."""
    if not SSID.match(ssid):
        raise ValidationFailed("ssid: 1 to 32 printable ASCII characters", field="ssid")
    if not PASSPHRASE.match(passphrase):
        raise ValidationFailed("passphrase: 8 to 63 printable ASCII characters (WPA2)", field="passphrase")
    onu, device = find_cpe(session, tenant_id, onu_id, acs)
    changes = secret_changes(session, store)
    own = tenant_path(tenant_id, "onus", str(onu.id))
    path = f"{own}/wifi-{secrets.token_hex(8)}"
    changes.put(path, passphrase.encode())
    old = onu.wifi_password_vault_path
    onu.wifi_ssid, onu.wifi_password_vault_path = ssid, path
    session.flush()
    status: str = call_blocking(_acs(acs).set_wifi, device, ssid, passphrase)
    if old and old.startswith(own + "/wifi-"):
        changes.delete_after_commit(old)
    return status


def radius_credentials(session: Session, tenant_id: str, subscriber_id: uuid.UUID | None) -> tuple[str, str | None]:
    """The subscriber's PPPoE user name and, when the tenant keeps it as ``Cleartext-Password``, password."""
    if subscriber_id is None:
        raise ValidationFailed("onus.subscriber_id: the ONU has no subscriber", table="onus", field="subscriber_id")
    username = session.scalar(
        select(Subscriber.pppoe_username).where(
            Subscriber.tenant_id == tenant_id, Subscriber.id == subscriber_id, Subscriber.deleted_at.is_(None)
        )
    )
    if not username:
        raise ValidationFailed(
            "subscribers.pppoe_username: the subscriber has none", table="subscribers", field="pppoe_username"
        )
    password = session.scalar(
        select(RadCheck.value).where(
            RadCheck.tenant_id == tenant_id, RadCheck.username == username, RadCheck.attribute == "Cleartext-Password"
        )
    )
    return username, password


def set_wan_pppoe(
    session: Session, tenant_id: str, onu_id: uuid.UUID, *, acs: GenieAcs | None, password: str | None = None
) -> str:
    """Set the CPE's WAN to PPPoE with its subscriber's RADIUS user name and password. A tenant that keeps
    NT-Password hashes cannot give the password back: then it must be given (``password``)."""
    onu = service.get_onu(session, tenant_id, onu_id)
    username, stored = radius_credentials(session, tenant_id, onu.subscriber_id)
    secret = password or stored
    if not secret:
        raise ValidationFailed(
            "password: the subscriber's RADIUS password is kept as a hash; give it to set the CPE", field="password"
        )
    _, device = find_cpe(session, tenant_id, onu_id, acs)
    status: str = call_blocking(_acs(acs).set_pppoe, device, username, secret)
    return status


def reboot(session: Session, tenant_id: str, onu_id: uuid.UUID, *, acs: GenieAcs | None) -> str:
    _, device = find_cpe(session, tenant_id, onu_id, acs)
    status: str = call_blocking(_acs(acs).reboot, device)
    return status


def refresh(session: Session, tenant_id: str, onu_id: uuid.UUID, *, acs: GenieAcs | None) -> str:
    _, device = find_cpe(session, tenant_id, onu_id, acs)
    status: str = call_blocking(_acs(acs).refresh, device)
    return status
