"""What a NAS may be: one canonical host address, and the platform's virtual server (issue 13, item 1).

FreeRADIUS finds the NAS of a packet by the packet's source address in the client list
(``ispops_radius_clients()``), and a client entry that is a network or another spelling of an address
would take packets from someone else's NAS. The database refuses those (``ck_nas__nasname``:
``ispops_is_host_address``, migration 0024); this module refuses them first, with a message that says
what is wrong and which form to write. Nothing is rewritten silently: ``2001:DB8::1`` is refused with
"write it as 2001:db8::1", so the stored address is exactly what the caller sent (and what the audit
trail shows). A test compares this rule with the database's on the same inputs.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any

from pydantic import BaseModel

from ispops.errors import ValidationFailed
from ispops.models import Nas
from ispops.radius.clients import carriable

EXAMPLE = "one host address such as 192.0.2.1 or 2001:db8::1"
# The only virtual server a NAS may name (NULL: the listener's, which is this one).
SERVER = "ispops"
_DOTTED = re.compile(r"^\d+\.\d+\.\d+\.\d+$")
_NAME = re.compile(r"^[A-Za-z0-9_.-]*[A-Za-z_-][A-Za-z0-9_.-]*$")


def _refusal(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    if address.is_unspecified:
        return f"must be {EXAMPLE}, not the unspecified address {address}"
    if isinstance(address, ipaddress.IPv6Address):
        if address.scope_id is not None:
            return f"must be {EXAMPLE}, without a zone index: write {str(address).split('%')[0]}"
        if address.ipv4_mapped is not None:
            return f"must be {EXAMPLE}: {address} is an IPv4-mapped address; use the IPv4 form {address.ipv4_mapped}"
        if int(address) >> 32 == 0 and address != ipaddress.IPv6Address("::1"):
            ipv4 = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
            return f"must be {EXAMPLE}: {address} is a deprecated IPv4-compatible address; use the IPv4 form {ipv4}"
    return None


def address_problem(value: str) -> str | None:
    """Why ``value`` is not one NAS address as the database stores it, or None when it is."""
    text = value.strip()
    if "/" in text:
        try:
            interface = ipaddress.ip_interface(text)
        except ValueError:
            return f"must be {EXAMPLE}, not a network"
        if interface.network.prefixlen == interface.max_prefixlen:
            refused = _refusal(interface.ip)
            return refused or f"must be {EXAMPLE}, without a prefix length: write {interface.ip}"
        return f"must be {EXAMPLE}, not a network ({text}); networks are not accepted as NAS addresses"
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        octets = text.split(".")
        if (
            _DOTTED.match(text)
            and all(int(o) <= 255 for o in octets)
            and any(o[:1] == "0" and o != "0" for o in octets)
        ):
            return f"must be {EXAMPLE}, with no leading zeros in its octets (some software reads 010 as octal, 8)"
        if _NAME.match(text):
            return f"must be {EXAMPLE}, not a host name: FreeRADIUS knows a NAS by the source address of its packets"
        return f"must be {EXAMPLE}"
    refused = _refusal(address)
    if refused:
        return refused
    if text != value:
        return f"must be {EXAMPLE}, without spaces around it: write {address}"
    if str(address) != value:
        return f"must be {EXAMPLE}, written in its canonical form: write {address}"
    return None


def _check(data: dict[str, Any]) -> None:
    if "nasname" in data and data["nasname"] is not None:
        problem = address_problem(data["nasname"])
        if problem:
            raise ValidationFailed(f"nas.nasname: {problem}", table="nas", field="nasname")
    secret = data.get("secret")
    if isinstance(secret, str) and secret and not carriable(secret):
        raise ValidationFailed(
            "nas.secret: may not hold control characters, a backslash before a quote or a backslash at the end "
            "(FreeRADIUS could not read it from its client file)",
            table="nas",
            field="secret",
        )
    if data.get("server") not in (None, SERVER):
        raise ValidationFailed(
            f"nas.server: must be null or {SERVER!r}: every tenant's NAS is served by the platform's virtual server",
            table="nas",
            field="server",
        )


async def create_hook(session: Any, tenant_id: str, body: BaseModel) -> Nas:
    data = body.model_dump(exclude_unset=True)
    _check(data)
    obj = Nas(**data, tenant_id=tenant_id)
    session.add(obj)
    return obj


def check_update(obj: Any, data: dict[str, Any]) -> None:
    _check(data)
