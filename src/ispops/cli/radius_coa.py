"""``ispops radius coa-drain``: send the pending CoA/Disconnect requests now (the job does it every minute)."""

from __future__ import annotations

import json
import signal
import threading
from types import FrameType
from typing import Annotated, Any

import typer

from ispops.cli.common import console, friendly_errors, open_database
from ispops.db.session import Database
from ispops.radius.coa_follow import follow_coa_queue
from ispops.radius.jobs import MAX_ATTEMPTS, RETRANSMITS, TIMEOUT, drain_coa_queue


@friendly_errors
def coa_drain(
    tenant: Annotated[str | None, typer.Option(help="Only this tenant (default: every tenant).")] = None,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for a NAS's answer per send.")] = TIMEOUT,
    retransmits: Annotated[int, typer.Option(help="Sends per request before it counts as a timeout.")] = RETRANSMITS,
    max_attempts: Annotated[int, typer.Option(help="Rounds per session before giving up.")] = MAX_ATTEMPTS,
    as_json: Annotated[bool, typer.Option("--json", help="Print the counts as JSON.")] = False,
    follow: Annotated[
        bool,
        typer.Option(
            help="Keep running: send as soon as a change is committed (LISTEN ispops_radius_coa), and look for due "
            "retries every --interval seconds. Stop with Ctrl-C or SIGTERM."
        ),
    ] = False,
    interval: Annotated[float, typer.Option(help="With --follow: seconds between full passes.")] = 30.0,
) -> None:
    """Send the ready CoA/Disconnect requests of the queue and record each attempt.

    Items whose retry time has not come yet are left for a later run (docs/radius.md).
    """
    with open_database() as db:
        if follow:
            _follow(db, tenant, interval=interval, timeout=timeout, retransmits=retransmits, max_attempts=max_attempts)
            return
        counts = drain_coa_queue(db, tenant, timeout=timeout, retransmits=retransmits, max_attempts=max_attempts)
    if as_json:
        console.print_json(json.dumps(counts))
        return
    console.print(
        f"{counts['items']} item(s): {counts['ack']} ack, {counts['nak']} nak, {counts['timeout']} timeout, "
        f"{counts['error']} error; {counts['retried']} session(s) to retry, {counts['given_up']} given up, "
        f"{counts['superseded']} superseded"
    )


def _follow(db: Database, tenant: str | None, **options: Any) -> None:
    """Run the follower until SIGTERM or Ctrl-C, then return normally: the database handle is released on
    the way out (an embedded PostgreSQL is not kept running for a process that is gone)."""
    stopping = threading.Event()

    def _stop(signum: int, frame: FrameType | None) -> None:
        stopping.set()

    previous = {sig: signal.signal(sig, _stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        console.print("Sending CoA/Disconnect requests as they are queued (Ctrl-C or SIGTERM to stop)")
        follow_coa_queue(db, tenant, stop=stopping.is_set, **options)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    console.print("Stopped.")
