"""RADIUS over HTTP: the NAS, radcheck/radreply, accounting and CoA resources, and views for staff.

Resources (``RESOURCES``, generic routes): ``nas`` (one canonical address, ``ispops.radius.nas``; write-only
secrets), ``radcheck`` and ``radreply`` (hand-made rows only, ``ispops.radius.attributes``), ``radacct``,
``radius_coa_attempts`` and ``subscriber_usage_daily`` (read-only). Routes (``register``):

- ``GET /api/v1/radius/sessions``: sessions with their live duration and bytes (active ones by default).
- ``POST /api/v1/radius/sessions/{radacctid}/close``: mark an open session closed (a lost Stop) without
  telling the NAS (``ispops.radius.sessions``; the disconnect route, ``ispops.radius.coa_api``, tells it).
- ``GET /api/v1/subscribers/{id}/usage``: daily upload/download and the billing period's total.
- ``POST /api/v1/subscribers/{id}/test-credentials``: would FreeRADIUS accept this password from this
  NAS, and with which reply attributes? It evaluates the same rows and rules FreeRADIUS uses (tenant
  status, check items, Simultaneous-Use, the NAS vendor's reply attributes) without sending a packet;
  ``ispops radius test`` sends a real one.

(No ``from __future__ import annotations``: FastAPI reads these annotations at runtime.)
"""

import datetime as dt
import hmac
import ipaddress
import uuid
from collections.abc import Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, Field
from sqlalchemy import ColumnElement, RowMapping, text

from ispops.api import permissions
from ispops.api.crud import Resource
from ispops.api.reveal import write_only
from ispops.api.schemas import Str
from ispops.auth.deps import Scope
from ispops.db import checks
from ispops.errors import NotFound, ValidationFailed
from ispops.models import Nas, RadAcct, RadCheck, RadiusCoaAttempt, RadReply, SubscriberUsageDaily
from ispops.radius import attributes, coa_api, vendors
from ispops.radius import nas as radius_nas
from ispops.radius.provisioning import nt_password_hash
from ispops.radius.sessions import audit_changes, close_by_staff


def _radacct_filters(model: Any, params: Any) -> Sequence[ColumnElement[bool]]:
    out: list[ColumnElement[bool]] = []
    if params.active is True:
        out.append(model.acctstoptime.is_(None))
    elif params.active is False:
        out.append(model.acctstoptime.is_not(None))
    if params.started_after is not None:
        out.append(model.acctstarttime >= params.started_after)
    if params.started_before is not None:
        out.append(model.acctstarttime < params.started_before)
    return out


# Write-only credentials (ispops.api.reveal): the database's limits (ck_nas__secret, ck_nas__coa_secret).
_SECRET_RULE = checks.RULES["ck_nas__coa_secret"]  # the same lengths as ck_nas__secret's, without its words
NAS_SECRET = Annotated[Str, Field(min_length=_SECRET_RULE.min_length, max_length=_SECRET_RULE.max_length)]
NAS_EXTRA: dict[str, Any] = {
    "coa_secret": (write_only(NAS_SECRET | None, "CoA/Disconnect secret (default: secret); write-only"), None),
    "community": (write_only(Annotated[Str, Field(max_length=255)] | None, "SNMP community; write-only"), None),
}
TIME_RANGE = {"started_after": (dt.datetime | None, None), "started_before": (dt.datetime | None, None)}

