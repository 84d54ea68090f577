"""Send one real Access-Request to FreeRADIUS as a NAS would, and report the answer.

The packet leaves from the NAS's own address (FreeRADIUS knows clients by source address), so the NAS
address must be configured on this machine — a lab NAS on loopback, or the RADIUS host itself.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

from pyrad import packet
from pyrad.client import Client, Timeout
from pyrad.dictionary import Dictionary

from ispops.radius import vendors

# The standard attributes and Microsoft's (MS-CHAP); the NAS vendors' come from ``vendors.VENDORS``.
DICTIONARY = Path(__file__).with_name("dictionary.pyrad")


def dictionary(*more: str) -> Dictionary:
    """The pyrad dictionary of a NAS talking to FreeRADIUS: ``DICTIONARY``, every vendor's, and ``more``."""
    texts = [vendors.dictionary_text(), *more]
    return Dictionary(str(DICTIONARY), *(io.StringIO(t) for t in texts))


@dataclass(frozen=True)
class ProbeResult:
    accepted: bool
    verdict: str
    attributes: list[tuple[str, str]]


def probe_login(
    *, server: str, port: int, nas_address: str, secret: str, username: str, password: str, timeout: float = 3.0
) -> ProbeResult:
    client = Client(server=server, authport=port, secret=secret.encode(), dict=dictionary())
    client.timeout, client.retries = timeout, 1
    try:
        client.bind((nas_address, 0))
    except OSError as exc:
        return ProbeResult(False, f"cannot send as {nas_address}: {exc} (the address must be local)", [])
    request = client.CreateAuthPacket(code=packet.AccessRequest, User_Name=username)
    request["NAS-IP-Address"] = nas_address
    request["User-Password"] = request.PwCrypt(password)
    try:
        reply = client.SendPacket(request)
    except Timeout:
        return ProbeResult(False, "no answer (FreeRADIUS not running, wrong port, or the NAS is unknown to it)", [])
    attributes = [(str(key), str(value)) for key in reply.keys() for value in reply[key]]  # noqa: SIM118
    if reply.code == packet.AccessAccept:
        return ProbeResult(True, "Access-Accept", attributes)
    return ProbeResult(False, "Access-Reject", attributes)
