"""The client address behind trusted reverse proxies (``ISPOPS_TRUSTED_PROXIES``), and nobody else's word.

The address a request came from feeds the per-address login throttle and the audit trail, so a header a
client can write must not decide it. ``X-Forwarded-For`` is read only when the TCP peer is one of the
configured proxies, and then from the right: each proxy appends the address it saw, so the rightmost
entry that is not itself a trusted proxy is the client. Everything left of it was written by someone we do
not trust. ``ispops up`` turns uvicorn's own forwarded-header handling off (it trusts 127.0.0.1 by default),
so this is the only place that reads those headers.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from starlette.types import ASGIApp, Receive, Scope, Send

from ispops.config import IPNetwork


def _ip(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    value = value.strip()
    if value.startswith("[") and "]" in value:  # "[2001:db8::1]:443"
        value = value[1 : value.index("]")]
    elif value.count(":") == 1:  # "192.0.2.1:443"
        value = value.split(":", 1)[0]
    try:
        return ipaddress.ip_address(value)
    except ValueError:
        return None


def client_address(peer: str, forwarded_for: Sequence[str], trusted: Sequence[IPNetwork]) -> str:
    """The client's address for a request from ``peer`` that carried these ``X-Forwarded-For`` values."""

    def is_trusted(address: ipaddress.IPv4Address | ipaddress.IPv6Address | None) -> bool:
        return address is not None and any(address in network for network in trusted)

    current = _ip(peer)
    if not is_trusted(current):
        return peer
    hops = [hop for value in forwarded_for for hop in value.split(",")]
    for hop in reversed(hops):
        address = _ip(hop)
        if address is None:  # a trusted proxy passed on something that is not an address: stop at it
            break
        current = address
        if not is_trusted(address):
            break
    return str(current) if current is not None else peer


class TrustedProxies:
    """Pure ASGI middleware: rewrite ``scope["client"]`` (and the scheme) from a trusted proxy's headers."""

    def __init__(self, app: ASGIApp, networks: Sequence[IPNetwork]) -> None:
        self.app = app
        self.networks = tuple(networks)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        client = scope.get("client")
        if scope["type"] in ("http", "websocket") and client:
            forwarded_for: list[str] = []
            proto: str | None = None
            for name, value in scope.get("headers") or []:
                if name == b"x-forwarded-for":
                    forwarded_for.append(value.decode("latin-1"))
                elif name == b"x-forwarded-proto":
                    proto = value.decode("latin-1").strip().lower()
            peer = str(client[0])
            if forwarded_for or proto:
                address = client_address(peer, forwarded_for, self.networks)
                if address != peer:
                    scope["client"] = (address, 0)
                peer_ip = _ip(peer)
                if proto in ("http", "https") and peer_ip is not None and any(peer_ip in n for n in self.networks):
                    scope["scheme"] = proto if scope["type"] == "http" else proto.replace("http", "ws")
        await self.app(scope, receive, send)
