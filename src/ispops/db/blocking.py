"""Blocking calls (secret store, files) made from sync service code, wherever that code runs.

Domain services are plain sync functions over an ORM ``Session`` (docs/architecture.md, "One kind of
service"). Jobs and the CLI call them in their own thread with a sync ``Database``: a blocking call is
fine there. The API calls the same functions through ``AsyncSession.run_sync``, which runs them in a
greenlet *on the event loop*: their SQL is handed back to the loop (SQLAlchemy's asyncio bridge), but any
other blocking call would stall every request. :func:`call_blocking` is how a service makes such a call:
inside ``run_sync`` it runs the call in a worker thread and hands the waiting to the loop through the same
bridge (``await_only``), otherwise it just calls it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from sqlalchemy.util import await_only
from sqlalchemy.util.concurrency import in_greenlet

P = ParamSpec("P")
T = TypeVar("T")


def on_event_loop() -> bool:
    """Whether the caller runs inside SQLAlchemy's asyncio bridge (``run_sync``, or an ORM event fired
    by an ``AsyncSession``), that is on the event loop's thread."""
    return in_greenlet()


def call_blocking(fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
    """``fn(*args, **kwargs)``, run in a worker thread when called on the event loop (see module doc)."""
    if on_event_loop():
        return await_only(asyncio.to_thread(fn, *args, **kwargs))
    return fn(*args, **kwargs)
