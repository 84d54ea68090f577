"""Sending CoA/Disconnect requests the moment they are queued: ``LISTEN ispops_radius_coa``.

The queue's triggers and the manual-disconnect action ``NOTIFY ispops_radius_coa`` with the tenant id in
the same transaction as the change, so the notification arrives when the change commits.
``CoaFollower.run`` listens on one connection of its own (the application role, autocommit) and drains the
notified tenant's queue at once (``ispops.radius.jobs.drain_tenant``, in a thread: sending is blocking).
It runs:

- beside the procrastinate worker in every ``ispops worker`` (and so in the one ``ispops up`` starts),
  where the periodic job ``radius.drain_coa_queue`` stays the safety net (retries whose time has come,
  anything queued while no worker listened);
- in ``ispops radius coa-drain --follow``, with a full pass every ``interval`` seconds instead of the job.

One drain per tenant at a time: notifications arriving while a tenant is being drained ask for one more
pass when it ends (the queue is read afresh, so nothing is missed and nothing is sent twice; several
followers on several hosts share the queue through ``FOR UPDATE SKIP LOCKED``). A lost connection is
logged and re-opened, followed by a full pass (notifications sent meanwhile were lost). ``stop()`` is
polled every ``TICK`` seconds and between queue items: stopping waits for the item being sent at most.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import psycopg

from ispops.config import APP_ROLE
from ispops.db.server import libpq_dsn
from ispops.db.session import Database
from ispops.radius.jobs import drain_tenant
from ispops.tenancy.service import list_tenant_ids

log = logging.getLogger("ispops.radius.coa")

CHANNEL = "ispops_radius_coa"
TICK = 0.5  # seconds between looks at stop()
BATCH = 1  # queue items per drain_tenant call: a stop is noticed after each item
RECONNECT_DELAYS = (1.0, 2.0, 5.0, 10.0, 30.0)


class CoaFollower:
    """Drain tenants' CoA queues as their notifications arrive (module docstring)."""

    def __init__(
        self, db: Database, tenant_id: str | None = None, *, interval: float | None = None, **options: Any
    ) -> None:
        self.db = db
        self.tenant_id = tenant_id
        self.interval = interval
        self.options = options
        self._stopping = threading.Event()
        self._running: dict[str, asyncio.Task[None]] = {}
        self._again: set[str] = set()

    # --- draining (in threads) -----------------------------------------------------------------------

    def _drain_blocking(self, tenant_id: str) -> None:
        while not self._stopping.is_set():
            report = drain_tenant(self.db, tenant_id, max_items=BATCH, **self.options)
            if report.items + report.superseded + report.given_up < BATCH:
                return  # the queue had nothing more ready

    async def _drain_loop(self, tenant_id: str) -> None:
        try:
            while True:
                self._again.discard(tenant_id)
                try:
                    await asyncio.to_thread(self._drain_blocking, tenant_id)
                except Exception:
                    log.exception("CoA drain of tenant %s failed (the periodic job will retry)", tenant_id)
                if tenant_id not in self._again or self._stopping.is_set():
                    return
        finally:
            self._running.pop(tenant_id, None)

    def wake(self, tenant_id: str) -> None:
        """Drain ``tenant_id`` now, or once more after the drain under way."""
        if self.tenant_id not in (None, tenant_id) or self._stopping.is_set():
            return
        if tenant_id in self._running:
            self._again.add(tenant_id)
        else:
            self._running[tenant_id] = asyncio.create_task(self._drain_loop(tenant_id))

    async def _wake_all(self) -> None:
        tenants = [self.tenant_id] if self.tenant_id else await asyncio.to_thread(list_tenant_ids, self.db)
        for tid in tenants:
            self.wake(tid)

    # --- listening -----------------------------------------------------------------------------------

    async def _connect(self) -> psycopg.AsyncConnection[Any]:
        conn = await psycopg.AsyncConnection.connect(libpq_dsn(self.db.server.url_for(APP_ROLE)), autocommit=True)
        await conn.execute(f"LISTEN {CHANNEL}")
        return conn

    async def _listen(self, conn: psycopg.AsyncConnection[Any], stop: Callable[[], bool]) -> None:
        last_pass = time.monotonic()
        while not stop():
            async for notify in conn.notifies(timeout=TICK, stop_after=1):
                self.wake(notify.payload)
            if self.interval is not None and time.monotonic() - last_pass >= self.interval:
                last_pass = time.monotonic()
                await self._wake_all()

    async def _pause(self, seconds: float, stop: Callable[[], bool]) -> None:
        deadline = time.monotonic() + seconds
        while not stop() and time.monotonic() < deadline:
            await asyncio.sleep(min(TICK, max(deadline - time.monotonic(), 0)))

    async def run(self, stop: Callable[[], bool], *, first_pass: bool = False) -> None:
        """Listen until ``stop()`` is true, then let the drains under way finish their current item."""
        failures = 0
        try:
            while not stop():
                try:
                    conn = await self._connect()
                except psycopg.Error as exc:
                    delay = RECONNECT_DELAYS[min(failures, len(RECONNECT_DELAYS) - 1)]
                    failures += 1
                    log.warning("CoA listener cannot connect (%s); next try in %.0f s", exc, delay)
                    await self._pause(delay, stop)
                    continue
                try:
                    if first_pass or failures:
                        await self._wake_all()  # queued before we listened, or while the connection was down
                    failures = 0
                    await self._listen(conn, stop)
                except psycopg.Error as exc:
                    failures += 1
                    log.warning("CoA listener lost its connection (%s); reconnecting", exc)
                finally:
                    await conn.close()
        finally:
            self._stopping.set()
            running = list(self._running.values())
            if running:
                await asyncio.gather(*running, return_exceptions=True)


def follow_coa_queue(
    db: Database,
    tenant_id: str | None = None,
    *,
    interval: float = 30.0,
    stop: Callable[[], bool] = lambda: False,
    **options: Any,
) -> None:
    """Drain as changes happen: ``LISTEN ispops_radius_coa`` (the triggers and the disconnect action notify
    with the tenant id) and drain that tenant at once; every ``interval`` seconds, and first thing, drain
    every tenant (retries whose time has come). Only ``tenant_id``'s queue when given. Runs until
    ``stop()`` (looked at twice a second), then finishes the item being sent and returns
    (``ispops.radius.coa_follow``, which ``ispops worker`` runs too)."""
    follower = CoaFollower(db, tenant_id, interval=interval, **options)
    asyncio.run(follower.run(stop, first_pass=True))
