"""The process's secret store, opened lazily from settings (so a process that never needs a secret
never creates a key file). The API installs its settings at start-up; tests install a store."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from ispops.secrets.store import SecretStore, open_secret_store

if TYPE_CHECKING:
    from ispops.config import Settings

_lock = threading.Lock()
_settings: Settings | None = None
_store: SecretStore | None = None


def configure(settings: Settings | None) -> None:
    """Use the store these settings describe (opened on first use)."""
    global _settings, _store
    with _lock:
        _settings, _store = settings, None


def current() -> SecretStore:
    global _store
    with _lock:
        if _store is None:
            _store = open_secret_store(_settings)
        return _store


@contextmanager
def installed(store: SecretStore) -> Iterator[SecretStore]:
    """Use ``store`` inside the block (tests), then restore what was there."""
    global _settings, _store
    with _lock:
        saved = (_settings, _store)
        _store = store
    try:
        yield store
    finally:
        with _lock:
            _settings, _store = saved
