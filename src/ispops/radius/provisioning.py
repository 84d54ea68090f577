"""RADIUS provisioning from Python: subscriber credentials, and what the database renders.

The plan, status and policy rows of radcheck/radreply are rendered by the database itself (migration
0013, ``ispops_radius_render``), in the transaction that changes a subscriber, a plan or a tenant's
RADIUS policy. This module writes the one thing the database cannot compute: the credential row, from a
password that must never be stored in clear outside radcheck.

- ``Cleartext-Password`` when the tenant's ``radius_password_type`` is ``cleartext`` (needed for CHAP),
  ``NT-Password`` (``0x`` + MD4 of the UTF-16LE password in 32 uppercase hex digits) when it is
  ``nt_password`` (PAP and MS-CHAP only). Changing the tenant's type applies at each
  subscriber's next password set: a hash cannot be turned back into a password.
- ``subscribers.pppoe_password`` is a write-only attribute: setting it on a ``Subscriber`` (the API's
  create and PATCH do) moves the value into radcheck during the flush and leaves the column NULL, as its
  CHECK constraint demands. ``set_password`` does the same for an existing subscriber.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Annotated, Any

from pydantic import AfterValidator, Field
from sqlalchemy import Connection, event, text
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.orm import Mapper, Session

from ispops.errors import Conflict, NotFound, ValidationFailed
from ispops.models import Subscriber
from ispops.radius import vendors

# Rows the database renders (keep equal to ispops_radius_managed in radius/sql/render.sql; a test compares).
# They are replaced whenever the subscriber, its plan or its tenant's policy changes; every other row of a
# subscriber (manual rows made through /api/v1/radcheck and /radreply, and the credential) survives.
# The vendor attributes among them are the ``rendered`` ones of ``vendors.VENDORS``; a vendor attribute
# rendered only for some values (Cisco-AVPair: the QoS policy pairs) is decided by ``vendors.rendered``.
MANAGED_CHECK = frozenset({"Auth-Type", "Simultaneous-Use"})
NEUTRAL_REPLY = frozenset({"Framed-IP-Address", "Framed-IPv6-Address", "Session-Timeout", "Acct-Interim-Interval"})
MANAGED_REPLY = NEUTRAL_REPLY | {
    a.name for vendor in vendors.VENDORS for a in vendor.attributes if a.rendered and not a.managed_values
}
# The credential rows this module writes (one per subscriber).
CREDENTIAL_ATTRIBUTES = {"cleartext": "Cleartext-Password", "nt_password": "NT-Password"}
PASSWORD_MAX = 128  # RFC 2865: User-Password carries at most 128 octets


def is_managed(table: str, attribute: str, value: str = "") -> bool:
    """True when a radcheck/radreply row with this attribute (and value) is the renderer's."""
    if table == "radcheck":
        return attribute in MANAGED_CHECK
    vendor_rule = vendors.rendered(attribute, value)
    return attribute in NEUTRAL_REPLY if vendor_rule is None else vendor_rule


# --- MD4 (RFC 1320), because OpenSSL 3 no longer offers it to hashlib ---------------------------------


def _rotl(x: int, n: int) -> int:
    x &= 0xFFFFFFFF
    return ((x << n) | (x >> (32 - n))) & 0xFFFFFFFF


# The three auxiliary functions of RFC 1320 section 3.4.
def _f(x: int, y: int, z: int) -> int:
    return (x & y) | (~x & z)


def _g(x: int, y: int, z: int) -> int:
    return (x & y) | (x & z) | (y & z)


def _h(x: int, y: int, z: int) -> int:
    return x ^ y ^ z


