"""HashiCorp Vault KV v2 backend (``hvac``).

A secret at ``<path>`` is the KV v2 secret ``<mount>/data/<prefix>/<path>`` holding one key, ``value``:
the bytes base64-encoded (KV values are JSON strings). ``delete`` removes the metadata and every version,
so a rotated-out private key is destroyed, not merely soft-deleted.

Tested against a real OpenBao dev server (the Vault-API compatible fork; no HashiCorp Vault binary can be
installed on our machines): see docs/secrets.md.
"""

from __future__ import annotations

import base64
import binascii
import os
import threading
from typing import TYPE_CHECKING, Any

import hvac
import hvac.exceptions
import requests

from ispops.errors import ConfigurationError
from ispops.secrets.store import SecretNotFound, SecretStoreError, check_path

if TYPE_CHECKING:
    from ispops.config import Settings

VALUE_KEY = "value"
DEFAULT_PREFIX = "ispops"


class VaultSecretStore:
    """Secrets in a Vault (or OpenBao) KV version 2 engine."""

    def __init__(
        self,
        url: str,
        token: str,
        *,
        mount: str = "secret",
        prefix: str = DEFAULT_PREFIX,
        namespace: str | None = None,
        timeout: int = 10,
    ) -> None:
        self.url = url
        self.mount = mount.strip("/")
        self.prefix = prefix.strip("/")
        if self.prefix:
            check_path(self.prefix)
        self._token = token
        self._namespace = namespace
        self._timeout = timeout
        self._local = threading.local()  # one hvac client (requests session) per thread

    @classmethod
    def from_settings(cls, settings: Settings) -> VaultSecretStore:
        if not settings.vault_url:
            raise ConfigurationError("ISPOPS_SECRET_BACKEND=vault needs ISPOPS_VAULT_URL")
        token = settings.vault_token or os.environ.get("VAULT_TOKEN")
        if not token:
            raise ConfigurationError("ISPOPS_SECRET_BACKEND=vault needs ISPOPS_VAULT_TOKEN (or VAULT_TOKEN)")
        return cls(
            settings.vault_url,
            token,
            mount=settings.vault_mount,
            namespace=settings.vault_namespace,
            timeout=settings.vault_timeout_seconds,
        )

    @property
    def _client(self) -> hvac.Client:
        client: hvac.Client | None = getattr(self._local, "client", None)
        if client is None:
            client = hvac.Client(url=self.url, token=self._token, namespace=self._namespace, timeout=self._timeout)
            self._local.client = client
        return client

    def _key(self, path: str) -> str:
        check_path(path)
        return f"{self.prefix}/{path}" if self.prefix else path

    def put(self, path: str, value: bytes) -> None:
        if not isinstance(value, bytes | bytearray):
            raise TypeError("secret value must be bytes")
        key = self._key(path)
        encoded = base64.b64encode(bytes(value)).decode()
        self._call(path, lambda kv: kv.create_or_update_secret(key, {VALUE_KEY: encoded}, mount_point=self.mount))

    def get(self, path: str) -> bytes:
        key = self._key(path)
        try:
            response = self._call(
                path, lambda kv: kv.read_secret_version(key, mount_point=self.mount, raise_on_deleted_version=True)
            )
        except hvac.exceptions.InvalidPath:
            raise SecretNotFound(f"no secret at {path!r}", field="path") from None
        try:
            return base64.b64decode(response["data"]["data"][VALUE_KEY], validate=True)
        except (KeyError, TypeError, binascii.Error) as exc:
            raise SecretStoreError(f"secret {path!r} in Vault is not in the store's format") from exc

    def delete(self, path: str) -> None:
        key = self._key(path)
        try:
            self._call(path, lambda kv: kv.delete_metadata_and_all_versions(key, mount_point=self.mount))
        except hvac.exceptions.InvalidPath:
            return

    def exists(self, path: str) -> bool:
        try:
            self.get(path)
        except SecretNotFound:
            return False
        return True

    def _call(self, path: str, op: Any) -> Any:
        """Run ``op(kv_v2)``; InvalidPath (404) passes through, every other failure is SecretStoreError."""
        try:
            return op(self._client.secrets.kv.v2)
        except hvac.exceptions.InvalidPath:
            raise
        except hvac.exceptions.VaultError as exc:
            raise SecretStoreError(f"Vault refused the operation on {path!r}: {type(exc).__name__}") from exc
        except requests.RequestException as exc:
            raise SecretStoreError(f"Vault at {self.url} is unreachable: {type(exc).__name__}") from exc
