"""The secret store interface: small binary secrets addressed by a path.

Callers prefix paths with the tenant (``tenants/<tenant_id>/vpn/<tunnel_id>/private_key``); the
database keeps only the path. Two backends: an encrypted local file store (default) and HashiCorp
Vault KV v2. ``open_secret_store(settings)`` returns the configured one.

Contract, for every backend:

- ``put`` replaces any previous value atomically: a reader sees the old value or the new one.
- ``get`` raises :class:`SecretNotFound` (an ``ispops.errors.NotFound``) when the path holds nothing.
- ``delete`` of a missing path is not an error (idempotent, so compensations can retry it).
- Any failure of the backend itself (unreachable, denied, corrupt data) is :class:`SecretStoreError`.
- Paths are validated by :func:`check_path`: relative, ``/``-separated segments of
  ``[A-Za-z0-9._-]`` not starting with a dot (so no ``.``/``..``), at most 255 characters.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from ispops.errors import IspopsError, NotFound, ValidationFailed

if TYPE_CHECKING:
    from ispops.config import Settings

MAX_PATH_LENGTH = 255  # the width of the *_vault_path columns
_SEGMENT = re.compile(r"^[A-Za-z0-9._-]+$")


class SecretStoreError(IspopsError):
    """The secret backend failed (unreachable, refused, corrupt). Nothing was half-written."""

    status = 503
    code = "secret_store_unavailable"


class SecretNotFound(NotFound):
    """No secret at this path."""


class InvalidSecretPath(ValidationFailed):
    """A path that could escape its prefix or is not representable in every backend."""


def check_path(path: str) -> str:
    """Return ``path`` unchanged if it is a safe secret path, else raise :class:`InvalidSecretPath`."""
    if not isinstance(path, str) or not path or len(path) > MAX_PATH_LENGTH:
        raise InvalidSecretPath(f"secret path must be 1..{MAX_PATH_LENGTH} characters", field="path")
    segments = path.split("/")
    for segment in segments:
        if not segment or segment.startswith(".") or not _SEGMENT.match(segment):
            raise InvalidSecretPath(f"invalid secret path {path!r}", field="path")
    return path


def tenant_path(tenant_id: object, *parts: str) -> str:
    """``tenants/<tenant_id>/<parts...>``, validated."""
    return check_path("/".join(("tenants", str(tenant_id), *parts)))


@runtime_checkable
class SecretStore(Protocol):
    """Put, get, delete and test small secrets by path. Implementations are thread-safe."""

    def put(self, path: str, value: bytes) -> None: ...

    def get(self, path: str) -> bytes: ...

    def delete(self, path: str) -> None: ...

    def exists(self, path: str) -> bool: ...


def open_secret_store(settings: Settings | None = None) -> SecretStore:
    """The store configured by ``ISPOPS_SECRET_BACKEND`` (``file``, the default, or ``vault``)."""
    if settings is None:
        from ispops.config import get_settings

        settings = get_settings()
    backend = getattr(settings, "secret_backend", "file")
    if backend == "vault":
        from ispops.secrets.vault import VaultSecretStore

        return VaultSecretStore.from_settings(settings)
    if backend == "file":
        from ispops.secrets.file import FileSecretStore

        return FileSecretStore.from_settings(settings)
    raise SecretStoreError(f"unknown ISPOPS_SECRET_BACKEND {backend!r} (expected 'file' or 'vault')")
