"""FreeRADIUS's own counters, read from its Status-Server listener (``sites-enabled/ispops-status``), and
the drops its logs record.

``ispops radius stats`` sends one Status-Server packet (with Message-Authenticator, from 127.0.0.1) asking
for every statistic and prints the counters, or writes them in the Prometheus text format for a
node_exporter textfile collector. Two figures FreeRADIUS 3.2.1 does not count come from the raddb's logs:

- requests from unknown clients: only ``Total-Access-Requests`` (or ``-Accounting-Requests``) moves for them
  (measured: not ``Invalid``, not ``Dropped``); FreeRADIUS logs each ("Ignoring request ... from unknown
  client") in ``log/radius.log``, and those lines are counted;
- requests our policy drops unanswered (``ispops_drop``: missing Message-Authenticator, database down, no
  tenant) move ``Total-Auth-Dropped-Requests`` (once the request is cleaned up, ``cleanup_delay`` = 5 s
  later); ``log/drops.log`` has one line per drop with its reason, counted by reason.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from pyrad import packet
from pyrad.client import Client, Timeout

from ispops.radius.config import STATUS_SECRET_FILE
from ispops.radius.probe import dictionary

STATUS_SITE = "sites-enabled/ispops-status"
ALL_STATISTICS = 0x1F  # FreeRADIUS-Statistics-Type "All": authentication, accounting, proxy, internal

# The FreeRADIUS vendor's Status-Server attributes (numbers from FreeRADIUS 3.2's dictionary.freeradius).
_DICTIONARY = (
    "VENDOR FreeRADIUS 11344\nBEGIN-VENDOR FreeRADIUS\n"
    + "".join(
        f"ATTRIBUTE FreeRADIUS-{name} {code} integer\n"
        for name, code in [
            ("Statistics-Type", 127),
            ("Total-Access-Requests", 128),
            ("Total-Access-Accepts", 129),
            ("Total-Access-Rejects", 130),
            ("Total-Access-Challenges", 131),
            ("Total-Auth-Responses", 132),
            ("Total-Auth-Duplicate-Requests", 133),
            ("Total-Auth-Malformed-Requests", 134),
            ("Total-Auth-Invalid-Requests", 135),
            ("Total-Auth-Dropped-Requests", 136),
            ("Total-Auth-Unknown-Types", 137),
            ("Total-Accounting-Requests", 148),
            ("Total-Accounting-Responses", 149),
            ("Total-Acct-Duplicate-Requests", 150),
            ("Total-Acct-Malformed-Requests", 151),
            ("Total-Acct-Invalid-Requests", 152),
            ("Total-Acct-Dropped-Requests", 153),
            ("Total-Acct-Unknown-Types", 154),
            ("Queue-Len-Internal", 162),
            ("Queue-Len-Proxy", 163),
            ("Queue-Len-Auth", 164),
            ("Queue-Len-Acct", 165),
            ("Queue-Len-Detail", 166),
            ("Stats-Start-Time", 176),
            ("Stats-HUP-Time", 177),
            ("Queue-PPS-In", 181),
            ("Queue-PPS-Out", 182),
            ("Total-Auth-Conflicts", 191),
            ("Total-Acct-Conflicts", 192),
        ]
    )
    + "END-VENDOR FreeRADIUS\n"
)


@dataclass(frozen=True)
class Counter:
    attribute: str  # without the FreeRADIUS- prefix
    name: str  # ours: the CLI's label and the Prometheus metric (freeradius_<name>)
    kind: str  # counter | gauge
    help: str


COUNTERS = [
    Counter("Total-Access-Requests", "access_requests_total", "counter", "Access-Requests received"),
    Counter("Total-Access-Accepts", "access_accepts_total", "counter", "Access-Accepts sent"),
    Counter("Total-Access-Rejects", "access_rejects_total", "counter", "Access-Rejects sent"),
    Counter("Total-Access-Challenges", "access_challenges_total", "counter", "Access-Challenges sent"),
    Counter("Total-Auth-Responses", "auth_responses_total", "counter", "answers on the authentication port"),
    Counter(
        "Total-Auth-Duplicate-Requests", "auth_duplicate_requests_total", "counter", "retransmitted Access-Requests"
    ),
    Counter(
        "Total-Auth-Malformed-Requests",
        "auth_malformed_requests_total",
        "counter",
        "Access-Requests that could not be decoded",
    ),
    Counter(
        "Total-Auth-Invalid-Requests",
        "auth_invalid_requests_total",
        "counter",
        "authentication packets from unknown clients (and bad signatures)",
    ),
    Counter(
        "Total-Auth-Dropped-Requests", "auth_dropped_requests_total", "counter", "Access-Requests dropped unanswered"
    ),
    Counter("Total-Auth-Unknown-Types", "auth_unknown_types_total", "counter", "packets of an unknown code"),
    Counter("Total-Auth-Conflicts", "auth_conflicts_total", "counter", "conflicting retransmissions"),
    Counter("Total-Accounting-Requests", "accounting_requests_total", "counter", "Accounting-Requests received"),
    Counter("Total-Accounting-Responses", "accounting_responses_total", "counter", "Accounting-Responses sent"),
    Counter(
        "Total-Acct-Duplicate-Requests", "acct_duplicate_requests_total", "counter", "retransmitted Accounting-Requests"
    ),
    Counter(
        "Total-Acct-Malformed-Requests",
        "acct_malformed_requests_total",
        "counter",
        "Accounting-Requests that could not be decoded",
    ),
    Counter(
        "Total-Acct-Invalid-Requests",
        "acct_invalid_requests_total",
        "counter",
        "accounting packets from unknown clients (and bad signatures)",
    ),
    Counter(
        "Total-Acct-Dropped-Requests",
        "acct_dropped_requests_total",
        "counter",
        "Accounting-Requests dropped unanswered",
    ),
    Counter("Total-Acct-Unknown-Types", "acct_unknown_types_total", "counter", "packets of an unknown code"),
    Counter("Total-Acct-Conflicts", "acct_conflicts_total", "counter", "conflicting retransmissions"),
    Counter("Queue-Len-Auth", "queue_auth", "gauge", "requests waiting in the authentication queue"),
    Counter("Queue-Len-Acct", "queue_acct", "gauge", "requests waiting in the accounting queue"),
    Counter("Queue-Len-Detail", "queue_detail", "gauge", "requests waiting from the accounting spool"),
    Counter("Queue-Len-Internal", "queue_internal", "gauge", "requests waiting in the internal queue"),
    Counter("Queue-PPS-In", "packets_in_per_second", "gauge", "packets received per second"),
    Counter("Queue-PPS-Out", "packets_out_per_second", "gauge", "packets sent per second"),
    Counter("Stats-Start-Time", "start_time_seconds", "gauge", "when FreeRADIUS started (Unix time)"),
]


@dataclass(frozen=True)
class LogCounters:
    unknown_client_requests: int
    drops: dict[str, int]  # reason -> requests dropped by policy ispops_drop


UNKNOWN_CLIENT = b"from unknown client"
_REASON = re.compile(rb" reason=(\S+)")


def _count(path: Path, needle: bytes) -> int:
    if not path.exists():
        return 0
    total, tail = 0, b""
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            data = tail + chunk
            total += data.count(needle)
            tail = data[-(len(needle) - 1) :]
            total -= tail.count(needle)  # counted again with the next chunk
    return total + tail.count(needle)


def log_counters(raddb: Path) -> LogCounters:
    """What the raddb's logs say (counters that restart when a log is rotated, as Prometheus expects)."""
    drops: dict[str, int] = {}
    drops_log = raddb / "log" / "drops.log"
    if drops_log.exists():
        with drops_log.open("rb") as f:
            for line in f:
                found = _REASON.search(line)
                if found:
                    reason = found.group(1).decode(errors="replace")
                    drops[reason] = drops.get(reason, 0) + 1
    return LogCounters(unknown_client_requests=_count(raddb / "log" / "radius.log", UNKNOWN_CLIENT), drops=drops)


