"""Automation over HTTP: Ansible jobs (launched on create), their progress, cancel and retry; tenant
playbooks, schedules, AWX/NetBox endpoints, NetBox syncs and the NetBox id mapping.

(No ``from __future__ import annotations``: FastAPI reads the annotations at runtime.)

Permissions: ``ansible_jobs.read`` to follow a run, ``ansible_jobs.create`` to launch, cancel or retry one.
"""

import uuid
from typing import Annotated, Any

from croniter import croniter  # type: ignore[import-untyped]
from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from ispops.api import permissions
from ispops.api.crud import Resource, row_of, write_audit
from ispops.api.reveal import write_only
from ispops.api.schemas import Str
from ispops.auth.deps import Scope
from ispops.automation import runtime, service
from ispops.errors import ValidationFailed
from ispops.jobs import defer_in
from ispops.models.automation import (
    AnsibleJob,
    AnsibleTriggerSource,
    AutomationEndpoint,
    AutomationPlaybook,
    AutomationSchedule,
    EndpointKind,
    NetboxMapping,
    NetboxSync,
)
from ispops.secrets import runtime as secret_runtime
from ispops.secrets import tenant_path
from ispops.secrets.txn import secret_changes

JOB_OUTCOME = frozenset(
    {
        "status",
        "started_at",
        "completed_at",
        "duration_seconds",
        "exit_code",
        "stdout",
        "stderr",
        "ansible_facts",
        "changed_tasks",
        "failed_tasks",
        "awx_job_id",
        "triggered_by",
        "trigger_source",
        "inventory",
        "playbook_id",
        "schedule_id",
        "lifecycle_order_id",
        "retry_of_id",
        "attempt",
        "stats",
        "host_results",
        "error",
        "cancel_requested_at",
        "queue_job_id",
    }
)
LIMIT_FIELD: dict[str, Any] = {
    "limit": (
        list[uuid.UUID] | None,
        Field(
            None, max_length=service.MAX_LIMIT, description="run on these devices only (ids of the tenant's devices)"
        ),
    )
}


def _request(data: dict[str, Any]) -> service.LaunchRequest:
    return service.LaunchRequest(
        playbook_name=data["playbook_name"],
        job_name=data.get("job_name"),
        job_type=data.get("job_type"),
        target_device_id=data.get("target_device_id"),
        limit=data.get("limit"),
        extra_vars=data.get("extra_vars"),
        check_mode=bool(data.get("check_mode") or False),
        diff_mode=bool(data.get("diff_mode") or False),
        timeout_seconds=data.get("timeout_seconds"),
        engine=data.get("engine") or "runner",
        awx_job_template_id=data.get("awx_job_template_id"),
    )


def _launch_by_user(s: Session, tenant_id: str, data: dict[str, Any]) -> AnsibleJob:
    return service.launch(
        s, tenant_id, _request(data), trigger_source=AnsibleTriggerSource.API, triggered_by=service.current_user(s)
    )


async def create_job(session: Any, tenant_id: str, body: BaseModel) -> Any:
    """POST /api/v1/ansible_jobs: the row and its queued run, in the request's transaction."""
    return await session.run_sync(_launch_by_user, tenant_id, body.model_dump(exclude_unset=True))


def _register(s: Session, tenant_id: str, data: dict[str, Any]) -> AutomationPlaybook:
    service.check_playbook_source(runtime.current(), data)
    playbook = AutomationPlaybook(**data, tenant_id=tenant_id)
    s.add(playbook)
    return playbook


async def create_playbook(session: Any, tenant_id: str, body: BaseModel) -> Any:
    return await session.run_sync(_register, tenant_id, body.model_dump(exclude_unset=True))


def _check_cron(cron: str) -> None:
    if not croniter.is_valid(cron):
        raise ValidationFailed(f"automation_schedules.cron: not a cron expression: {cron!r}", field="cron")


def _schedule(s: Session, tenant_id: str, data: dict[str, Any]) -> AutomationSchedule:
    _check_cron(str(data.get("cron")))
    service.resolve_playbook(s, tenant_id, str(data.get("playbook_name")))
    service.check_extra_vars(data.get("extra_vars", {}))
    schedule = AutomationSchedule(**data, tenant_id=tenant_id)
    s.add(schedule)
    return schedule


