"""Where a webhook may be sent: https, and only to public addresses, unless the platform operator allows
more (``ISPOPS_WEBHOOK_ALLOW_HTTP``, ``ISPOPS_WEBHOOK_ALLOW_PRIVATE``, ``ISPOPS_WEBHOOK_ALLOWED_NETWORKS``).

A URL is checked when an endpoint is created or changed (a 422 naming ``url``) and again at every delivery:
the host is resolved, **every** address it resolves to must be allowed, and the POST then goes to that
checked address (the host name only in the ``Host`` header and TLS SNI), so a DNS answer that changes
between the check and the connection (rebinding) cannot steer it elsewhere. Redirects are not followed.
An IP literal is checked without any lookup, so a refused address is never contacted.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

from ispops.errors import ValidationFailed
from ispops.events.settings import WebhookSettings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class UrlRefused(ValidationFailed):
    """The URL may not be used (a 422 naming ``url``)."""

    def __init__(self, message: str) -> None:
        super().__init__(f"url: {message}", field="url")


@dataclass(frozen=True)
class Target:
    """A checked URL: where to connect (``address``) and what to call the host (``host``)."""

    url: str
    scheme: str
    host: str
    port: int
    address: IPAddress
    addresses: tuple[IPAddress, ...]

    def connect_url(self) -> str:
        """The URL with the checked address in place of the host name."""
        parts = urlsplit(self.url)
        literal = f"[{self.address}]" if self.address.version == 6 else str(self.address)
        return parts._replace(netloc=f"{literal}:{self.port}").geturl()

    @property
    def host_header(self) -> str:
        default = 443 if self.scheme == "https" else 80
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == default else f"{host}:{self.port}"


def why_refused(address: IPAddress, settings: WebhookSettings) -> str | None:
    """Why webhooks may not go to ``address`` (None: they may)."""
    if address.version == 6 and address.ipv4_mapped is not None:  # ::ffff:10.0.0.1 is 10.0.0.1
        return why_refused(address.ipv4_mapped, settings)
    if any(address in network for network in settings.allowed_networks):
        return None
    kinds = (
        ("loopback", address.is_loopback),
        ("link-local", address.is_link_local),
        ("multicast", address.is_multicast),
        ("unspecified", address.is_unspecified),
        ("private", address.is_private),
        ("reserved", address.is_reserved),
        ("not public", not address.is_global),
    )
    for kind, hit in kinds:
        if hit:
            if settings.allow_private and kind != "multicast" and kind != "unspecified":
                return None
            return f"{address} is a {kind} address" if kind != "not public" else f"{address} is not a public address"
    return None


def parse(url: str, settings: WebhookSettings) -> SplitResult:
    """The URL's parts after the checks that need no lookup."""
    if len(url) > 2048:
        raise UrlRefused("at most 2048 characters")
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise UrlRefused(f"not a URL ({exc})") from None
    allowed = ("https", "http") if settings.allow_http else ("https",)
    if parts.scheme not in allowed:
        raise UrlRefused("must be https" if not settings.allow_http else "must be https or http")
    if not parts.hostname:
        raise UrlRefused("has no host")
    if parts.username is not None or parts.password is not None:
        raise UrlRefused("may not carry a user name or password")
    if parts.fragment:
        raise UrlRefused("may not have a #fragment")
    if port == 0:
        raise UrlRefused("port 0")
    return parts


def _literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def resolve(url: str, settings: WebhookSettings) -> Target:
    """Check ``url`` completely: scheme, host, and every address it resolves to. Raises ``UrlRefused``."""
    parts = parse(url, settings)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    literal = _literal(host)
    if literal is not None:
        addresses: tuple[IPAddress, ...] = (literal,)
    else:
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError) as exc:
            raise UrlRefused(f"host {host!r} does not resolve ({exc})") from None
        found: list[IPAddress] = []
        for info in infos:
            address = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
            if address not in found:
                found.append(address)
        if not found:
            raise UrlRefused(f"host {host!r} does not resolve")
        addresses = tuple(found)
    for address in addresses:
        reason = why_refused(address, settings)
        if reason is not None:
            raise UrlRefused(f"{host} resolves to a refused address: {reason}" if literal is None else reason)
    return Target(url=url.strip(), scheme=parts.scheme, host=host, port=port, address=addresses[0], addresses=addresses)
