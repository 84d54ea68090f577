"""The SecretStore contract, run against the file store and a real OpenBao (Vault KV v2) server."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import pytest

from ispops.errors import NotFound
from ispops.secrets.store import InvalidSecretPath, SecretNotFound, SecretStore, tenant_path


def test_put_get_roundtrip_binary(store: SecretStore) -> None:
    value = os.urandom(32) + b"\x00\xff"
    store.put("tenants/t1/vpn/x/private_key", value)
    assert store.get("tenants/t1/vpn/x/private_key") == value
    assert store.exists("tenants/t1/vpn/x/private_key")


def test_put_replaces_value(store: SecretStore) -> None:
    store.put("a/b", b"one")
    store.put("a/b", b"two")
    assert store.get("a/b") == b"two"


def test_empty_value(store: SecretStore) -> None:
    store.put("a/empty", b"")
    assert store.get("a/empty") == b""


def test_missing_is_not_found(store: SecretStore) -> None:
    with pytest.raises(SecretNotFound) as caught:
        store.get("nothing/here")
    assert isinstance(caught.value, NotFound)
    assert caught.value.status == 404
    assert not store.exists("nothing/here")


def test_delete_then_missing_and_idempotent(store: SecretStore) -> None:
    store.put("a/b", b"v")
    store.delete("a/b")
    assert not store.exists("a/b")
    with pytest.raises(SecretNotFound):
        store.get("a/b")
    store.delete("a/b")  # again: no error


def test_paths_are_independent(store: SecretStore) -> None:
    store.put("tenants/t1/k", b"one")
    store.put("tenants/t2/k", b"two")
    store.put("tenants/t1/k/deeper", b"three")
    assert store.get("tenants/t1/k") == b"one"
    assert store.get("tenants/t2/k") == b"two"
    assert store.get("tenants/t1/k/deeper") == b"three"
    store.delete("tenants/t1/k")
    assert store.get("tenants/t1/k/deeper") == b"three"


@pytest.mark.parametrize(
    "path",
    [
        "",
        "/abs",
        "../escape",
        "a/../../b",
        "a/./b",
        "a//b",
        "a/b/",
        ".hidden",
        "a/b c",
        "a\\b",
        "a/\x00",
        "x" * 256,
        "tenants/ü",
    ],
)
def test_rejects_unsafe_paths(store: SecretStore, path: str) -> None:
    for op in (lambda: store.put(path, b"v"), lambda: store.get(path), lambda: store.delete(path)):
        with pytest.raises(InvalidSecretPath) as caught:
            op()
        assert caught.value.status == 422
        assert caught.value.field == "path"


def test_tenant_path_builds_prefixed_paths() -> None:
    assert tenant_path("0b6f", "vpn", "t1", "private_key") == "tenants/0b6f/vpn/t1/private_key"
    with pytest.raises(InvalidSecretPath):
        tenant_path("..", "x")


def test_concurrent_writers_leave_one_complete_value(store: SecretStore) -> None:
    values = [bytes([i]) * 64 for i in range(16)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda v: store.put("race/key", v), values))
    assert store.get("race/key") in values