async def create_schedule(session: Any, tenant_id: str, body: BaseModel) -> Any:
    return await session.run_sync(_schedule, tenant_id, body.model_dump(exclude_unset=True))


def check_schedule_update(schedule: Any, data: dict[str, Any]) -> None:
    if "cron" in data:
        _check_cron(str(data["cron"]))
    if "extra_vars" in data:
        service.check_extra_vars(data["extra_vars"])


def _check_endpoint(kind: str | None, url: str | None, netbox_tenant: str | None, netbox_tag: str | None) -> None:
    if url is not None and not url.startswith(("http://", "https://")):
        raise ValidationFailed("automation_endpoints.url: must be an http(s) URL", field="url")
    if kind == EndpointKind.NETBOX and (netbox_tenant is None) == (netbox_tag is None):
        raise ValidationFailed(
            "automation_endpoints.netbox_tenant: set exactly one of netbox_tenant and netbox_tag (the scope that "
            "keeps this ISP's objects apart in a shared NetBox)",
            field="netbox_tenant",
        )


def _endpoint(s: Session, tenant_id: str, data: dict[str, Any]) -> AutomationEndpoint:
    token = data.pop("token", None)
    _check_endpoint(data.get("kind"), data.get("url"), data.get("netbox_tenant"), data.get("netbox_tag"))
    endpoint = AutomationEndpoint(**data, id=uuid.uuid4(), tenant_id=tenant_id)
    if token:
        path = tenant_path(tenant_id, "automation", str(endpoint.id), f"token-{uuid.uuid4().hex[:16]}")
        secret_changes(s, secret_runtime.current()).put(path, str(token).encode("utf-8"))
        endpoint.token_vault_path = path
    s.add(endpoint)
    return endpoint


async def create_endpoint(session: Any, tenant_id: str, body: BaseModel) -> Any:
    return await session.run_sync(_endpoint, tenant_id, body.model_dump(exclude_unset=True))


def check_endpoint_update(endpoint: Any, data: dict[str, Any]) -> None:
    merged = {k: data.get(k, getattr(endpoint, k)) for k in ("kind", "url", "netbox_tenant", "netbox_tag")}
    _check_endpoint(merged["kind"], merged["url"], merged["netbox_tenant"], merged["netbox_tag"])


def _sync(s: Session, tenant_id: str, data: dict[str, Any]) -> NetboxSync:
    sync = NetboxSync(**data, id=uuid.uuid4(), tenant_id=tenant_id, triggered_by=service.current_user(s))
    s.add(sync)
    s.flush()
    defer_in(s, "automation.netbox_sync", sync_id=str(sync.id))
    return sync


async def create_sync(session: Any, tenant_id: str, body: BaseModel) -> Any:
    return await session.run_sync(_sync, tenant_id, body.model_dump(exclude_unset=True))


JOBS = Resource(
    "ansible_jobs",
    AnsibleJob,
    tag="automation",
    verbs=frozenset({"list", "get", "create"}),
    filters=("status", "job_type", "target_device_id", "engine", "trigger_source", "playbook_name"),
    search=("job_name", "playbook_name"),
    sort=("created_at", "started_at"),
    read_only=JOB_OUTCOME,
    create_hook=create_job,
    create_extra=LIMIT_FIELD,
)
RESOURCES: list[Resource] = [
    JOBS,
    Resource(
        "automation_playbooks",
        AutomationPlaybook,
        tag="automation",
        verbs=frozenset({"list", "get", "create", "delete"}),
        filters=("source_type", "name"),
        search=("name", "description"),
        sort=("created_at", "name"),
        create_hook=create_playbook,
    ),
    Resource(
        "automation_schedules",
        AutomationSchedule,
        tag="automation",
        filters=("enabled", "playbook_name", "target_device_id"),
        search=("name", "playbook_name"),
        sort=("created_at", "name", "last_run_at"),
        read_only=frozenset({"last_run_at"}),
        create_only=frozenset({"playbook_name"}),
        create_hook=create_schedule,
        update_check=check_schedule_update,
    ),
    Resource(
        "automation_endpoints",
        AutomationEndpoint,
        tag="automation",
        filters=("kind",),
        sort=("created_at",),
        read_only=frozenset({"token_vault_path"}),
        create_only=frozenset({"kind"}),
        create_hook=create_endpoint,
        update_check=check_endpoint_update,
        create_extra={
            "token": (write_only(Annotated[Str, Field(max_length=1000)] | None, "API token; write-only"), None)
        },
    ),
    Resource(
        "netbox_syncs",
        NetboxSync,
        tag="automation",
        verbs=frozenset({"list", "get", "create"}),
        filters=("direction", "status", "dry_run"),
        sort=("created_at",),
        read_only=frozenset({"status", "diff", "summary", "error", "started_at", "completed_at", "triggered_by"}),
        create_hook=create_sync,
    ),
    Resource(
        "netbox_mappings",
        NetboxMapping,
        tag="automation",
        verbs=frozenset({"list", "get"}),
        filters=("object_type", "local_id", "netbox_id"),
        sort=("created_at", "netbox_id"),
    ),
]

