"""A real FreeRADIUS process with our rendered configuration, and a NAS (pyrad) to talk to it.

The NAS binds to a loopback address of its own (127.0.0.x), so FreeRADIUS sees each test NAS as a
different client, exactly as it would see routers in the field.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import struct
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from pyrad import packet
from pyrad.client import Client, Timeout

from ispops.radius.clients import ClientsRefresh
from ispops.radius.config import RaddbOptions, freeradius_binary, render_with_clients
from ispops.radius.probe import dictionary
from tests.ports import free_udp_port


def require_freeradius() -> str:
    """The freeradius binary; skip without it locally, fail in CI (the issue forbids skipping there)."""
    binary = freeradius_binary()
    if binary is None:
        if os.environ.get("CI"):
            pytest.fail("FreeRADIUS is not installed but CI must run the RADIUS tests (see .ci/run)")
        pytest.skip("FreeRADIUS is not installed (apt-get install freeradius freeradius-postgresql)")
    return binary


def start_freeradius(raddb: Path, log: Path, *, timeout: float = 20.0) -> subprocess.Popen[bytes]:
    """``freeradius -f -d raddb``, returned once its log says it is ready (its output on failure)."""
    binary = require_freeradius()
    log.unlink(missing_ok=True)
    process = subprocess.Popen([binary, "-f", "-d", str(raddb)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if log.exists() and "Ready to process requests" in log.read_text(errors="replace"):
            return process
        if process.poll() is not None:
            out = process.stdout.read().decode(errors="replace") if process.stdout else ""
            text = log.read_text(errors="replace") if log.exists() else "(no log)"
            raise RuntimeError(f"freeradius exited {process.returncode}: {out}\n{text}")
        time.sleep(0.05)
    stop_process(process)
    raise RuntimeError(f"freeradius ({raddb}) did not become ready")


def stop_process(process: subprocess.Popen[bytes] | None) -> None:
    if process is not None and process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@dataclass
class FreeRadius:
    raddb: Path
    conninfo: str
    auth_port: int = field(default_factory=free_udp_port)
    acct_port: int = field(default_factory=free_udp_port)
    threads: int = 4
    dynamic_clients: str | None = None  # off, as by default
    db_down: str = "drop"  # as by default
    status_port: int = field(default_factory=free_udp_port)
    status_secret: str = "status-secret-for-tests"
    process: subprocess.Popen[bytes] | None = None
    clients: ClientsRefresh | None = None  # what the last render did with the client list

    @property
    def log(self) -> Path:
        return self.raddb / "log" / "radius.log"

    @property
    def drops_log(self) -> Path:
        return self.raddb / "log" / "drops.log"

    @property
    def options(self) -> RaddbOptions:
        return RaddbOptions(
            conninfo=self.conninfo,
            listen="127.0.0.1",
            auth_port=self.auth_port,
            acct_port=self.acct_port,
            threads=self.threads,
            dynamic_clients=self.dynamic_clients,
            db_down=self.db_down,
            status_port=self.status_port,
            status_secret=self.status_secret,
        )

    def render(self) -> None:
        """Render the raddb and the client list from the database as it is now (the test's NASes first)."""
        self.clients = render_with_clients(self.raddb, self.options)

    def start(self, timeout: float = 20.0) -> None:
        self.render()
        self.process = start_freeradius(self.raddb, self.log, timeout=timeout)

    def stop(self) -> None:
        stop_process(self.process)
        self.process = None

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else "(no log)"

    def drops(self) -> list[str]:
        return self.drops_log.read_text(errors="replace").splitlines() if self.drops_log.exists() else []

    def stats(self) -> dict[str, int]:
        from ispops.radius.stats import query_status

        return query_status(port=self.status_port, secret=self.status_secret)


@contextmanager
def running(raddb: Path, conninfo: str) -> Iterator[FreeRadius]:
    radius = FreeRadius(raddb=raddb, conninfo=conninfo)
    radius.start()
    try:
        yield radius
    finally:
        radius.stop()


class Nas:
    """A NAS at ``address`` (a loopback address) with ``secret``, sending to ``radius``."""

    def __init__(self, radius: FreeRadius, address: str, secret: str) -> None:
        self.address = address
        self.client = Client(
            server="127.0.0.1",
            authport=radius.auth_port,
            acctport=radius.acct_port,
            secret=secret.encode(),
            dict=dictionary(),
        )
        self.client.bind((address, 0))
        self.client.timeout = 3
        self.client.retries = 1
        self.secret = secret.encode()
        self.last_request: packet.Packet | None = None

    def _auth(self, username: str, **attrs: Any) -> packet.Packet | None:
        req = self.client.CreateAuthPacket(code=packet.AccessRequest, User_Name=username)
        req["NAS-IP-Address"] = self.address
        req.add_message_authenticator()
        for key, value in attrs.items():
            req[key.replace("_", "-")] = value
        return self._send(req)

    def _send(self, req: packet.Packet) -> packet.Packet | None:
        self.last_request = req
        try:
            reply: packet.Packet = self.client.SendPacket(req)
        except Timeout:
            return None
        return reply

    def pap(self, username: str, password: str) -> packet.Packet | None:
        req = self.client.CreateAuthPacket(code=packet.AccessRequest, User_Name=username)
        req["NAS-IP-Address"] = self.address
        req["User-Password"] = req.PwCrypt(password)
        req.add_message_authenticator()
        return self._send(req)

    def pap_unsigned(self, username: str, password: str) -> packet.Packet | None:
        """An Access-Request without Message-Authenticator (what BlastRADIUS exploits)."""
        req = self.client.CreateAuthPacket(code=packet.AccessRequest, User_Name=username, message_authenticator=False)
        req["NAS-IP-Address"] = self.address
        req["User-Password"] = req.PwCrypt(password)
        return self._send(req)

    def chap(self, username: str, password: str) -> packet.Packet | None:
        challenge = os.urandom(16)
        ident = 7
        response = hashlib.md5(bytes([ident]) + password.encode() + challenge).digest()  # noqa: S324 (CHAP is MD5)
        return self._auth(username, CHAP_Password=bytes([ident]) + response, CHAP_Challenge=challenge)

    def mschapv2(self, username: str, password: str) -> packet.Packet | None:
        from tests.radius.mschap import mschapv2_attributes

        req = self.client.CreateAuthPacket(code=packet.AccessRequest, User_Name=username)
        req["NAS-IP-Address"] = self.address
        for attribute, value in mschapv2_attributes(username, password).items():
            req[attribute] = value
        return self._send(req)

    def accounting(self, status: str, **attrs: Any) -> packet.Packet | None:
        req = self.client.CreateAcctPacket(code=packet.AccountingRequest)
        req["Acct-Status-Type"] = status
        req["NAS-IP-Address"] = self.address
        for key, value in attrs.items():
            req[key.replace("_", "-")] = value
        return self._send(req)


def message_authenticator_valid(reply: packet.Packet, request: packet.Packet, secret: bytes) -> bool:
    """RFC 3579 3.2, computed here (not by pyrad): HMAC-MD5 keyed with the secret over the reply as sent,
    with the request's authenticator in place of the reply's and the Message-Authenticator zeroed. False
    when the reply has none."""
    raw: bytes = reply.raw_packet
    length = struct.unpack("!H", raw[2:4])[0]
    raw = raw[:length]
    attrs, pos, found = bytearray(raw[20:]), 0, None
    while pos + 2 <= len(attrs):
        code, size = attrs[pos], attrs[pos + 1]
        if size < 2:
            return False
        if code == 80:
            if size != 18 or found is not None:
                return False
            found = bytes(attrs[pos + 2 : pos + 18])
            attrs[pos + 2 : pos + 18] = bytes(16)
        pos += size
    if found is None:
        return False
    expected = hmac.new(secret, raw[:4] + request.authenticator + bytes(attrs), hashlib.md5).digest()
    return hmac.compare_digest(expected, found)


def reply_attributes(reply: packet.Packet) -> dict[str, list[Any]]:
    return {str(key): list(reply[key]) for key in reply.keys()}  # noqa: SIM118 (pyrad names keys only here)
