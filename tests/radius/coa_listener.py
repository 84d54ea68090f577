"""A real FreeRADIUS playing the NAS's CoA/Disconnect listener (RFC 5176), for the CoA sender's tests.

Its raddb is written here, minimal and self-contained: one virtual server listening for CoA on
127.0.0.1 and 127.0.0.2 (two "NAS addresses"), a client entry for our sender that requires
Message-Authenticator, and a ``recv-coa`` section (FreeRADIUS 3.2 runs it for Disconnect-Request too)
that logs every request with all its attributes to a detail file and answers:

- a CoA-Request for a User-Name starting ``nak-`` or ``dnak-``: CoA-NAK, Error-Cause Session-Context-Not-Found;
- a Disconnect-Request for a User-Name starting ``dnak-``: Disconnect-NAK, Error-Cause
  Session-Context-Not-Removable;
- anything else: ACK.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.ports import free_udp_port
from tests.radius.freeradius import start_freeradius, stop_process

SECRET = "coa-listener-secret"
ADDRESSES = ("127.0.0.1", "127.0.0.2")


def _config(directory: Path, port: int) -> str:
    listens = "\n".join(
        f"  listen {{\n    type = coa\n    ipaddr = {address}\n    port = {port}\n  }}" for address in ADDRESSES
    )
    return f"""\
prefix = /usr
exec_prefix = /usr
sysconfdir = /etc
localstatedir = {directory}
sbindir = /usr/sbin
logdir = {directory}
raddbdir = {directory}
radacctdir = {directory}
name = radiusd
confdir = {directory}
modconfdir = {directory}
run_dir = {directory}
db_dir = {directory}
libdir = /usr/lib/freeradius
pidfile = {directory}/radiusd.pid
max_request_time = 5
cleanup_delay = 0
max_requests = 1024
hostname_lookups = no
log {{
  destination = files
  file = {directory}/radius.log
  auth = no
}}
security {{
  allow_core_dumps = no
  max_attributes = 200
  reject_delay = 0
  status_server = no
}}
thread pool {{
  start_servers = 1
  max_servers = 2
  min_spare_servers = 1
  max_spare_servers = 2
}}
client ispops_sender {{
  ipaddr = 127.0.0.0/8
  secret = {SECRET}
  require_message_authenticator = yes
}}
modules {{
  always reject {{
    rcode = reject
  }}
  always ok {{
    rcode = ok
  }}
  detail received {{
    filename = {directory}/received.detail
    escape_filenames = no
    permissions = 0600
    header = "%t"
    locking = no
    log_packet_header = yes
  }}
}}
server nas_coa {{
{listens}
  recv-coa {{
    received
    if (&User-Name =~ /^dnak-/ && &Packet-Type == Disconnect-Request) {{
      update reply {{
        &Error-Cause := Session-Context-Not-Removable
      }}
      reject
    }}
    if (&User-Name =~ /^d?nak-/ && &Packet-Type == CoA-Request) {{
      update reply {{
        &Error-Cause := Session-Context-Not-Found
      }}
      reject
    }}
    ok
  }}
  send-coa {{
    ok
  }}
}}
"""


ATTRIBUTE = re.compile(r"^\t([A-Za-z0-9-]+(?::\d+)?) = (.*)$")


@dataclass
class Received:
    """One request as FreeRADIUS logged it: attribute -> values (strings, quotes removed)."""

    attributes: dict[str, list[str]]

    @property
    def packet_type(self) -> str:
        return self.attributes["Packet-Type"][0]

    @property
    def destination(self) -> str:
        return self.attributes["Packet-Dst-IP-Address"][0]

    def one(self, name: str) -> str:
        values = self.attributes.get(name, [])
        assert len(values) == 1, (name, self.attributes)
        return values[0]


@dataclass
class CoaListener:
    directory: Path
    port: int = field(default_factory=lambda: free_udp_port(*ADDRESSES))
    secret: str = SECRET
    process: subprocess.Popen[bytes] | None = None
    _mark: int = 0

    @property
    def detail(self) -> Path:
        return self.directory / "received.detail"

    @property
    def log(self) -> Path:
        return self.directory / "radius.log"

    def start(self, timeout: float = 20.0) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        (self.directory / "radiusd.conf").write_text(_config(self.directory, self.port))
        self.process = start_freeradius(self.directory, self.log, timeout=timeout)

    def stop(self) -> None:
        stop_process(self.process)
        self.process = None

    def reset(self) -> None:
        """Forget what was received so far (the next ``received()`` starts here)."""
        self._mark = self.detail.stat().st_size if self.detail.exists() else 0

    def received(self) -> list[Received]:
        """The requests received since the last ``reset()``, oldest first."""
        if not self.detail.exists():
            return []
        with self.detail.open("rb") as f:
            f.seek(self._mark)
            chunk = f.read().decode(errors="replace")
        out: list[Received] = []
        for block in chunk.split("\n\n"):
            attributes: dict[str, list[str]] = {}
            for line in block.splitlines():
                match = ATTRIBUTE.match(line)
                if match:
                    attributes.setdefault(match.group(1), []).append(match.group(2).strip('"'))
            if attributes:
                out.append(Received(attributes))
        return out


@pytest.fixture(scope="module")
def coa_listener(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CoaListener]:
    """FreeRADIUS listening for CoA/Disconnect on 127.0.0.1 and 127.0.0.2, for a module's tests."""
    listener = CoaListener(tmp_path_factory.mktemp("coa-listener"))
    listener.start()
    yield listener
    listener.stop()


@pytest.fixture
def nas_listener(coa_listener: CoaListener) -> CoaListener:
    """The module's listener with what earlier tests sent forgotten."""
    coa_listener.reset()
    return coa_listener
