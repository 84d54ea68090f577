"""Parse ``wg show <interface> dump`` (and ``wg show all dump``) and judge a peer up or down.

The dump is tab-separated. With one interface, the first line is the interface
(private-key, public-key, listen-port, fwmark) and each further line a peer (public-key, preshared-key,
endpoint, allowed-ips, latest-handshake, transfer-rx, transfer-tx, persistent-keepalive). ``all dump``
prefixes every line with the interface name. The interface's private key is read past and never kept.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from ispops.vpn.keys import is_key

# WireGuard re-handshakes every 2 minutes while traffic flows and drops a session after 180 s
# (REJECT_AFTER_TIME); a keepalive-ed peer that has not handshaken for 3 minutes is down.
UP_WITHIN = dt.timedelta(seconds=180)
MAX_DUMP_LINES = 100_000
BIGINT_MAX = 2**63 - 1
MAX_TIMESTAMP = 253402300799  # 9999-12-31T23:59:59Z
_DIGITS = re.compile(r"[0-9]{1,19}")


class DumpError(ValueError):
    """The text is not a ``wg show dump``; ``line`` is 1-based."""

    def __init__(self, message: str, line: int) -> None:
        super().__init__(f"line {line}: {message}")
        self.line = line


@dataclass(frozen=True)
class PeerStatus:
    interface: str | None
    public_key: str
    endpoint: str | None
    allowed_ips: tuple[str, ...]
    latest_handshake: dt.datetime | None
    rx_bytes: int  # received by the hub from this peer
    tx_bytes: int  # sent by the hub to this peer

    def is_up(self, now: dt.datetime, within: dt.timedelta = UP_WITHIN) -> bool:
        return self.latest_handshake is not None and now - self.latest_handshake <= within


def _int(text: str, what: str, line: int) -> int:
    if not _DIGITS.fullmatch(text) or int(text) > BIGINT_MAX:
        raise DumpError(f"{what} must be an integer from 0 to {BIGINT_MAX}, got {text[:40]!r}", line)
    return int(text)


def parse_dump(text: str) -> list[PeerStatus]:
    """The peers in a dump. Raises :class:`DumpError` on anything that is not one."""
    peers: list[PeerStatus] = []
    lines = text.splitlines()
    if len(lines) > MAX_DUMP_LINES:
        raise DumpError(f"more than {MAX_DUMP_LINES} lines", MAX_DUMP_LINES + 1)
    seen_interface = False
    for number, raw in enumerate(lines, start=1):
        line = raw.rstrip("\r")
        if not line.strip():
            continue
        fields = line.split("\t")
        interface: str | None = None
        if len(fields) in (5, 9):  # `wg show all dump`: the interface name first
            interface, fields = fields[0], fields[1:]
        if len(fields) == 4:  # an interface line: private key, public key, port, fwmark. Not kept.
            if not is_key(fields[1]):
                raise DumpError("interface public key is not a WireGuard key", number)
            seen_interface = True
            continue
        if len(fields) != 8:
            raise DumpError(f"expected 4 or 8 tab-separated fields, got {len(fields)}", number)
        public_key, _psk, endpoint, allowed, handshake, rx, tx, _keepalive = fields
        if not is_key(public_key):
            raise DumpError("peer public key is not a WireGuard key", number)
        seconds = _int(handshake, "latest-handshake", number)
        if seconds > MAX_TIMESTAMP:
            raise DumpError("latest-handshake is not a plausible Unix time", number)
        peers.append(
            PeerStatus(
                interface=interface,
                public_key=public_key,
                endpoint=None if endpoint == "(none)" else endpoint,
                allowed_ips=() if allowed == "(none)" else tuple(allowed.split(",")),
                latest_handshake=dt.datetime.fromtimestamp(seconds, dt.UTC) if seconds else None,
                rx_bytes=_int(rx, "transfer-rx", number),
                tx_bytes=_int(tx, "transfer-tx", number),
            )
        )
    if not seen_interface and not peers:
        raise DumpError("no interface or peer lines", 1)
    return peers
