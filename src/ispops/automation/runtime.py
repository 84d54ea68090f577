"""The settings automation uses outside a request: the process's own (``get_settings()``), unless a test
or an embedding program installs others."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from ispops.config import Settings, get_settings

_lock = threading.Lock()
_installed: Settings | None = None


def current() -> Settings:
    with _lock:
        return _installed if _installed is not None else get_settings()


@contextmanager
def installed(settings: Settings) -> Iterator[Settings]:
    """Use ``settings`` inside the block, then restore what was there."""
    global _installed
    with _lock:
        saved, _installed = _installed, settings
    try:
        yield settings
    finally:
        with _lock:
            _installed = saved
