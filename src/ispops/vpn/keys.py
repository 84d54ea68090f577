"""WireGuard keys: X25519 pairs from ``cryptography``, in WireGuard's base64 text form."""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat

# 32 bytes in base64: 43 characters, the last of which encodes 4 bits, then "=".
WG_KEY = re.compile(r"[A-Za-z0-9+/]{42}[AEIMQUYcgkosw480]=")


@dataclass(frozen=True)
class KeyPair:
    private_key: str  # base64, as in a wg-quick [Interface] PrivateKey
    public_key: str

    def __repr__(self) -> str:  # never print the private half
        return f"KeyPair(public_key={self.public_key!r})"


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def generate() -> KeyPair:
    private = X25519PrivateKey.generate()
    raw_private = private.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    raw_public = private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return KeyPair(_b64(raw_private), _b64(raw_public))


def public_key_of(private_key: str) -> str:
    """The public key of a base64 private key (what ``wg pubkey`` prints)."""
    raw = decode(private_key)
    public = X25519PrivateKey.from_private_bytes(raw).public_key()
    return _b64(public.public_bytes(Encoding.Raw, PublicFormat.Raw))


def decode(key: str) -> bytes:
    if not is_key(key):
        raise ValueError("not a WireGuard key (32 bytes, base64)")
    try:
        return base64.b64decode(key, validate=True)
    except binascii.Error as exc:  # pragma: no cover - the pattern already guarantees valid base64
        raise ValueError("not a WireGuard key") from exc


def is_key(value: object) -> bool:
    return isinstance(value, str) and WG_KEY.fullmatch(value) is not None
