"""MS-CHAPv2 as a NAS computes it (RFC 2759), so the tests can log in with it through FreeRADIUS."""

from __future__ import annotations

import hashlib
import os

from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives.ciphers import Cipher, modes

from ispops.radius.provisioning import md4


def _des_key(seven: bytes) -> bytes:
    """Spread 56 key bits over 8 bytes (the low bit of each byte is parity, ignored by DES)."""
    bits = int.from_bytes(seven, "big")
    return bytes(((bits >> (49 - 7 * i)) & 0x7F) << 1 for i in range(8))


def _des(key7: bytes, block: bytes) -> bytes:
    encryptor = Cipher(TripleDES(_des_key(key7) * 3), modes.ECB()).encryptor()  # noqa: S305 (the protocol is ECB)
    return encryptor.update(block) + encryptor.finalize()


def nt_response(username: str, password: str, auth_challenge: bytes, peer_challenge: bytes) -> bytes:
    challenge = hashlib.sha1(peer_challenge + auth_challenge + username.encode()).digest()[:8]  # noqa: S324
    password_hash = md4(password.encode("utf-16-le")) + b"\0" * 5
    return b"".join(_des(password_hash[i : i + 7], challenge) for i in (0, 7, 14))


def mschapv2_attributes(username: str, password: str) -> dict[str, bytes]:
    """MS-CHAP-Challenge and MS-CHAP2-Response for an Access-Request."""
    auth_challenge, peer_challenge = os.urandom(16), os.urandom(16)
    response = (
        bytes([1, 0]) + peer_challenge + b"\0" * 8 + nt_response(username, password, auth_challenge, peer_challenge)
    )
    return {"MS-CHAP-Challenge": auth_challenge, "MS-CHAP2-Response": response}