# Per round: function, added constant, order of the message words, the four shift amounts.
_ROUNDS: list[tuple[Callable[[int, int, int], int], int, list[int], tuple[int, ...]]] = [
    (_f, 0x00000000, list(range(16)), (3, 7, 11, 19)),
    (_g, 0x5A827999, [4 * (i % 4) + i // 4 for i in range(16)], (3, 5, 9, 13)),
    (_h, 0x6ED9EBA1, [0, 8, 4, 12, 2, 10, 6, 14, 1, 9, 5, 13, 3, 11, 7, 15], (3, 9, 11, 15)),
]


def md4(data: bytes) -> bytes:
    """The MD4 digest of ``data`` (16 bytes)."""
    length_bits = (8 * len(data)) & 0xFFFFFFFFFFFFFFFF
    padded = data + b"\x80" + b"\x00" * ((55 - len(data)) % 64) + struct.pack("<Q", length_bits)
    state = [0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476]
    for offset in range(0, len(padded), 64):
        words = struct.unpack("<16I", padded[offset : offset + 64])
        regs = list(state)
        for func, constant, order, shifts in _ROUNDS:
            for step, k in enumerate(order):
                # Step i updates register (-i mod 4) from the next three: a, d, c, b, a, d, ...
                a = (-step) % 4
                b, c, d = regs[(a + 1) % 4], regs[(a + 2) % 4], regs[(a + 3) % 4]
                regs[a] = _rotl(regs[a] + func(b, c, d) + words[k] + constant, shifts[step % 4])
        state = [(s + r) & 0xFFFFFFFF for s, r in zip(state, regs, strict=True)]
    return struct.pack("<4I", *state)


def nt_password_hash(password: str) -> str:
    """The NT hash as radcheck stores it for NT-Password: MD4 of the UTF-16LE password as ``0x`` and 32
    uppercase hex digits. FreeRADIUS parses ``0x…`` into the 16 octets of this octets-typed attribute when
    it reads the row, so PAP and MS-CHAP need no further decoding (checked with freeradius 3.2.1: PAP and
    MS-CHAPv2 accept, CHAP rejects, as documented for NT-Password)."""
    return "0x" + md4(password.encode("utf-16-le")).hex().upper()


# --- Passwords ------------------------------------------------------------------------------------------


def password_problem(password: str) -> str | None:
    """Why ``password`` cannot be a PPPoE password, or None. Printable ASCII only: what a NAS sends for a
    non-ASCII password depends on its encoding, and the NT hash would silently disagree with it."""
    if not 1 <= len(password) <= PASSWORD_MAX:
        return f"must be 1 to {PASSWORD_MAX} characters"
    if any(not " " <= ch <= "~" for ch in password):
        return "must be printable ASCII characters (space to ~)"
    return None


def check_password(password: str) -> str:
    """A pydantic-style validator: returns the password or raises ValueError with the reason."""
    problem = password_problem(password)
    if problem is not None:
        raise ValueError(problem)
    return password


# The API type of a PPPoE password: write-only, never part of a response.
Password = Annotated[
    str,
    AfterValidator(check_password),
    Field(
        min_length=1,
        max_length=PASSWORD_MAX,
        json_schema_extra={"writeOnly": True, "format": "password"},
        description="PPPoE/RADIUS password, 1-128 printable ASCII characters; write-only",
    ),
]


def credential(password_type: str, password: str) -> tuple[str, str]:
    """The radcheck (attribute, value) that stores ``password`` under the tenant's ``password_type``."""
    attribute = CREDENTIAL_ATTRIBUTES.get(password_type, CREDENTIAL_ATTRIBUTES["cleartext"])
    if attribute == "NT-Password":
        return attribute, nt_password_hash(password)
    return attribute, password


_SUBSCRIBER = text(
    "select s.pppoe_username, s.status, s.deleted_at is not null, t.radius_password_type "
    "from subscribers s join tenants t on t.id = s.tenant_id "
    "where s.tenant_id = :t and s.id = cast(:id as uuid)"
)
_DROP_CREDENTIALS = text(
    "delete from radcheck where tenant_id = :t and (subscriber_id = cast(:id as uuid) or username = :u) "
    "and attribute in ('Cleartext-Password', 'NT-Password')"
)
_INSERT_CREDENTIAL = text(
    "insert into radcheck (tenant_id, subscriber_id, username, attribute, op, value) "
    "values (:t, cast(:id as uuid), :u, :a, ':=', :v)"
)


def write_password(
    conn: Connection, *, tenant_id: str, subscriber_id: Any, password: str, field: str = "password"
) -> str:
    """Store ``password`` as the subscriber's credential row; return the attribute used.

    Replaces any earlier credential of the subscriber (or of its username), so a change of the tenant's
    password type takes effect here. ``field`` names the input in validation errors.
    """
    problem = password_problem(password)
    if problem is not None:
        raise ValidationFailed(f"subscribers.{field}: {problem}", table="subscribers", field=field)
    row = conn.execute(_SUBSCRIBER, {"t": tenant_id, "id": str(subscriber_id)}).first()
    if row is None or row[2]:
        raise NotFound("subscribers: no such record", table="subscribers")
    username, status, _, password_type = row
    if status == "terminated":
        raise Conflict("subscribers: a terminated subscriber has no credentials", table="subscribers", field="status")
    if not username:
        raise ValidationFailed(
            "subscribers.pppoe_username: a password needs a PPPoE username",
            table="subscribers",
            field="pppoe_username",
        )
    attribute, value = credential(password_type, password)
    params = {"t": tenant_id, "id": str(subscriber_id), "u": username}
    conn.execute(_DROP_CREDENTIALS, params)
    conn.execute(_INSERT_CREDENTIAL, {**params, "a": attribute, "v": value})
    return attribute


def set_password(session: Session, *, tenant_id: str, subscriber_id: Any, password: str) -> str:
    """``write_password`` in the caller's unit of work (flushes pending changes first); the API calls it
    through ``AsyncSession.run_sync``."""
    session.flush()
    return write_password(session.connection(), tenant_id=tenant_id, subscriber_id=subscriber_id, password=password)


# --- pppoe_password as a write-only attribute -------------------------------------------------------------
# Setting Subscriber.pppoe_password (API create/PATCH, imports) never reaches the column: before the row is
# written the value is taken out of it, and once the row exists it becomes the credential row — in the
# same flush, so in the same transaction.

_PENDING = "ispops.pending_pppoe_password"


def _take_password(mapper: Mapper[Any], connection: Connection, target: Subscriber) -> None:
    if target.pppoe_password is not None:
        sa_inspect(target).info[_PENDING] = target.pppoe_password
        target.pppoe_password = None


def _store_password(mapper: Mapper[Any], connection: Connection, target: Subscriber) -> None:
    password = sa_inspect(target).info.pop(_PENDING, None)
    if password is not None:
        write_password(
            connection, tenant_id=target.tenant_id, subscriber_id=target.id, password=password, field="pppoe_password"
        )


event.listen(Subscriber, "before_insert", _take_password)
event.listen(Subscriber, "before_update", _take_password)
event.listen(Subscriber, "after_insert", _store_password)
event.listen(Subscriber, "after_update", _store_password)


# --- Throttles --------------------------------------------------------------------------------------------

_RELEASE = text(
    "update subscribers set throttled_until = null "
    "where tenant_id = :t and throttled_until is not null and throttled_until <= now()"
)


def release_expired_throttles(session: Session, *, tenant_id: str) -> int:
    """Clear throttles whose time has passed (the trigger then renders the plan's rates again).

    Rendering reads the clock when it runs; nothing fires when ``throttled_until`` merely passes (the usage
    job clears expired throttles itself). Returns how many subscribers were released.
    """
    return session.connection().execute(_RELEASE, {"t": tenant_id}).rowcount
