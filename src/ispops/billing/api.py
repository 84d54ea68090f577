"""The billing hand-off over HTTP (docs/billing.md): plan history, closed cycles and pushes as read-only
resources; a cycle's usage and plan periods as JSON or CSV; a subscriber's cycle; queueing a push; the
tenant's billing settings and its billing endpoint (URL and token in the secret store, write-only)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from ispops.api import permissions
from ispops.api.crud import Resource
from ispops.auth.deps import Scope
from ispops.billing import adapter, cycles, export, service, urls
from ispops.billing.jobs import PUSH_JOB
from ispops.errors import Conflict, NotFound
from ispops.jobs import defer_in
from ispops.models import BillingCycle, BillingPush, SubscriberPlanHistory
from ispops.secrets import runtime as secret_runtime

RESOURCES: list[Resource] = [
    Resource(
        "subscriber_plan_history",
        SubscriberPlanHistory,
        tag="billing",
        filters=("subscriber_id", "bandwidth_profile_id", "status"),
        sort=("created_at", "valid_from"),
        default_sort="-valid_from",
        verbs=frozenset({"list", "get"}),
    ),
    Resource(
        "billing_cycles",
        BillingCycle,
        tag="billing",
        filters=("cycle", "billing_day"),
        sort=("created_at", "cycle", "closed_at"),
        default_sort="-closed_at",
        verbs=frozenset({"list", "get"}),
    ),
    Resource(
        "billing_pushes",
        BillingPush,
        tag="billing",
        filters=("kind", "cycle", "subscriber_id", "idempotency_key"),
        sort=("pushed_at",),
        default_sort="-pushed_at",
        verbs=frozenset({"list", "get"}),
    ),
]

router = APIRouter(tags=["billing"])
CycleP = Annotated[str, Path(description="the billing cycle, as the month it starts in: YYYY-MM", examples=["2026-11"])]
DayQ = Annotated[int | None, Query(ge=1, le=28, description="only subscribers billed on this day of the month")]
FormatQ = Annotated[Literal["json", "csv"], Query(description="json (default) or csv")]
PERMISSION = "billing_cycles"


def register(api: APIRouter) -> None:
    api.include_router(router)


def _csv_response(body: str, name: str) -> Response:
    return Response(
        body, media_type="text/csv; charset=utf-8", headers={"content-disposition": f'attachment; filename="{name}"'}
    )


async def _lines(
    scope: Scope, cycle: str, billing_day: int | None
) -> tuple[dt.date, list[service.UsageLine], service.CycleStatus]:
    permissions.require(scope.principal, PERMISSION, "read")
    month = cycles.parse_cycle(cycle)
    async with scope.session() as s:

        def run(ss: Session) -> tuple[list[service.UsageLine], service.CycleStatus]:
            return service.usage(ss, scope.tenant_id, month, billing_day=billing_day), service.status(
                ss, scope.tenant_id, month
            )

        lines, state = await s.run_sync(run)
    return month, lines, state


async def _usage(scope: Scope, cycle: str, billing_day: int | None, fmt: str) -> Response:
    month, lines, state = await _lines(scope, cycle, billing_day)
    if fmt == "csv":
        return _csv_response(export.usage_csv(lines, state), f"usage-{cycles.label(month)}.csv")
    return JSONResponse(export.document(scope.tenant_id, month, lines, state))


async def _plan_history(scope: Scope, cycle: str, billing_day: int | None, fmt: str) -> Response:
    month, lines, state = await _lines(scope, cycle, billing_day)
    if fmt == "csv":
        return _csv_response(export.plan_history_csv(lines), f"plan-history-{cycles.label(month)}.csv")
    return JSONResponse(export.plan_history_document(scope.tenant_id, month, lines, state))


EXPORT: dict[int | str, dict[str, Any]] = {
    200: {"content": {"application/json": {}, "text/csv": {}}, "description": "the export"},
    422: {"description": "not a cycle (YYYY-MM) or billing day"},
}


@router.get(
    "/api/v1/billing/cycles/{cycle}/usage",
    responses=EXPORT,
    operation_id="billing_cycle_usage",
    summary="Usage per subscriber in a cycle, with plan periods and proration (format=json|csv)",
)
async def usage_route(scope: Scope, cycle: CycleP, billing_day: DayQ = None, format: FormatQ = "json") -> Response:
    return await _usage(scope, cycle, billing_day, format)


@router.get("/api/v1/billing/cycles/{cycle}/usage.json", responses=EXPORT, operation_id="billing_cycle_usage_json")
async def usage_json(scope: Scope, cycle: CycleP, billing_day: DayQ = None) -> Response:
    """The usage export as JSON."""
    return await _usage(scope, cycle, billing_day, "json")


@router.get("/api/v1/billing/cycles/{cycle}/usage.csv", responses=EXPORT, operation_id="billing_cycle_usage_csv")
async def usage_csv(scope: Scope, cycle: CycleP, billing_day: DayQ = None) -> Response:
    """The usage export as CSV: one row per subscriber."""
    return await _usage(scope, cycle, billing_day, "csv")


@router.get(
    "/api/v1/billing/cycles/{cycle}/plan-history",
    responses=EXPORT,
    operation_id="billing_cycle_plan_history",
    summary="Plan periods per subscriber clipped to a cycle, with proration fractions (format=json|csv)",
)
async def plan_history_route(
    scope: Scope,
    cycle: CycleP,
    billing_day: DayQ = None,
    format: FormatQ = "json",
) -> Response:
    return await _plan_history(scope, cycle, billing_day, format)


@router.get(
    "/api/v1/billing/cycles/{cycle}/plan-history.json", responses=EXPORT, operation_id="billing_cycle_plan_history_json"
)
async def plan_history_json(scope: Scope, cycle: CycleP, billing_day: DayQ = None) -> Response:
    """The plan periods as JSON."""
    return await _plan_history(scope, cycle, billing_day, "json")


@router.get(
    "/api/v1/billing/cycles/{cycle}/plan-history.csv", responses=EXPORT, operation_id="billing_cycle_plan_history_csv"
)
async def plan_history_csv(scope: Scope, cycle: CycleP, billing_day: DayQ = None) -> Response:
    """The plan periods as CSV: one row per period."""
    return await _plan_history(scope, cycle, billing_day, "csv")


class CycleRead(BaseModel):
    cycle: str
    billing_day: int
    start_date: dt.date
    end_date: dt.date = Field(description="exclusive: the first day of the next cycle")
    starts_at: dt.datetime
    ends_at: dt.datetime
    seconds: int


NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "no such subscriber (or another tenant's)"}}


@router.get(
    "/api/v1/billing/subscribers/{subscriber_id}/cycle",
    response_model=CycleRead,
    responses=NOT_FOUND,
    operation_id="billing_subscriber_cycle",
    summary="A subscriber's billing cycle on a date (default: today, in the tenant's time zone)",
)
async def subscriber_cycle(scope: Scope, subscriber_id: uuid.UUID, on: dt.date | None = None) -> CycleRead:
    permissions.require(scope.principal, PERMISSION, "read")
    async with scope.session() as s:
        c = await s.run_sync(lambda ss: cycles.subscriber_cycle(ss, scope.tenant_id, subscriber_id, on=on))
    return CycleRead(
        cycle=c.label,
        billing_day=c.billing_day,
        start_date=c.start_date,
        end_date=c.end_date,
        starts_at=c.starts_at,
        ends_at=c.ends_at,
        seconds=c.seconds,
    )


@router.get(
    "/api/v1/billing/subscribers/{subscriber_id}/cycles/{cycle}",
    responses=NOT_FOUND,
    operation_id="billing_subscriber_usage",
    summary="One subscriber's usage and plan periods in a cycle (the usage export's object)",
)
async def subscriber_usage(scope: Scope, subscriber_id: uuid.UUID, cycle: CycleP) -> dict[str, Any]:
    permissions.require(scope.principal, PERMISSION, "read")
    month = cycles.parse_cycle(cycle)
    async with scope.session() as s:

        def run(ss: Session) -> dict[str, Any]:
            cycles.subscriber_cycle(ss, scope.tenant_id, subscriber_id)  # 404: not this tenant's
            lines = service.usage(ss, scope.tenant_id, month, subscriber_id=subscriber_id)
            state = service.status(ss, scope.tenant_id, month)
            if not lines:
                raise NotFound(f"subscribers: {subscriber_id} had no service or usage in {cycle}", table="subscribers")
            return export.line_dict(lines[0], state)

        return await s.run_sync(run)


class Queued(BaseModel):
    job_id: int | None = Field(description="the queued billing.push_cycle job")


@router.post(
    "/api/v1/billing/cycles/{cycle}/push",
    status_code=202,
    response_model=Queued,
    operation_id="billing_cycle_push",
    summary="Queue pushing a closed cycle to the billing endpoint (records already delivered are skipped)",
)
async def push_route(scope: Scope, cycle: CycleP, billing_day: DayQ = None) -> Queued:
    permissions.require(scope.principal, PERMISSION, "push")
    month = cycles.parse_cycle(cycle)
    async with scope.session() as s:

        def run(ss: Session) -> int | None:
            state = service.status(ss, scope.tenant_id, month)
            if not (state.is_closed(billing_day) if billing_day is not None else state.closed):
                raise Conflict(f"cycle: {cycle} is not closed yet; only closed cycles are pushed", field="cycle")
            if not service.get_settings(ss, scope.tenant_id)["endpoint_vault_path"]:
                raise Conflict("endpoint: no billing endpoint is configured", field="endpoint")
            return defer_in(ss, PUSH_JOB, cycle=cycles.label(month), billing_day=billing_day)

        job_id = await s.run_sync(run)
        scope.audit(s, "billing_cycles", cycles.label(month), "action", {"action": "push", "billing_day": billing_day})
    return Queued(job_id=job_id)


class SettingsBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    close_after_hours: int = Field(6, ge=0, le=720, description="hours after a cycle's end before it closes")
    push_on_close: bool = Field(False, description="push a cycle to the billing endpoint when it closes")


class SettingsRead(SettingsBody):
    endpoint_configured: bool


@router.get("/api/v1/billing/settings", response_model=SettingsRead, operation_id="billing_settings")
async def get_settings(scope: Scope) -> SettingsRead:
    """The tenant's billing hand-off settings."""
    permissions.require(scope.principal, PERMISSION, "read")
    async with scope.session() as s:
        found = await s.run_sync(lambda ss: service.get_settings(ss, scope.tenant_id))
    return SettingsRead(
        **{k: found[k] for k in service.DEFAULTS}, endpoint_configured=bool(found["endpoint_vault_path"])
    )