class StatusUnavailable(Exception):
    """The Status-Server did not answer (off, another port, wrong secret, FreeRADIUS not running)."""


def status_settings(raddb: Path) -> tuple[int, str]:
    """The Status-Server port and secret of a rendered raddb."""
    site = raddb / STATUS_SITE
    text = site.read_text(encoding="utf-8") if site.exists() else ""
    port = re.search(r"^\s*port = (\d+)\s*$", text, re.MULTILINE)
    secret_file = raddb / STATUS_SECRET_FILE
    if port is None or not secret_file.exists():
        raise StatusUnavailable(f"the Status-Server is off in {raddb} (ispops radius config --status-port PORT)")
    return int(port.group(1)), secret_file.read_text(encoding="utf-8").strip()


def query_status(*, port: int, secret: str, server: str = "127.0.0.1", timeout: float = 2.0) -> dict[str, int]:
    """Every counter FreeRADIUS reports, by our name (:data:`COUNTERS`)."""
    client = Client(server=server, authport=port, secret=secret.encode(), dict=dictionary(_DICTIONARY))
    client.timeout, client.retries = timeout, 1
    request = client.CreateAuthPacket(code=packet.StatusServer)
    request["FreeRADIUS-Statistics-Type"] = ALL_STATISTICS
    request.add_message_authenticator()
    try:
        reply = client.SendPacket(request)
    except Timeout:
        raise StatusUnavailable(f"no answer from the Status-Server at {server}:{port}") from None
    if reply.code != packet.AccessAccept:
        raise StatusUnavailable(f"the Status-Server at {server}:{port} answered code {reply.code}")
    out: dict[str, int] = {}
    for counter in COUNTERS:
        key = f"FreeRADIUS-{counter.attribute}"
        if key in reply:
            out[counter.name] = int(reply[key][0])
    return out


