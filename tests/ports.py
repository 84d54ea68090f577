"""Free loopback ports for the servers tests start (snmpd, FreeRADIUS, CoA listeners, HTTP doubles)."""

from __future__ import annotations

import socket
from contextlib import closing


def free_udp_port(*addresses: str) -> int:
    """A UDP port free on every one of ``addresses`` (default 127.0.0.1) at the time of asking."""
    first, *others = addresses or ("127.0.0.1",)
    while True:
        with closing(socket.socket(socket.AF_INET, socket.SOCK_DGRAM)) as s:
            s.bind((first, 0))
            port = int(s.getsockname()[1])
        try:
            for address in others:
                with closing(socket.socket(socket.AF_INET, socket.SOCK_DGRAM)) as s:
                    s.bind((address, port))
        except OSError:
            continue
        return port


def free_tcp_port() -> int:
    with closing(socket.socket()) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
