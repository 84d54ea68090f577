"""Secret store: encrypted local files or HashiCorp Vault KV v2 (see docs/secrets.md)."""

from ispops.secrets.store import (
    InvalidSecretPath,
    SecretNotFound,
    SecretStore,
    SecretStoreError,
    check_path,
    open_secret_store,
    tenant_path,
)

__all__ = [
    "InvalidSecretPath",
    "SecretNotFound",
    "SecretStore",
    "SecretStoreError",
    "check_path",
    "open_secret_store",
    "tenant_path",
]