router = APIRouter(tags=["automation"])
Key = Annotated[uuid.UUID, Path(description="the job's id")]
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "no such job (or another tenant's)"}}


def register(api: APIRouter) -> None:
    api.include_router(router)


class EventOut(BaseModel):
    seq: int
    event: str
    host: str | None = None
    task: str | None = None
    stdout: str | None = None
    data: dict[str, Any] | None = None
    occurred_at: Any = None


class EventsOut(BaseModel):
    status: str = Field(description="the job's status now")
    finished: bool = Field(description="no more events will come")
    offset: int
    next_offset: int = Field(description="pass as offset to get what comes next")
    events: list[EventOut]


@router.get(
    "/api/v1/ansible_jobs/{key}/events",
    response_model=EventsOut,
    summary="Progress of a run: its events and their output so far, paged by offset",
    operation_id="ansible_job_events",
    responses=NOT_FOUND,
)
async def job_events(
    key: Key,
    scope: Scope,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> Any:
    permissions.require(scope.principal, "ansible_jobs", "read")
    async with scope.session() as s:
        page = await s.run_sync(service.events_page, scope.tenant_id, key, offset=offset, limit=limit)
    return EventsOut(
        status=page.status,
        finished=page.finished,
        offset=page.offset,
        next_offset=page.next_offset,
        events=[EventOut(**e) for e in page.events],
    )


@router.post(
    "/api/v1/ansible_jobs/{key}/cancel",
    response_model=JOBS.read_model,
    summary="Cancel a pending or running job (the ansible process tree ends)",
    operation_id="cancel_ansible_job",
    responses={**NOT_FOUND, 409: {"description": "the job has already finished"}},
)
async def cancel_job(key: Key, scope: Scope) -> Any:
    permissions.require(scope.principal, "ansible_jobs", "create")
    async with scope.session() as s:
        job = await s.run_sync(service.cancel, scope.tenant_id, key)
        await write_audit(s, JOBS, scope, job, "update", {"cancel_requested_at": str(job.cancel_requested_at)})
        await s.refresh(job)
        return JOBS.read_model.model_validate(row_of(job))


@router.post(
    "/api/v1/ansible_jobs/{key}/retry",
    response_model=JOBS.read_model,
    status_code=201,
    summary="Run a failed, cancelled or timed out job again (a new job, retry_of_id pointing at this one)",
    operation_id="retry_ansible_job",
    responses={**NOT_FOUND, 409: {"description": "the job has not failed (or has not finished)"}},
)
async def retry_job(key: Key, scope: Scope) -> Any:
    permissions.require(scope.principal, "ansible_jobs", "create")
    async with scope.session() as s:
        job = await s.run_sync(
            lambda ss: service.retry(
                ss, scope.tenant_id, key, trigger_source=AnsibleTriggerSource.API, triggered_by=scope.principal.id
            )
        )
        await write_audit(s, JOBS, scope, job, "create", {"retry_of_id": str(key)})
        await s.refresh(job)
        return JOBS.read_model.model_validate(row_of(job))