RESOURCES: list[Resource] = [
    Resource(
        "nas",
        Nas,
        tag="radius",
        key_type=int,
        filters=("type", "nasname", "shortname"),
        search=("nasname", "shortname", "description"),
        sort=("created_at", "nasname", "shortname"),
        # One canonical host address, the platform's virtual server (ispops.radius.nas, migration 0024).
        create_hook=radius_nas.create_hook,
        update_check=radius_nas.check_update,
        # Credentials are write-only; POST /api/v1/nas/{id}/reveal-secret shows them (ispops.api.reveal).
        hidden=frozenset({"secret", "coa_secret", "community"}),
        reveal=("secret", "coa_secret", "community"),
        create_extra={"secret": (write_only(NAS_SECRET, "RADIUS shared secret; write-only"), ...), **NAS_EXTRA},
        update_extra={"secret": (write_only(NAS_SECRET, "RADIUS shared secret; write-only"), None), **NAS_EXTRA},
    ),
    Resource(
        "radcheck",
        RadCheck,
        tag="radius",
        key_type=int,
        filters=("username", "subscriber_id", "attribute"),
        sort=("created_at", "username", "attribute"),
        search=("username", "attribute"),
        search_with=attributes.radcheck_value_search,
        create_only=frozenset({"attribute", "username", "subscriber_id"}),
        create_hook=attributes.create_radcheck,
        update_check=attributes.check_radcheck_update,
        serialize=attributes.masked,
    ),
    Resource(
        "radreply",
        RadReply,
        tag="radius",
        key_type=int,
        filters=("username", "subscriber_id", "attribute"),
        sort=("created_at", "username", "attribute"),
        search=("username", "attribute", "value"),
        create_only=frozenset({"username", "subscriber_id"}),
        create_hook=attributes.create_radreply,
        update_check=attributes.check_radreply_update,
    ),
    Resource(
        "radacct",
        RadAcct,
        tag="radius",
        key_type=int,
        key_column="radacctid",
        verbs=frozenset({"list", "get"}),
        filters=("username", "subscriber_id", "nasipaddress", "acctsessionid"),
        search=("username", "acctsessionid", "callingstationid", "framedipaddress"),
        sort=("acctstarttime", "acctstoptime", "acctupdatetime"),
        default_sort="-acctstarttime",
        extra_query={"active": (bool | None, None), **TIME_RANGE},
        extra_filters=_radacct_filters,
    ),
    Resource(
        # Every CoA-Request / Disconnect-Request sent to a NAS and its answer (ispops.radius.jobs).
        "radius_coa_attempts",
        RadiusCoaAttempt,
        tag="radius",
        key_type=int,
        verbs=frozenset({"list", "get"}),
        filters=("subscriber_id", "nas_id", "result", "kind", "reason", "username", "acctsessionid"),
        search=("username", "acctsessionid", "detail"),
        sort=("created_at",),
    ),
    Resource(
        # Daily usage rolled up from accounting (ispops.radius.usage); input = upload, output = download.
        "subscriber_usage_daily",
        SubscriberUsageDaily,
        tag="radius",
        key_type=int,
        verbs=frozenset({"list", "get"}),
        filters=("subscriber_id", "day"),
        sort=("day", "updated_at"),
        default_sort="-day",
    ),
]

router = APIRouter()


def register(api: APIRouter) -> None:
    api.include_router(coa_api.router)
    api.include_router(router)


class Session(BaseModel):
    radacctid: int
    subscriber_id: uuid.UUID | None
    username: str
    nas_ip: str
    framed_ip: str | None
    acctsessionid: str
    started_at: dt.datetime
    stopped_at: dt.datetime | None
    last_update_at: dt.datetime | None
    duration_seconds: int = Field(description="so far for an active session")
    upload_octets: int
    download_octets: int
    terminate_cause: str | None
    closed_by: str | None = Field(
        None, description="stale, disconnect or staff when the platform closed the session; null when the NAS did"
    )


class SessionPage(BaseModel):
    items: list[Session]
    total: int
    limit: int
    offset: int


def _session(r: RowMapping, duration_seconds: int) -> Session:
    """A radacct row (with ``nas_ip``/``framed_ip`` as text) as the API shows it."""
    return Session(
        radacctid=r["radacctid"],
        subscriber_id=r["subscriber_id"],
        username=r["username"],
        nas_ip=r["nas_ip"],
        framed_ip=r["framed_ip"],
        acctsessionid=r["acctsessionid"],
        started_at=r["acctstarttime"],
        stopped_at=r["acctstoptime"],
        last_update_at=r["acctupdatetime"],
        duration_seconds=duration_seconds,
        upload_octets=int(r["acctinputoctets"]),
        download_octets=int(r["acctoutputoctets"]),
        terminate_cause=r["acctterminatecause"],
        closed_by=r["closed_by"],
    )


