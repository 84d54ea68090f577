"""Tokens, the signing key, TOTP and recovery codes, password checks: no database."""

from __future__ import annotations

import asyncio
import stat
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import jwt
import pyotp
import pytest

from ispops.auth import mfa, passwords
from ispops.auth.principal import Principal
from ispops.auth.results import Outcome
from ispops.auth.tokens import (
    decode_access_token,
    hash_refresh_token,
    issue_access_token,
    jwt_secret_for,
    new_refresh_token,
    refresh_token_prefix,
)
from ispops.config import Settings
from ispops.errors import ConfigurationError, Unauthenticated
from ispops.tenancy.service import PASSWORD_HASHER
from tests.auth.conftest import SECRET

USER = Principal(kind="user", id="u-1", tenant_id="isp-a", roles=frozenset({"noc_engineer", "field_tech"}))
OPERATOR = Principal(kind="operator", id="op-1", tenant_id=None)


def test_access_token_round_trip() -> None:
    for principal in (USER, OPERATOR, Principal(kind="user", id="u-2", tenant_id="b", mfa_satisfied=False)):
        assert decode_access_token(issue_access_token(principal, secret=SECRET, ttl_seconds=60), secret=SECRET) == (
            principal
        )
    claims = jwt.decode(issue_access_token(USER, secret=SECRET, ttl_seconds=60), SECRET, algorithms=["HS256"])
    assert claims["typ"] == "access"
    assert claims["roles"] == ["field_tech", "noc_engineer"]
    assert claims["tid"] == "isp-a"
    assert claims["mfa"] is True
    assert claims["exp"] - claims["iat"] == 60
    assert "tid" not in jwt.decode(issue_access_token(OPERATOR, secret=SECRET, ttl_seconds=60), SECRET, ["HS256"])


def _forged(**changes: object) -> str:
    now = datetime.now(UTC)
    claims: dict[str, object] = {
        "sub": "u-1",
        "kind": "user",
        "tid": "isp-a",
        "roles": [],
        "mfa": True,
        "iat": now,
        "exp": now + timedelta(minutes=5),
        "jti": "j",
        "typ": "access",
    }
    claims.update(changes)
    return jwt.encode({k: v for k, v in claims.items() if v is not None}, SECRET, algorithm="HS256")


@pytest.mark.parametrize(
    "token",
    [
        issue_access_token(USER, secret="another-secret-" + "z" * 40, ttl_seconds=60),
        issue_access_token(USER, secret=SECRET, ttl_seconds=60, now=datetime.now(UTC) - timedelta(minutes=5)),
        _forged(typ="refresh"),
        _forged(kind="admin"),
        _forged(tid=None),
        _forged(kind="operator"),  # operators carry no tenant
        _forged(roles="tenant_admin"),
        _forged(mfa="yes"),
        _forged(jti=None),
        jwt.encode({"sub": "u-1"}, SECRET, algorithm="HS256"),
        jwt.encode({"sub": "u-1", "typ": "access"}, "", algorithm="none"),
        "not-a-jwt",
        "",
    ],
    ids=[
        "bad-signature",
        "expired",
        "wrong-type",
        "bad-kind",
        "user-without-tenant",
        "operator-with-tenant",
        "roles-not-list",
        "mfa-not-bool",
        "no-jti",
        "bare",
        "alg-none",
        "garbage",
        "empty",
    ],
)
def test_bad_access_tokens_are_unauthenticated(token: str) -> None:
    with pytest.raises(Unauthenticated):
        decode_access_token(token, secret=SECRET)


def test_refresh_tokens_are_prefixed_and_stored_hashed() -> None:
    token = new_refresh_token("isp-a")
    assert token.startswith("isp-a.") and len(token) > 40
    assert refresh_token_prefix(token) == "isp-a"
    assert refresh_token_prefix(new_refresh_token("op")) == "op"
    assert new_refresh_token("isp-a") != token
    assert len(hash_refresh_token(token)) == 64 and hash_refresh_token(token) != hash_refresh_token("isp-b" + token[5:])
    for bad in ("no-dot", ".x", "a.", ""):
        assert refresh_token_prefix(bad) is None


def test_jwt_secret_from_settings_or_generated_once(tmp_path: Path) -> None:
    assert jwt_secret_for(Settings(jwt_secret=SECRET, database_url=None)) == SECRET
    with pytest.raises(ConfigurationError, match="at least 32"):
        jwt_secret_for(Settings(jwt_secret="short", database_url=None))
    with pytest.raises(ConfigurationError, match="ISPOPS_JWT_SECRET"):
        jwt_secret_for(Settings(jwt_secret=None, database_url="postgresql://db.example/ispops"))
    embedded = Settings(jwt_secret=None, database_url=None, data_dir=tmp_path / "data")
    first = jwt_secret_for(embedded, embedded.data_dir)
    path = tmp_path / "data" / "jwt-secret"
    assert len(first) == 128 and bytes.fromhex(first)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert jwt_secret_for(embedded) == first
    assert [p.name for p in path.parent.iterdir()] == ["jwt-secret"]  # no temporary file left behind