@router.put("/api/v1/billing/settings", response_model=SettingsRead, operation_id="billing_settings_put")
async def put_settings(body: SettingsBody, scope: Scope) -> SettingsRead:
    """Change the tenant's billing hand-off settings."""
    permissions.require(scope.principal, PERMISSION, "configure")
    async with scope.session() as s:
        found = await s.run_sync(lambda ss: service.put_settings(ss, scope.tenant_id, **body.model_dump()))
        scope.audit(s, "billing_settings", scope.tenant_id, "update", body.model_dump())
    return SettingsRead(
        **{k: found[k] for k in service.DEFAULTS}, endpoint_configured=bool(found["endpoint_vault_path"])
    )


class EndpointState(BaseModel):
    configured: bool
    url: str | None = None


@router.get("/api/v1/billing/endpoint", response_model=EndpointState, operation_id="billing_endpoint")
async def get_endpoint(scope: Scope) -> EndpointState:
    """Whether the billing endpoint is set, and its URL (never the token)."""
    permissions.require(scope.principal, PERMISSION, "configure")
    found = await run_in_threadpool(adapter.load_endpoint, secret_runtime.current(), scope.tenant_id)
    return EndpointState(configured=found is not None, url=found.url if found else None)


@router.put(
    "/api/v1/billing/endpoint",
    status_code=204,
    response_class=Response,
    operation_id="billing_endpoint_put",
    summary="Set the billing endpoint: https URL and bearer token, kept in the secret store (write-only)",
)
async def put_endpoint(body: adapter.Endpoint, scope: Scope) -> Response:
    permissions.require(scope.principal, PERMISSION, "configure")
    await run_in_threadpool(urls.check_url, body.url)  # resolves the name: 422 naming url if it points inside
    async with scope.session() as s:
        scope.audit(s, "billing_settings", scope.tenant_id, "update", {"endpoint": {"url": body.url}})
        path = adapter.endpoint_path(scope.tenant_id)
        await s.run_sync(lambda ss: service.put_settings(ss, scope.tenant_id, endpoint_vault_path=path))
        await run_in_threadpool(adapter.save_endpoint, secret_runtime.current(), scope.tenant_id, body)
    return Response(status_code=204)


@router.delete(
    "/api/v1/billing/endpoint", status_code=204, response_class=Response, operation_id="billing_endpoint_delete"
)
async def delete_endpoint(scope: Scope) -> Response:
    """Forget the billing endpoint (pushes then fail with 409 until a new one is set)."""
    permissions.require(scope.principal, PERMISSION, "configure")
    async with scope.session() as s:
        scope.audit(s, "billing_settings", scope.tenant_id, "update", {"endpoint": None})
        await s.run_sync(lambda ss: service.put_settings(ss, scope.tenant_id, endpoint_vault_path=None))
        await s.flush()
        await run_in_threadpool(adapter.forget_endpoint, secret_runtime.current(), scope.tenant_id)
    return Response(status_code=204)
