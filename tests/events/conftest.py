"""Events test fixtures: a real receiver on 127.0.0.1, the operator's allowance for it, a secret store."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from ispops.secrets import runtime
from ispops.secrets.file import FileSecretStore
from tests.api.conftest import api_settings, app_client, auth, client  # noqa: F401 (the API fixtures)
from tests.events import receiver as receiver_mod
from tests.events.receiver import Receiver


@pytest.fixture(scope="session")
def receiver_server() -> Iterator[Receiver]:
    with receiver_mod.running() as r:
        yield r


@pytest.fixture
def receiver(receiver_server: Receiver) -> Receiver:
    receiver_server.reset()
    return receiver_server


@pytest.fixture
def store(tmp_path: Path) -> Iterator[FileSecretStore]:
    s = FileSecretStore(tmp_path / "secrets", os.urandom(32))
    with runtime.installed(s):
        yield s


@pytest.fixture
def allow_local(monkeypatch: pytest.MonkeyPatch) -> None:
    """The platform operator's allowance the tests need: http, and the loopback receiver. Retries at once."""
    monkeypatch.setenv("ISPOPS_WEBHOOK_ALLOW_HTTP", "1")
    monkeypatch.setenv("ISPOPS_WEBHOOK_ALLOWED_NETWORKS", "127.0.0.0/8")
    monkeypatch.setenv("ISPOPS_WEBHOOK_BACKOFF_BASE", "0")
    monkeypatch.setenv("ISPOPS_WEBHOOK_TIMEOUT", "5")
