"""The encrypted file backend: key management, encryption at rest, atomic writes."""

from __future__ import annotations

import base64
import os
import stat
from pathlib import Path

import pytest

from ispops.config import Settings
from ispops.errors import ConfigurationError
from ispops.secrets.file import KEY_FILE, FileSecretStore, decode_key, generate_key
from ispops.secrets.store import InvalidSecretPath, SecretStoreError, open_secret_store


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_default_is_file_store_with_generated_key(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    store = open_secret_store(settings)
    assert isinstance(store, FileSecretStore)
    key_file = tmp_path / KEY_FILE
    assert _mode(key_file) == 0o600
    key = key_file.read_text()
    store.put("a/b", b"secret")
    # A second opening (another process, a restart) reuses the key and reads the secret.
    again = open_secret_store(Settings(data_dir=tmp_path))
    assert again.get("a/b") == b"secret"
    assert key_file.read_text() == key
    assert store.root == (tmp_path / "secrets").resolve()


def test_key_from_settings_creates_no_key_file(tmp_path: Path) -> None:
    key = generate_key()
    store = open_secret_store(Settings(data_dir=tmp_path, secret_key=key))
    store.put("a", b"v")
    assert not (tmp_path / KEY_FILE).exists()
    assert open_secret_store(Settings(data_dir=tmp_path, secret_key=key)).get("a") == b"v"


def test_url_safe_key_accepted() -> None:
    raw = os.urandom(32)
    assert decode_key(base64.urlsafe_b64encode(raw).decode()) == raw


@pytest.mark.parametrize("bad", ["not base64!", base64.b64encode(b"short").decode(), ""])
def test_bad_key_is_configuration_error(tmp_path: Path, bad: str) -> None:
    with pytest.raises(ConfigurationError):
        FileSecretStore.from_settings(Settings(data_dir=tmp_path, secret_key=bad or "=")).put("a", b"v")


def test_key_file_readable_by_others_is_refused(tmp_path: Path) -> None:
    open_secret_store(Settings(data_dir=tmp_path))
    (tmp_path / KEY_FILE).chmod(0o644)
    with pytest.raises(ConfigurationError, match="chmod 600"):
        open_secret_store(Settings(data_dir=tmp_path))


def test_secret_dir_setting(tmp_path: Path) -> None:
    store = open_secret_store(Settings(data_dir=tmp_path, secret_dir=tmp_path / "elsewhere"))
    store.put("x/y", b"v")
    assert (tmp_path / "elsewhere" / "x" / "y.sec").is_file()


def test_encrypted_at_rest_private_and_no_temporary_left(file_store: FileSecretStore) -> None:
    plaintext = b"-----private key material-----"
    file_store.put("tenants/t/vpn/1/private_key", plaintext)
    on_disk = file_store.root / "tenants/t/vpn/1/private_key.sec"
    blob = on_disk.read_bytes()
    assert plaintext not in blob
    assert _mode(on_disk) == 0o600
    assert sorted(p.name for p in on_disk.parent.iterdir()) == ["private_key.sec"]


def test_wrong_key_cannot_read(file_store: FileSecretStore) -> None:
    file_store.put("a/b", b"v")
    other = FileSecretStore(file_store.root, os.urandom(32))
    with pytest.raises(SecretStoreError, match="cannot be decrypted"):
        other.get("a/b")


def test_tampered_file_detected(file_store: FileSecretStore) -> None:
    file_store.put("a/b", b"value")
    path = file_store.root / "a/b.sec"
    blob = bytearray(path.read_bytes())
    blob[-1] ^= 1
    path.write_bytes(bytes(blob))
    with pytest.raises(SecretStoreError):
        file_store.get("a/b")


def test_file_moved_to_another_tenant_path_does_not_decrypt(file_store: FileSecretStore) -> None:
    """The path is authenticated: copying tenant A's file to tenant B's path yields an error, not A's key."""
    file_store.put("tenants/a/k", b"tenant a")
    target = file_store.root / "tenants/b/k.sec"
    target.parent.mkdir(parents=True)
    target.write_bytes((file_store.root / "tenants/a/k.sec").read_bytes())
    with pytest.raises(SecretStoreError):
        file_store.get("tenants/b/k")


def test_garbage_file_is_store_error(file_store: FileSecretStore) -> None:
    (file_store.root / "g.sec").write_bytes(b"nope")
    with pytest.raises(SecretStoreError, match="format"):
        file_store.get("g")


def test_write_failure_mid_way_leaves_old_value(file_store: FileSecretStore, monkeypatch: pytest.MonkeyPatch) -> None:
    """The rename is the commit point: an error before it leaves the old value and no temporary file."""
    file_store.put("d/k", b"old")

    def broken_replace(src: object, dst: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(SecretStoreError, match="No space left"):
        file_store.put("d/k", b"new")
    monkeypatch.undo()
    assert file_store.get("d/k") == b"old"
    assert sorted(p.name for p in (file_store.root / "d").iterdir()) == ["k.sec"]


def test_directory_segment_with_suffix_rejected(file_store: FileSecretStore) -> None:
    with pytest.raises(InvalidSecretPath):
        file_store.put("a.sec/b", b"v")


def test_symlink_escape_refused(file_store: FileSecretStore, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (file_store.root / "link").symlink_to(outside)
    with pytest.raises(SecretStoreError, match="escapes"):
        file_store.put("link/k", b"v")
    assert list(outside.iterdir()) == []
