"""CoA-Request and Disconnect-Request (RFC 5176) to a NAS: building, sending, and the fallback rule.

No database here: ``ispops.radius.jobs`` reads the queue, the sessions, the NAS and the reply attributes,
calls :func:`deliver` with no transaction open, and records what it returns.

One :class:`Outcome` is one request, including pyrad's retransmissions of it (``retransmits`` sends,
``timeout`` seconds each). A CoA that is not acknowledged (NAK, timeout, error) is followed at once by a
Disconnect for the same session: the subscriber reconnects and gets the new attributes at
authentication. Every request carries a Message-Authenticator (BlastRADIUS, CVE-2024-3596).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pyrad import packet
from pyrad.client import Client, Timeout

from ispops.models.radius import CoaKind, CoaResult
from ispops.radius.coa_dictionary import ERROR_CAUSES, dictionary
from ispops.radius.vendors import for_nas

# Attributes that identify the session (RFC 5176 section 3): ours come from radacct, never from radreply.
IDENTIFICATION = frozenset(
    {"User-Name", "Acct-Session-Id", "Framed-IP-Address", "Framed-IPv6-Address", "NAS-IP-Address", "NAS-Identifier"}
)
# radreply operators that put an attribute into a reply.
REPLY_OPERATORS = frozenset({":=", "=", "+="})
INTEGER_TYPES = frozenset({"integer", "short", "byte", "signed", "integer64", "date"})
ACKS = {CoaKind.COA: packet.CoAACK, CoaKind.DISCONNECT: packet.DisconnectACK}
NAKS = {CoaKind.COA: packet.CoANAK, CoaKind.DISCONNECT: packet.DisconnectNAK}
CODES = {CoaKind.COA: packet.CoARequest, CoaKind.DISCONNECT: packet.DisconnectRequest}


@dataclass(frozen=True)
class NasTarget:
    """Where a NAS listens for CoA, and the secret it expects (``coa_secret``, else ``secret``)."""

    id: int
    address: str
    port: int
    secret: str
    type: str


@dataclass(frozen=True)
class Session:
    """An open accounting session (a radacct row)."""

    radacctid: int
    acctsessionid: str
    username: str
    nasipaddress: str
    framedipaddress: str | None = None


@dataclass
class Outcome:
    """One request sent (or that could not be), as recorded in radius_coa_attempts."""

    kind: CoaKind
    result: CoaResult
    attributes: dict[str, Any] = field(default_factory=dict)
    error_cause: int | None = None
    detail: str | None = None
    # The NAS did not answer (timeout, network error): worth another attempt later. A NAK is an answer.
    retryable: bool = False


def _encodable(name: str, value: str) -> Any:
    """``value`` as pyrad encodes attribute ``name``; raises ValueError/KeyError when it cannot."""
    attr = dictionary().attributes[name.partition(":")[0]]
    if attr.type in INTEGER_TYPES:
        return int(value)
    if attr.type == "ipaddr":
        return str(ipaddress.IPv4Address(value))
    if attr.type == "ipv6prefix":
        return str(ipaddress.IPv6Network(value, strict=False))
    if attr.type == "octets" and value.startswith("0x"):
        return bytes.fromhex(value[2:])
    return value


def reply_attributes(rows: Iterable[tuple[str, str, str]], nas_type: str) -> tuple[list[tuple[str, Any]], list[str]]:
    """The subscriber's radreply rows (attribute, op, value) that a NAS of ``nas_type`` receives in a CoA.

    Returns the (attribute, value) pairs to send and the attributes left out (unknown to the dictionary,
    or a value that does not encode).
    """
    chosen = for_nas([(attribute, value) for attribute, op, value in rows if op in REPLY_OPERATORS], nas_type)
    out: list[tuple[str, Any]] = []
    skipped: list[str] = []
    for attribute, value in chosen:
        if attribute.partition(":")[0] in IDENTIFICATION:
            continue
        try:
            out.append((attribute, _encodable(attribute, value)))
        except (KeyError, ValueError):
            skipped.append(attribute)
    return out, skipped


def identification(session: Session) -> list[tuple[str, Any]]:
    pairs: list[tuple[str, Any]] = [("User-Name", session.username), ("Acct-Session-Id", session.acctsessionid)]
    if session.framedipaddress and ":" not in session.framedipaddress:  # IPv6-only: name and session id
        pairs.append(("Framed-IP-Address", str(ipaddress.IPv4Address(session.framedipaddress))))
    return pairs


def _as_json(pairs: Sequence[tuple[str, Any]]) -> dict[str, Any]:
    """Attribute -> value, or -> [values] when an attribute repeats (Cisco-AVPair)."""
    out: dict[str, Any] = {}
    for name, value in pairs:
        shown = value.hex() if isinstance(value, bytes) else value
        if name in out:
            previous = out[name]
            out[name] = [*previous, shown] if isinstance(previous, list) else [previous, shown]
        else:
            out[name] = shown
    return out


def send(
    nas: NasTarget, kind: CoaKind, pairs: Sequence[tuple[str, Any]], *, timeout: float, retransmits: int
) -> Outcome:
    """Send one CoA-Request or Disconnect-Request and classify the answer."""
    attributes = _as_json(pairs)
    client = Client(
        server=nas.address,
        coaport=nas.port,
        secret=nas.secret.encode(),
        dict=dictionary(),
        retries=retransmits,
        timeout=timeout,
    )
    try:
        request = client.CreateCoAPacket(code=CODES[kind], message_authenticator=True)
        for name, value in pairs:
            request.AddAttribute(name, value)
        reply = client.SendPacket(request)
    except Timeout:
        return Outcome(
            kind,
            CoaResult.TIMEOUT,
            attributes,
            retryable=True,
            detail=f"no answer from {nas.address}:{nas.port} after {retransmits} x {timeout:g}s",
        )
    except OSError as exc:
        return Outcome(kind, CoaResult.ERROR, attributes, retryable=True, detail=f"{type(exc).__name__}: {exc}")
    except (ValueError, KeyError, TypeError) as exc:
        return Outcome(kind, CoaResult.ERROR, attributes, detail=f"{type(exc).__name__}: {exc}")
    finally:
        client._CloseSocket()  # pyrad keeps the socket for reuse; one client per request here
    cause = _error_cause(reply)
    if reply.code == ACKS[kind]:
        return Outcome(kind, CoaResult.ACK, attributes, error_cause=cause)
    if reply.code == NAKS[kind]:
        name = ERROR_CAUSES.get(cause, "no Error-Cause") if cause is not None else "no Error-Cause"
        return Outcome(kind, CoaResult.NAK, attributes, error_cause=cause, detail=name)
    return Outcome(kind, CoaResult.ERROR, attributes, detail=f"unexpected reply code {reply.code}")


def _error_cause(reply: Any) -> int | None:
    try:
        values = reply["Error-Cause"]
    except KeyError:
        return None
    return int(values[0]) if values else None


def deliver(
    nas: NasTarget,
    session: Session,
    kind: CoaKind,
    reply: Sequence[tuple[str, Any]],
    *,
    timeout: float,
    retransmits: int,
    skipped: Sequence[str] = (),
) -> list[Outcome]:
    """Tell the NAS about ``session``: a CoA with ``reply`` (falling back to a Disconnect), or a Disconnect."""
    ident = identification(session)
    outcomes: list[Outcome] = []
    if kind == CoaKind.COA:
        coa = send(nas, CoaKind.COA, [*ident, *reply], timeout=timeout, retransmits=retransmits)
        if skipped:
            coa.detail = "; ".join(filter(None, [coa.detail, "not sent: " + ", ".join(skipped)]))
        outcomes.append(coa)
        if coa.result == CoaResult.ACK:
            return outcomes
    outcomes.append(send(nas, CoaKind.DISCONNECT, ident, timeout=timeout, retransmits=retransmits))
    return outcomes
