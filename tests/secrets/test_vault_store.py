"""The Vault KV v2 backend against a real OpenBao dev server (see conftest): layout and failures."""

from __future__ import annotations

import base64

import hvac
import pytest

from ispops.config import Settings
from ispops.errors import ConfigurationError
from ispops.secrets.store import SecretStoreError, open_secret_store
from ispops.secrets.vault import VaultSecretStore
from tests.secrets.conftest import BaoServer, _free_port


def test_factory_opens_vault(bao: BaoServer) -> None:
    store = open_secret_store(Settings(secret_backend="vault", vault_url=bao.url, vault_token=bao.token))
    assert isinstance(store, VaultSecretStore)
    store.put("factory/k", b"v")
    assert store.get("factory/k") == b"v"
    store.delete("factory/k")


def test_layout_in_kv_v2(bao: BaoServer, vault_store: VaultSecretStore) -> None:
    vault_store.put("tenants/t/vpn/1/private_key", b"\x00key")
    client = hvac.Client(url=bao.url, token=bao.token)
    read = client.secrets.kv.v2.read_secret_version(
        f"{vault_store.prefix}/tenants/t/vpn/1/private_key", mount_point="secret", raise_on_deleted_version=True
    )
    assert read["data"]["data"] == {"value": base64.b64encode(b"\x00key").decode()}


def test_delete_destroys_all_versions(bao: BaoServer, vault_store: VaultSecretStore) -> None:
    vault_store.put("k", b"1")
    vault_store.put("k", b"2")
    vault_store.delete("k")
    client = hvac.Client(url=bao.url, token=bao.token)
    with pytest.raises(hvac.exceptions.InvalidPath):
        client.secrets.kv.v2.read_secret_metadata(f"{vault_store.prefix}/k", mount_point="secret")


def test_bad_token_is_store_error(bao: BaoServer) -> None:
    store = VaultSecretStore(bao.url, "not-a-token")
    with pytest.raises(SecretStoreError, match="refused"):
        store.put("k", b"v")
    with pytest.raises(SecretStoreError):
        store.get("k")


def test_unreachable_is_store_error() -> None:
    store = VaultSecretStore(f"http://127.0.0.1:{_free_port()}", "t", timeout=2)
    with pytest.raises(SecretStoreError, match="unreachable"):
        store.put("k", b"v")
    with pytest.raises(SecretStoreError):
        store.exists("k")


def test_value_not_in_our_format(bao: BaoServer, vault_store: VaultSecretStore) -> None:
    client = hvac.Client(url=bao.url, token=bao.token)
    client.secrets.kv.v2.create_or_update_secret(f"{vault_store.prefix}/foreign", {"other": "x"})
    with pytest.raises(SecretStoreError, match="format"):
        vault_store.get("foreign")


def test_settings_required(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VAULT_TOKEN", raising=False)
    with pytest.raises(ConfigurationError, match="VAULT_URL"):
        open_secret_store(Settings(secret_backend="vault"))
    with pytest.raises(ConfigurationError, match="TOKEN"):
        VaultSecretStore.from_settings(Settings(secret_backend="vault", vault_url="http://127.0.0.1:1"))
