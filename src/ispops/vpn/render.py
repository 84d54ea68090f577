"""Peer configurations: ``wg-quick`` for Linux peers, a RouterOS v7 script for MikroTik, and the
hub's ``[Peer]`` stanza. Only the first two carry the peer's private key.

Everything that comes from users (names, endpoints) is validated or escaped here: a tunnel name must
not be able to add a line to a wg-quick file or a command to a RouterOS script.
"""

from __future__ import annotations

import ipaddress
import re
import uuid
from dataclasses import dataclass
from enum import StrEnum

from ispops.vpn.keys import is_key

_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOSTNAME = re.compile(rf"(?=.{{1,253}}\Z){_LABEL}(?:\.{_LABEL})*\.?")
_UNSAFE_COMMENT = re.compile(r"[^A-Za-z0-9 ._:@/()+-]")
IFACE = "wg-ispops"


class ConfigFormat(StrEnum):
    WG_QUICK = "wg-quick"
    ROUTEROS = "routeros"
    HUB_PEER = "hub-peer"


@dataclass(frozen=True)
class Endpoint:
    host: str  # a DNS name or an IP address (IPv6 without brackets)
    port: int

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


def parse_endpoint(value: str) -> Endpoint:
    """``host:port``, ``1.2.3.4:51820`` or ``[2001:db8::1]:51820``; raises ValueError otherwise."""
    text = value.strip()
    if text.startswith("["):
        host, sep, port = text[1:].partition("]:")
        if not sep:
            raise ValueError("an IPv6 endpoint is written [address]:port")
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise ValueError(f"{host!r} is not an IPv6 address") from None
    else:
        host, sep, port = text.rpartition(":")
        if not sep or not host:
            raise ValueError("expected host:port")
        if not _HOSTNAME.fullmatch(host):
            raise ValueError(f"{host!r} is not a host name or IPv4 address")
    if not port.isascii() or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ValueError("port must be 1..65535")
    return Endpoint(host, int(port))


def _comment(text: str) -> str:
    """A user-supplied name made safe for a comment line in either format."""
    return _UNSAFE_COMMENT.sub("_", text)[:100]


def _ros(value: str) -> str:
    """A RouterOS double-quoted string."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$")
    escaped = re.sub(r"[\x00-\x1f\x7f]", "", escaped)
    return f'"{escaped}"'


@dataclass(frozen=True)
class PeerConfig:
    """What a rendered config needs; ``private_key`` only for the peer's own formats."""

    tunnel_id: uuid.UUID
    tunnel_name: str
    vpn_ip: str
    vpn_network: str
    server_public_key: str
    server_endpoint: Endpoint
    peer_public_key: str
    persistent_keepalive: int
    private_key: str | None = None

    def __post_init__(self) -> None:
        for key in (self.server_public_key, self.peer_public_key):
            if not is_key(key):
                raise ValueError("not a WireGuard key")
        if self.private_key is not None and not is_key(self.private_key):
            raise ValueError("not a WireGuard key")
        ipaddress.ip_address(self.vpn_ip)
        ipaddress.ip_network(self.vpn_network)

    @property
    def address(self) -> str:
        """The peer's address with the tunnel network's prefix length."""
        return f"{self.vpn_ip}/{ipaddress.ip_network(self.vpn_network).prefixlen}"

    @property
    def host_route(self) -> str:
        ip = ipaddress.ip_address(self.vpn_ip)
        return f"{ip}/{ip.max_prefixlen}"


def render(config: PeerConfig, fmt: ConfigFormat) -> str:
    if fmt is ConfigFormat.WG_QUICK:
        return wg_quick(config)
    if fmt is ConfigFormat.ROUTEROS:
        return routeros(config)
    return hub_peer(config)


def wg_quick(c: PeerConfig) -> str:
    if c.private_key is None:
        raise ValueError("the peer config needs the private key")
    lines = [
        f"# ispops tunnel {_comment(c.tunnel_name)} ({c.tunnel_id})",
        "[Interface]",
        f"PrivateKey = {c.private_key}",
        f"Address = {c.address}",
        "",
        "[Peer]",
        f"PublicKey = {c.server_public_key}",
        f"Endpoint = {c.server_endpoint}",
        f"AllowedIPs = {c.vpn_network}",
    ]
    if c.persistent_keepalive:
        lines.append(f"PersistentKeepalive = {c.persistent_keepalive}")
    return "\n".join(lines) + "\n"


def routeros(c: PeerConfig) -> str:
    """A RouterOS v7 script (``/import`` it, or paste it into a terminal)."""
    if c.private_key is None:
        raise ValueError("the peer config needs the private key")
    comment = _ros(f"ispops {_comment(c.tunnel_name)} {c.tunnel_id}")
    keepalive = f" persistent-keepalive={c.persistent_keepalive}s" if c.persistent_keepalive else ""
    return (
        f"# ispops tunnel {_comment(c.tunnel_name)} ({c.tunnel_id}), RouterOS 7\n"
        f"/interface wireguard add name={IFACE} private-key={_ros(c.private_key)} comment={comment}\n"
        f"/interface wireguard peers add interface={IFACE} public-key={_ros(c.server_public_key)} "
        f"endpoint-address={c.server_endpoint.host} endpoint-port={c.server_endpoint.port} "
        f"allowed-address={c.vpn_network}{keepalive} comment={comment}\n"
        f"/ip address add address={c.address} interface={IFACE} comment={comment}\n"
    )


def hub_peer(c: PeerConfig) -> str:
    """The ``[Peer]`` stanza for the hub's wg-quick file (no private key: the hub has its own)."""
    return (
        f"# ispops tunnel {_comment(c.tunnel_name)} ({c.tunnel_id})\n"
        "[Peer]\n"
        f"PublicKey = {c.peer_public_key}\n"
        f"AllowedIPs = {c.host_route}\n"
    )
