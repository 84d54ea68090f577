"""Encrypted local file backend (the default).

Each secret is one file under the store directory, at the secret's path, holding
``ISP1`` + 12-byte nonce + AES-256-GCM ciphertext. The path is the associated data, so a file copied
or renamed to another path fails to decrypt instead of yielding the wrong tenant's secret.

Key: ``ISPOPS_SECRET_KEY`` (32 bytes, base64) when set; otherwise 32 random bytes generated once into
``<data_dir>/secret-key`` (base64, mode 0600). Writes go to a private temporary file in the same
directory, are fsynced, then renamed over the target: atomic on POSIX.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import os
import secrets as pysecrets
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ispops.errors import ConfigurationError
from ispops.keyfiles import read_or_create_private
from ispops.secrets.store import InvalidSecretPath, SecretNotFound, SecretStoreError, check_path

if TYPE_CHECKING:
    from ispops.config import Settings

KEY_FILE = "secret-key"
SECRETS_DIR = "secrets"
MAGIC = b"ISP1"
NONCE_BYTES = 12
SUFFIX = ".sec"


def decode_key(text: str) -> bytes:
    """A 32-byte AES key from its base64 text (standard or URL-safe alphabet)."""
    raw = text.strip().replace("-", "+").replace("_", "/")
    try:
        key = base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ConfigurationError("ISPOPS_SECRET_KEY is not valid base64") from exc
    if len(key) != 32:
        raise ConfigurationError(f"ISPOPS_SECRET_KEY must decode to 32 bytes, got {len(key)}")
    return key


def generate_key() -> str:
    """A new key, as the base64 text ``ISPOPS_SECRET_KEY`` expects."""
    return base64.b64encode(AESGCM.generate_key(bit_length=256)).decode()


def key_from_file(directory: Path) -> bytes:
    """The key in ``<directory>/secret-key``, created once (0600, atomically) when missing."""
    path = directory / KEY_FILE
    text = read_or_create_private(path, generate_key)
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        raise ConfigurationError(f"{path} is readable by others (mode {mode:o}); chmod 600 it")
    return decode_key(text)


class FileSecretStore:
    """AES-256-GCM encrypted files, one per secret."""

    def __init__(self, root: Path, key: bytes) -> None:
        if len(key) != 32:
            raise ConfigurationError("file secret store key must be 32 bytes")
        self.root = root.resolve()
        self._aead = AESGCM(key)
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)

    @classmethod
    def from_settings(cls, settings: Settings) -> FileSecretStore:
        data_dir = settings.data_dir.resolve()
        key = decode_key(settings.secret_key) if settings.secret_key else key_from_file(data_dir)
        root = settings.secret_dir if settings.secret_dir is not None else data_dir / SECRETS_DIR
        return cls(root, key)

    def _file(self, path: str) -> Path:
        check_path(path)
        if any(segment.endswith(SUFFIX) for segment in path.split("/")[:-1]):
            raise InvalidSecretPath(f"a directory segment may not end in {SUFFIX!r}", field="path")
        target = (self.root / (path + SUFFIX)).resolve()
        if not target.is_relative_to(self.root):  # belt and braces: check_path already forbids ".."
            raise SecretStoreError("secret path escapes the store")
        return target

    def put(self, path: str, value: bytes) -> None:
        if not isinstance(value, bytes | bytearray):
            raise TypeError("secret value must be bytes")
        target = self._file(path)
        nonce = os.urandom(NONCE_BYTES)
        blob = MAGIC + nonce + self._aead.encrypt(nonce, bytes(value), path.encode())
        try:
            target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            tmp = target.parent / f".{target.name}.{pysecrets.token_hex(8)}.tmp"
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                with os.fdopen(fd, "wb") as fh:
                    fh.write(blob)
                    fh.flush()
                    os.fsync(fh.fileno())
                os.replace(tmp, target)
            except BaseException:
                with contextlib.suppress(FileNotFoundError):
                    tmp.unlink()
                raise
            _fsync_dir(target.parent)
        except OSError as exc:
            raise SecretStoreError(f"cannot write secret {path!r}: {exc.strerror or exc}") from exc

    def get(self, path: str) -> bytes:
        target = self._file(path)
        try:
            blob = target.read_bytes()
        except FileNotFoundError:
            raise SecretNotFound(f"no secret at {path!r}", field="path") from None
        except OSError as exc:
            raise SecretStoreError(f"cannot read secret {path!r}: {exc.strerror or exc}") from exc
        if not blob.startswith(MAGIC) or len(blob) < len(MAGIC) + NONCE_BYTES + 16:
            raise SecretStoreError(f"secret {path!r} is not in the store's format")
        nonce = blob[len(MAGIC) : len(MAGIC) + NONCE_BYTES]
        try:
            return self._aead.decrypt(nonce, blob[len(MAGIC) + NONCE_BYTES :], path.encode())
        except InvalidTag:
            raise SecretStoreError(
                f"secret {path!r} cannot be decrypted (wrong key, or the file was altered or moved)"
            ) from None

    def delete(self, path: str) -> None:
        target = self._file(path)
        try:
            target.unlink()
        except FileNotFoundError:
            return
        except OSError as exc:
            raise SecretStoreError(f"cannot delete secret {path!r}: {exc.strerror or exc}") from exc

    def exists(self, path: str) -> bool:
        return self._file(path).is_file()


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
