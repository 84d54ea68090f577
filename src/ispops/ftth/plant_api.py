"""FTTH plant over HTTP: splitters, cables, strands, links, splices, connectors and closures (generic
resources), the trace, the loss budget and the tenant's loss model."""

from __future__ import annotations

import uuid
from typing import Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from ispops.api import permissions
from ispops.api.crud import Resource
from ispops.audit.service import record
from ispops.auth.deps import Scope
from ispops.ftth import budget, plant, trace
from ispops.ftth.budget import OnuBudget
from ispops.ftth.loss_settings import LossSettings, load_loss_settings, save_loss_settings
from ispops.models import (
    FiberCable,
    FiberClosure,
    FiberConnector,
    FiberLink,
    FiberSplice,
    FiberStrand,
    Splitter,
)
from ispops.models.base import Base

LOSS_SETTINGS = "ftth_loss_settings"  # the permission row of GET/PUT /api/v1/ftth/settings/loss


async def _create_cable(session: AsyncSession, tenant_id: str, body: BaseModel) -> Base:
    cable: FiberCable = await session.run_sync(plant.create_cable, tenant_id, body.model_dump(exclude_unset=True))
    return cable


async def _link_written(session: AsyncSession, tenant_id: str, obj: Any, changed: frozenset[str] | None) -> None:
    await session.run_sync(lambda s: plant.check_link(s, tenant_id, obj))


RESOURCES: list[Resource] = [
    Resource(
        "splitters",
        Splitter,
        tag="ftth",
        filters=("olt_id", "pon_port_id", "parent_splitter_id", "status", "split_ratio"),
        search=("name", "location_name"),
        sort=("created_at", "name"),
        read_only=frozenset({"ports_used"}),
    ),
    Resource(
        "fiber_cables",
        FiberCable,
        tag="ftth",
        filters=(
            "status",
            "cable_type",
            "start_device_id",
            "end_device_id",
            "start_splitter_id",
            "end_splitter_id",
            "start_closure_id",
            "end_closure_id",
        ),
        search=("cable_name",),
        sort=("created_at", "cable_name"),
        # the strands are made with the cable: their number is fixed
        create_only=frozenset({"fiber_count"}),
        read_only=frozenset({"length_measured"}),
        create_hook=_create_cable,
        update_check=plant.check_cable_change,
    ),
    Resource(
        "fiber_closures",
        FiberClosure,
        tag="ftth",
        filters=("closure_type", "status"),
        search=("name", "location_name"),
        sort=("created_at", "name"),
    ),
    Resource(
        # Made with their cable (fiber_count of them), or added to it by hand; never deleted on their own.
        # Numbers are not checked against fiber_count yet (a cable's strands may be added before its count).
        "fiber_strands",
        FiberStrand,
        tag="ftth",
        filters=("cable_id", "status", "strand_number"),
        sort=("created_at", "strand_number"),
        default_sort="strand_number",
        create_only=frozenset({"cable_id", "strand_number"}),
        verbs=frozenset({"list", "get", "create", "update"}),
    ),
    Resource(
        "fiber_links",
        FiberLink,
        tag="ftth",
        filters=("strand_id", "splitter_id", "onu_id"),
        sort=("created_at", "seq"),
        before_write=_link_written,
    ),
    Resource(
        "fiber_splices",
        FiberSplice,
        tag="ftth",
        filters=("closure_id", "strand_a_id", "strand_b_id", "splice_type"),
        sort=("created_at",),
    ),
    Resource(
        "fiber_connectors",
        FiberConnector,
        tag="ftth",
        filters=("strand_id", "splitter_id", "closure_id", "device_id", "connector_type"),
        sort=("created_at",),
    ),
]


class Suspect(BaseModel):
    """Where the loss of flagged ONUs is: upstream of a splitter (its input hop), or an ONU's drop."""

    kind: Literal["upstream_of_splitter", "drop"]
    splitter_id: str | None = None
    splitter_name: str | None = None
    onu_id: str | None = None
    onu_ids: list[str]
    deviation_db: float | None


class LossReport(BaseModel):
    pon_port_id: str
    deviation_threshold_db: float
    onus: list[OnuBudget]
    flagged: int
    suspects: list[Suspect]


class OnuLossBudget(BaseModel):
    onu_id: str
    traced: bool
    budget: OnuBudget | None


async def onu_trace(key: uuid.UUID, scope: Scope) -> Any:
    permissions.require(scope.principal, "onus", "read")
    async with scope.session() as s:
        return await s.run_sync(trace.trace_onu, scope.tenant_id, key)


async def pon_trace(key: uuid.UUID, scope: Scope) -> Any:
    permissions.require(scope.principal, "splitters", "read")
    async with scope.session() as s:
        return await s.run_sync(trace.trace_pon, scope.tenant_id, key)


async def onu_loss_budget(key: uuid.UUID, scope: Scope) -> Any:
    permissions.require(scope.principal, "onus", "read")
    async with scope.session() as s:
        return await s.run_sync(budget.onu_budget, scope.tenant_id, key)


async def pon_loss_report(key: uuid.UUID, scope: Scope) -> Any:
    permissions.require(scope.principal, "splitters", "read")
    async with scope.session() as s:
        return await s.run_sync(budget.pon_report, scope.tenant_id, key)


async def get_loss_settings(scope: Scope) -> Any:
    permissions.require(scope.principal, LOSS_SETTINGS, "read")
    async with scope.session() as s:
        return await s.run_sync(load_loss_settings, scope.tenant_id)


async def put_loss_settings(body: LossSettings, scope: Scope) -> Any:
    """The whole loss model; what the body leaves out takes its default."""
    permissions.require(scope.principal, LOSS_SETTINGS, "update")
    async with scope.session() as s:
        saved = await s.run_sync(save_loss_settings, scope.tenant_id, body)
        await record(
            s,
            principal=scope.principal,
            meta=scope.meta,
            entity="ftth_settings",
            entity_id=scope.tenant_id,
            action="update",
            changes={"loss": saved.model_dump(mode="json")},
        )
        return saved


def register(router: APIRouter) -> None:
    """Trace, loss budget and the loss model."""
    not_found: dict[int | str, dict[str, Any]] = {404: {"description": "not found (or another tenant's)"}}
    routes: list[tuple[str, Any, str, Any, str]] = [
        ("/api/v1/onus/{key}/trace", onu_trace, "GET", dict[str, Any], "The ONU's path up to its OLT PON port"),
        (
            "/api/v1/onus/{key}/loss-budget",
            onu_loss_budget,
            "GET",
            OnuLossBudget,
            "The ONU's expected and measured light, and where a deviation points",
        ),
        (
            "/api/v1/olt_pon_ports/{key}/trace",
            pon_trace,
            "GET",
            dict[str, Any],
            "Everything the PON port feeds: splitters and ONUs, with the strands of each hop",
        ),
        (
            "/api/v1/olt_pon_ports/{key}/loss-report",
            pon_loss_report,
            "GET",
            LossReport,
            "Loss budget of every ONU on the PON port, the flagged ones, and the suspects",
        ),
        ("/api/v1/ftth/settings/loss", get_loss_settings, "GET", LossSettings, "Your tenant's loss model"),
        ("/api/v1/ftth/settings/loss", put_loss_settings, "PUT", LossSettings, "Replace your tenant's loss model"),
    ]
    for path, endpoint, method, model, summary in routes:
        router.add_api_route(
            path,
            endpoint,
            methods=[method],
            response_model=model,
            tags=["ftth"],
            summary=summary,
            operation_id=f"{endpoint.__name__}",
            responses=not_found if "{key}" in path else {},
        )