# TOTP tests read a clock that stands still mid-step, and a fixed secret: which codes are valid must not
# depend on the moment the test runs (a step ending between two lines) nor on a random secret whose
# codes for two steps happen to be equal.
TOTP_SECRET = "MFRGGZDFMZTWQ2LKNNWG23TPOBYXE43U"
NOW = 1_770_000_015.0  # 15 s into a 30-second step


@pytest.fixture
def totp_clock(monkeypatch: pytest.MonkeyPatch) -> pyotp.TOTP:
    monkeypatch.setattr(mfa, "time", SimpleNamespace(time=lambda: NOW))
    totp = pyotp.TOTP(TOTP_SECRET)
    assert len({totp.at(NOW + 30 * offset) for offset in range(-4, 2)}) == 6  # six different codes
    return totp


def test_totp_and_provisioning_uri(totp_clock: pyotp.TOTP) -> None:
    secret, totp = TOTP_SECRET, totp_clock
    assert mfa.verify_totp(secret, totp.at(NOW))
    assert mfa.verify_totp(secret, totp.at(NOW - 30))  # one step of drift
    assert mfa.verify_totp(secret, totp.at(NOW + 30))
    assert not mfa.verify_totp(secret, totp.at(NOW - 120))
    assert not mfa.verify_totp(None, totp.at(NOW))
    assert not mfa.verify_totp(secret, "abcdef")
    uri = mfa.provisioning_uri(secret, "ada@isp-a.net")
    assert uri.startswith("otpauth://totp/ispops:ada%40isp-a.net?") and "issuer=ispops" in uri
    assert f"secret={secret}" in uri


def test_recovery_codes_are_random_hashed_and_single_use() -> None:
    codes = mfa.new_recovery_codes()
    assert len(codes) == 10 and len(set(codes)) == 10
    assert all(len(c) == 14 and c.count("-") == 2 for c in codes)
    hashes = [mfa.hash_recovery_code(c) for c in codes]
    remaining = mfa.consume_recovery_code(hashes, codes[3].upper().replace("-", " "))
    assert remaining is not None and len(remaining) == 9 and hashes[3] not in remaining
    assert mfa.consume_recovery_code(remaining, codes[3]) is None
    assert mfa.consume_recovery_code(hashes, "aaaa-bbbb-cccc") is None
    assert mfa.check_otp(None, hashes, codes[0]) == (True, hashes[1:], None)
    assert mfa.check_otp(None, hashes, "123456") == (False, None, None)


def test_password_checks_run_off_the_event_loop_and_cost_the_same_without_an_account(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    stored = PASSWORD_HASHER.hash("the password")
    threads: list[str] = []

    class CountingHasher:
        def verify(self, hash_: str | bytes, password: str | bytes) -> bool:
            threads.append(threading.current_thread().name)
            return PASSWORD_HASHER.verify(hash_, password)

        def hash(self, password: str) -> str:
            return PASSWORD_HASHER.hash(password)

    monkeypatch.setattr(passwords, "PASSWORD_HASHER", CountingHasher())

    async def checks() -> list[bool]:
        return [
            await passwords.verify_password(stored, "the password"),
            await passwords.verify_password(stored, "wrong"),
            await passwords.verify_password(None, "the password"),
            await passwords.verify_password("not-a-hash", "x"),
        ]

    main = threading.current_thread().name
    assert asyncio.run(checks()) == [True, False, False, False]
    assert len(threads) == 4  # an absent account still costs one argon2 verification
    assert main not in threads


def test_hash_parameters_and_rehash() -> None:
    assert asyncio.run(passwords.hash_password_async("twelve chars!")).startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    weak = "$argon2id$v=19$m=8,t=1,p=1$c29tZXNhbHQ$Q1Fd6rMFpfWaqcwQKUlKmA"
    assert passwords.needs_rehash(weak)
    assert not passwords.needs_rehash(PASSWORD_HASHER.hash("x" * 12))


def test_outcome_raises_only_on_unwrap() -> None:
    assert Outcome.ok(5).unwrap() == 5
    failed: Outcome[int] = Outcome.fail(Unauthenticated("no"))
    assert failed.failed
    with pytest.raises(Unauthenticated):
        failed.unwrap()


def test_a_totp_code_is_accepted_once(totp_clock: pyotp.TOTP) -> None:
    secret, code = TOTP_SECRET, totp_clock.at(NOW)
    step = mfa.totp_step(secret, code)
    assert step is not None
    assert mfa.totp_step(secret, code, after=step) is None  # the same code again: refused
    ok, _, used = mfa.check_otp(secret, [], code, last_step=None)
    assert ok and used == step
    assert mfa.check_otp(secret, [], code, last_step=step) == (False, None, None)