@router.get(
    "/api/v1/radius/sessions",
    response_model=SessionPage,
    tags=["radius"],
    summary="RADIUS sessions with live duration and bytes (active only by default)",
    operation_id="list_radius_sessions",
)
async def list_sessions(
    scope: Scope,
    active: Annotated[bool, Query(description="only sessions still open")] = True,
    nas: Annotated[str | None, Query(max_length=64, description="NAS address")] = None,
    subscriber_id: Annotated[uuid.UUID | None, Query()] = None,
    username: Annotated[str | None, Query(min_length=1, max_length=253)] = None,
    started_after: Annotated[dt.datetime | None, Query()] = None,
    started_before: Annotated[dt.datetime | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> SessionPage:
    permissions.require(scope.principal, "radacct", "read")
    tenant_id = scope.tenant_id
    where = ["tenant_id = :t"]
    params: dict[str, Any] = {"t": tenant_id, "limit": limit, "offset": offset}
    if active:
        where.append("acctstoptime IS NULL")
    if nas is not None:
        try:
            params["nas"] = str(ipaddress.ip_address(nas))
        except ValueError:
            raise ValidationFailed("nas: not an IP address", field="nas") from None
        where.append("nasipaddress = cast(:nas as inet)")
    for name, value, clause in (
        ("subscriber_id", subscriber_id, "subscriber_id = :subscriber_id"),
        ("username", username, "username = :username"),
        ("started_after", started_after, "acctstarttime >= :started_after"),
        ("started_before", started_before, "acctstarttime < :started_before"),
    ):
        if value is not None:
            params[name] = value
            where.append(clause)
    condition = " AND ".join(where)
    async with scope.session() as s:
        total = (await s.execute(text(f"SELECT count(*) FROM radacct WHERE {condition}"), params)).scalar_one()
        rows = (
            (
                await s.execute(
                    text(
                        "SELECT radacctid, subscriber_id, username, host(nasipaddress) AS nas_ip, "
                        "host(framedipaddress) AS framed_ip, acctsessionid, acctstarttime, acctstoptime, "
                        "acctupdatetime, CASE WHEN acctstoptime IS NULL "
                        "THEN greatest(extract(epoch FROM now() - acctstarttime)::bigint, "
                        "coalesce(acctsessiontime, 0)) "
                        "ELSE coalesce(acctsessiontime, 0) END AS duration, acctinputoctets, acctoutputoctets, "
                        f"acctterminatecause, closed_by FROM radacct WHERE {condition} "
                        "ORDER BY acctstarttime DESC, radacctid DESC LIMIT :limit OFFSET :offset"
                    ),
                    params,
                )
            )
            .mappings()
            .all()
        )
    items = [_session(r, int(r["duration"])) for r in rows]
    return SessionPage(items=items, total=int(total), limit=limit, offset=offset)


@router.post(
    "/api/v1/radius/sessions/{radacctid}/close",
    response_model=Session,
    tags=["radius"],
    summary="Close an open session in radacct (a lost Stop); sends nothing to the NAS",
    operation_id="close_radius_session",
    responses={409: {"description": "the session has already ended (field acctstoptime)"}},
)
async def close_session(radacctid: Annotated[int, Path(ge=1, le=2**63 - 1)], scope: Scope) -> Session:
    """Stop time now, terminate cause Admin-Reset, ``closed_by`` staff. The NAS is not told: use the
    disconnect route to end the session on the NAS. A Stop the NAS sends later replaces the stop time."""
    permissions.require(scope.principal, "radacct", "close")
    tenant_id = scope.tenant_id
    async with scope.session() as s:
        r = await s.run_sync(close_by_staff, tenant_id, radacctid, actor_id=None)
        scope.audit(s, "radacct", radacctid, "action", audit_changes(r))
    return _session(r, int(r["acctsessiontime"] or 0))


class UsageDay(BaseModel):
    day: dt.date
    upload_octets: int
    download_octets: int


class Usage(BaseModel):
    subscriber_id: uuid.UUID
    period_start: dt.date = Field(description="first day of the current billing period")
    period_octets: int = Field(description="upload + download since period_start")
    monthly_data_usage_gb: float
    monthly_data_cap_gb: int | None
    daily_data_cap_gb: int | None
    throttled_until: dt.datetime | None
    days: list[UsageDay]


@router.get(
    "/api/v1/subscribers/{key}/usage",
    response_model=Usage,
    tags=["subscribers"],
    summary="Daily usage of a subscriber and the billing period's total",
    operation_id="subscriber_usage",
)
async def subscriber_usage(
    key: Annotated[uuid.UUID, Path()],
    scope: Scope,
    since: Annotated[dt.date | None, Query(alias="from", description="first day (default: 31 days ago)")] = None,
    until: Annotated[dt.date | None, Query(alias="to", description="last day (default: today)")] = None,
) -> Usage:
    permissions.require(scope.principal, "subscribers", "read")
    tenant_id = scope.tenant_id
    until = until or dt.datetime.now(dt.UTC).date()
    since = since or until - dt.timedelta(days=31)
    if since > until:
        raise ValidationFailed("from: must not be after 'to'", field="from")
    if (until - since).days > 800:
        raise ValidationFailed("from: at most 800 days at a time", field="from")
    async with scope.session() as s:
        sub = (
            (
                await s.execute(
                    text(
                        "SELECT s.id, s.monthly_data_usage_gb, s.throttled_until, b.monthly_data_cap_gb, "
                        "b.daily_data_cap_gb, ispops_billing_period_start(s.billing_cycle_day, current_date) AS period "
                        "FROM subscribers s LEFT JOIN bandwidth_profiles b ON b.tenant_id = s.tenant_id "
                        "AND b.id = s.bandwidth_profile_id "
                        "WHERE s.tenant_id = :t AND s.id = :id AND s.deleted_at IS NULL"
                    ),
                    {"t": tenant_id, "id": key},
                )
            )
            .mappings()
            .first()
        )
        if sub is None:
            raise NotFound("subscribers: no such record", table="subscribers")
        days = (
            await s.execute(
                text(
                    "SELECT day, input_octets, output_octets FROM subscriber_usage_daily "
                    "WHERE tenant_id = :t AND subscriber_id = :id AND day >= :since AND day <= :until ORDER BY day"
                ),
                {"t": tenant_id, "id": key, "since": since, "until": until},
            )
        ).all()
        period_octets = (
            await s.execute(
                text(
                    "SELECT coalesce(sum(input_octets + output_octets), 0) FROM subscriber_usage_daily "
                    "WHERE tenant_id = :t AND subscriber_id = :id AND day >= :p"
                ),
                {"t": tenant_id, "id": key, "p": sub["period"]},
            )
        ).scalar_one()
    return Usage(
        subscriber_id=key,
        period_start=sub["period"],
        period_octets=int(period_octets),
        monthly_data_usage_gb=float(sub["monthly_data_usage_gb"]),
        monthly_data_cap_gb=sub["monthly_data_cap_gb"],
        daily_data_cap_gb=sub["daily_data_cap_gb"],
        throttled_until=sub["throttled_until"],
        days=[UsageDay(day=d, upload_octets=int(i), download_octets=int(o)) for d, i, o in days],
    )


class CredentialTest(BaseModel):
    password: str = Field(min_length=1, max_length=128)
    nas_id: int = Field(ge=1, le=2**63 - 1, description="the NAS the subscriber would dial in through")


class ReplyAttribute(BaseModel):
    attribute: str
    op: str
    value: str


class CredentialResult(BaseModel):
    result: str = Field(description="accept or reject")
    reason: str
    nas_type: str
    reply: list[ReplyAttribute] = Field(description="what an Access-Accept would carry to this NAS")


@router.post(
    "/api/v1/subscribers/{key}/test-credentials",
    response_model=CredentialResult,
    tags=["subscribers"],
    summary="Would RADIUS accept this password from this NAS?",
    operation_id="test_subscriber_credentials",
)
async def test_credentials(
    key: Annotated[uuid.UUID, Path()],
    body: CredentialTest,
    scope: Scope,
) -> CredentialResult:
    permissions.require(scope.principal, "subscribers", "test_credentials")
    tenant_id = scope.tenant_id
    async with scope.session() as s:
        params = {"t": tenant_id, "id": key}
        username = (
            await s.execute(
                text("SELECT pppoe_username FROM subscribers WHERE tenant_id = :t AND id = :id AND deleted_at IS NULL"),
                params,
            )
        ).first()
        if username is None:
            raise NotFound("subscribers: no such record", table="subscribers")
        nas_type = (
            await s.execute(
                text("SELECT type FROM nas WHERE tenant_id = :t AND id = :n AND deleted_at IS NULL"),
                {"t": tenant_id, "n": body.nas_id},
            )
        ).scalar_one_or_none()
        if nas_type is None:
            raise ValidationFailed("nas_id: no such NAS", table="subscribers", field="nas_id")
        result = await _evaluate(s, tenant_id, username[0], body.password, nas_type)
        tested = {"action": "test_credentials", "nas_id": body.nas_id, "result": result.result}
        scope.audit(s, "subscribers", key, "action", tested)
    return result


async def _evaluate(s: Any, tenant_id: str, username: str | None, password: str, nas_type: str) -> CredentialResult:
    def reject(reason: str) -> CredentialResult:
        return CredentialResult(result="reject", reason=reason, nas_type=nas_type, reply=[])

    if not username:
        return reject("the subscriber has no RADIUS user name (pppoe_username)")
    status = (await s.execute(text("SELECT status FROM tenants WHERE id = :t"), {"t": tenant_id})).scalar_one()
    if status not in ("active", "trial"):
        return reject(f"the tenant is {status}: its NASes get Access-Reject")
    params = {"t": tenant_id, "u": username}
    result = await s.execute(
        text("SELECT attribute, value FROM radcheck WHERE tenant_id = :t AND username = :u ORDER BY id"), params
    )
    checks: dict[str, str] = {row[0]: row[1] for row in result}
    if checks.get("Auth-Type") == "Reject":
        return reject("the subscriber's service is not active (Auth-Type := Reject)")
    if "Cleartext-Password" in checks:
        ok = hmac.compare_digest(checks["Cleartext-Password"].encode(), password.encode())
    elif "NT-Password" in checks:
        stored = checks["NT-Password"].lower().removeprefix("0x")
        ok = hmac.compare_digest(stored, nt_password_hash(password).lower().removeprefix("0x"))
    else:
        return reject("no password is provisioned for this user")
    if not ok:
        return reject("wrong password")
    limit = checks.get("Simultaneous-Use")
    if limit is not None:
        # FreeRADIUS's own count: open sessions that are not stale (migration 0025).
        open_sessions = (await s.execute(text("SELECT ispops_radius_simul_count(:t, :u)"), params)).scalar_one()
        if open_sessions >= int(limit):
            return reject(f"already online: {open_sessions} open session(s), Simultaneous-Use is {limit}")
    rows = (
        await s.execute(
            text("SELECT attribute, op, value FROM radreply WHERE tenant_id = :t AND username = :u ORDER BY id"), params
        )
    ).all()
    reply = [
        ReplyAttribute(attribute=a, op=op, value=v)
        for a, (op, v) in vendors.for_nas([(a, (op, v)) for a, op, v in rows], nas_type)
    ]
    return CredentialResult(result="accept", reason="password and policy accepted", nas_type=nas_type, reply=reply)