def prometheus_text(values: dict[str, int], logs: LogCounters | None = None) -> str:
    """The Prometheus text exposition format (a node_exporter textfile collector reads it)."""
    lines: list[str] = []
    for counter in COUNTERS:
        if counter.name not in values:
            continue
        metric = f"freeradius_{counter.name}"
        lines += [
            f"# HELP {metric} FreeRADIUS: {counter.help}.",
            f"# TYPE {metric} {counter.kind}",
            f"{metric} {values[counter.name]}",
        ]
    if logs is not None:
        metric = "ispops_radius_unknown_client_requests_total"
        lines += [
            f"# HELP {metric} Requests from addresses that are no client (FreeRADIUS log lines).",
            f"# TYPE {metric} counter",
            f"{metric} {logs.unknown_client_requests}",
        ]
        metric = "ispops_radius_dropped_requests_total"
        lines += [
            f"# HELP {metric} Requests dropped unanswered by policy ispops_drop, by reason (drops.log).",
            f"# TYPE {metric} counter",
        ]
        lines += [f'{metric}{{reason="{reason}"}} {count}' for reason, count in sorted(logs.drops.items())]
    return "\n".join(lines) + "\n"


def table_text(values: dict[str, int], logs: LogCounters) -> str:
    """The counters as aligned ``name value`` lines."""
    rows = [(counter.name, values[counter.name]) for counter in COUNTERS if counter.name in values]
    rows.append(("unknown_client_requests (radius.log)", logs.unknown_client_requests))
    rows += [(f"dropped[{reason}] (drops.log)", count) for reason, count in sorted(logs.drops.items())]
    width = max(len(name) for name, _ in rows)
    return "".join(f"{name:<{width}}  {value}\n" for name, value in rows)
