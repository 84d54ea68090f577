"""OLT and ONU routes beyond CRUD: auto-find, authorise, deauthorise, reboot, replace, move, retire; the
class settings (``GET/PUT /api/v1/ftth/settings/classes``).

Each action runs one service function of ``ispops.ftth.service`` in the request's unit of work, then calls
``service.on_driver_action`` (the hook provisioning replaces with the driver job), and records an audit
event. The answer is the ONU with ``provisioning`` (``job`` and its ``job_id``, or ``manual`` when the OLT
has no driver and the action was done by hand, completing at once); a refusal writes nothing. Another
tenant's OLT or ONU in the path is a 404; a reference in the body a 422 naming the field.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path
from pydantic import BaseModel, Field, create_model
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from ispops.api import permissions
from ispops.api.crud import Resource, row_of, serialize_row
from ispops.auth.deps import Scope
from ispops.ftth import service, settings
from ispops.ftth.schemas import AuthoriseDiscovered, AuthoriseNew, Discovered, Move, PonPortUsage, Replace
from ispops.models import Olt, Onu

CLASS_SETTINGS = "ftth_class_settings"  # the permission row of GET/PUT /api/v1/ftth/settings/classes
OnuKey = Annotated[uuid.UUID, Path(description="the ONU's id")]
OltKey = Annotated[uuid.UUID, Path(description="the OLT's id")]
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "not found (or another tenant's)"}}
CONFLICT: dict[int | str, dict[str, Any]] = {
    **NOT_FOUND,
    409: {"description": "the ONU's state forbids it, the port is full, or the serial is taken (names which)"},
}


class HowProvisioned(BaseModel):
    """What an ONU action's answer adds to the ONU: how its OLT was told."""

    provisioning: Literal["job", "manual"] | None = Field(
        None,
        description="job: a driver job was queued (follow it by job_id); manual: the OLT has no driver, the "
        "action was done by hand and completed at once; null: the OLT is not involved (retire)",
    )
    job_id: uuid.UUID | None = Field(None, description="the provisioning job queued, if any")


def register(router: APIRouter, onus: Resource) -> None:
    """The routes; ``onus`` is the generic resource, whose read schema the answers use."""

    def onu_read(obj: Onu) -> Any:
        return onus.read_model.model_validate(serialize_row(onus, row_of(obj)))

    # The answer of an action: the ONU, and how the OLT was told.
    action_model: Any = create_model("OnuActionResult", __base__=(onus.read_model, HowProvisioned))

    async def act(
        scope: Scope,
        action: str,
        run: Callable[[Session], tuple[Onu, service.DriverAction | None]],
        changes: dict[str, Any],
    ) -> Any:
        permissions.require(scope.principal, "onus", "update")
        async with scope.session() as s:

            def work(session: Session) -> tuple[Onu, str | None, uuid.UUID | None]:
                onu, driver = run(session)
                if driver is None:
                    return onu, None, None
                job_id = service.on_driver_action(session, scope.tenant_id, driver)
                return onu, "manual" if job_id is None else "job", job_id

            onu, how, job_id = await s.run_sync(work)
            await s.refresh(onu)
            scope.audit(s, "onus", onu.id, "action", {"action": action, **changes, "provisioning": how})
            return action_model.model_validate(
                {**serialize_row(onus, row_of(onu)), "provisioning": how, "job_id": job_id}
            )

    async def authorise_new(body: AuthoriseNew, scope: Scope) -> Any:
        def run(session: Session) -> tuple[Onu, service.DriverAction]:
            onu = service.reserve_authorisation(
                session,
                scope.tenant_id,
                olt_id=body.olt_id,
                serial_number=body.serial_number,
                auth_method=body.auth_method,
                loid=body.loid,
                splitter_id=body.splitter_id,
                splitter_port=body.splitter_port,
                **body.address(),
                **body.config(),
            )
            return onu, service.DriverAction("authorise", onu)

        return await act(scope, "authorise", run, body.model_dump(mode="json", exclude_none=True))

    async def authorise(key: OnuKey, body: AuthoriseDiscovered, scope: Scope) -> Any:
        def run(session: Session) -> tuple[Onu, service.DriverAction]:
            onu = service.reserve_authorisation(
                session,
                scope.tenant_id,
                key,
                olt_id=body.olt_id,
                serial_number=body.serial_number,
                auth_method=body.auth_method,
                loid=body.loid,
                splitter_id=body.splitter_id,
                splitter_port=body.splitter_port,
                **body.address(),
                **body.config(),
            )
            return onu, service.DriverAction("authorise", onu)

        return await act(scope, "authorise", run, body.model_dump(mode="json", exclude_none=True))

    async def deauthorise(key: OnuKey, scope: Scope) -> Any:
        def run(session: Session) -> tuple[Onu, service.DriverAction]:
            onu = service.begin_deauthorisation(session, scope.tenant_id, key)
            return onu, service.DriverAction("deauthorise", onu, (onu.pon_port_id, onu.onu_id))

        return await act(scope, "deauthorise", run, {})

    async def reboot(key: OnuKey, scope: Scope) -> Any:
        def run(session: Session) -> tuple[Onu, service.DriverAction]:
            onu = service.request_reboot(session, scope.tenant_id, key)
            return onu, service.DriverAction("reboot", onu)

        return await act(scope, "reboot", run, {})

    async def replace(key: OnuKey, body: Replace, scope: Scope) -> Any:
        def run(session: Session) -> tuple[Onu, service.DriverAction]:
            old = service.get_onu(session, scope.tenant_id, key).serial_number
            onu = service.replace(
                session, scope.tenant_id, key, serial_number=body.serial_number, vendor=body.vendor, model=body.model
            )
            changes["serial_number"] = [old, onu.serial_number]
            return onu, service.DriverAction("replace", onu)

        changes: dict[str, Any] = {}
        return await act(scope, "replace", run, changes)

    async def move(key: OnuKey, body: Move, scope: Scope) -> Any:
        def run(session: Session) -> tuple[Onu, service.DriverAction]:
            onu, previous = service.move(
                session,
                scope.tenant_id,
                key,
                olt_id=body.olt_id,
                splitter_id=body.splitter_id,
                splitter_port=body.splitter_port,
                **body.address(),
            )
            changes["from"] = {"pon_port_id": str(previous[0]), "onu_id": previous[1]}
            changes["to"] = {"pon_port_id": str(onu.pon_port_id), "onu_id": onu.onu_id}
            return onu, service.DriverAction("move", onu, previous)

        changes: dict[str, Any] = {}
        return await act(scope, "move", run, changes)

    async def retire(key: OnuKey, scope: Scope) -> Any:
        def run(session: Session) -> tuple[Onu, None]:
            return service.retire(session, scope.tenant_id, key), None

        return await act(scope, "retire", run, {})

    async def unconfigured(key: OltKey, scope: Scope) -> Any:
        permissions.require(scope.principal, "onus", "read")
        async with scope.session() as s:
            found = await s.run_sync(lambda session: list(service.unconfigured(session, scope.tenant_id, key)))
            return [onu_read(o) for o in found]

    async def discovered(key: OltKey, body: Discovered, scope: Scope) -> Any:
        """Auto-find pushed from outside (a poller, a script): upsert the discovered ONU."""
        permissions.require(scope.principal, "onus", "create")
        async with scope.session() as s:
            await _olt_or_404(s, scope.tenant_id, key)
            onu = await s.run_sync(
                lambda session: service.record_discovered(
                    session,
                    scope.tenant_id,
                    olt_id=key,
                    serial_number=body.serial_number,
                    vendor=body.vendor,
                    model=body.model,
                    loid=body.loid,
                    seen_at=body.seen_at,
                    **body.address(),
                )
            )
            await s.refresh(onu)
            scope.audit(s, "onus", onu.id, "action", {"action": "discovered", "serial_number": body.serial_number})
            return onu_read(onu)

    async def pon_ports(key: OltKey, scope: Scope) -> Any:
        permissions.require(scope.principal, "olts", "read")
        async with scope.session() as s:
            return await s.run_sync(lambda session: service.pon_port_usage(session, scope.tenant_id, key))

    async def profile(key: OltKey, scope: Scope) -> Any:
        permissions.require(scope.principal, "olts", "read")
        async with scope.session() as s:
            olt = await _olt_or_404(s, scope.tenant_id, key)
            return await s.run_sync(
                lambda session: settings.olt_profile(session, scope.tenant_id, olt.technology, olt.optical_class)
            )

    async def get_class_settings(scope: Scope) -> Any:
        permissions.require(scope.principal, CLASS_SETTINGS, "read")
        async with scope.session() as s:
            return await s.run_sync(settings.load_classes, scope.tenant_id)

    async def put_class_settings(body: settings.ClassOverrides, scope: Scope) -> Any:
        """Replace the tenant's overrides; what the body leaves out takes its default."""
        permissions.require(scope.principal, CLASS_SETTINGS, "update")
        async with scope.session() as s:
            saved = await s.run_sync(settings.save_classes, scope.tenant_id, body)
            scope.audit(s, "ftth_settings", scope.tenant_id, "update", {"classes": body.stored()})
            return saved

    onu_read_model = onus.read_model
    actions: list[tuple[str, Any, str, Any, str]] = [
        ("/api/v1/onus/authorise", authorise_new, "POST", action_model, "Authorise an ONU by serial or LOID"),
        ("/api/v1/onus/{key}/authorise", authorise, "POST", action_model, "Authorise a discovered ONU"),
        ("/api/v1/onus/{key}/deauthorise", deauthorise, "POST", action_model, "Remove the ONU from its OLT"),
        ("/api/v1/onus/{key}/reboot", reboot, "POST", action_model, "Reboot the ONU"),
        ("/api/v1/onus/{key}/replace", replace, "POST", action_model, "New hardware, same configuration"),
        ("/api/v1/onus/{key}/move", move, "POST", action_model, "Move the ONU to another PON port"),
        ("/api/v1/onus/{key}/retire", retire, "POST", action_model, "Take the ONU out of service"),
        (
            "/api/v1/olts/{key}/unconfigured",
            unconfigured,
            "GET",
            list[onu_read_model],  # type: ignore[valid-type]
            "The OLT's discovered, unconfigured ONUs",
        ),
        ("/api/v1/olts/{key}/discovered", discovered, "POST", onu_read_model, "Report an auto-found ONU"),
        ("/api/v1/olts/{key}/pon-ports", pon_ports, "GET", list[PonPortUsage], "The OLT's PON ports and their use"),
        (
            "/api/v1/olts/{key}/profile",
            profile,
            "GET",
            settings.OltProfile,
            "What the OLT's technology and optical class imply (ids, reach, thresholds)",
        ),
        (
            "/api/v1/ftth/settings/classes",
            get_class_settings,
            "GET",
            settings.ClassSettings,
            "Your tenant's class settings",
        ),
        (
            "/api/v1/ftth/settings/classes",
            put_class_settings,
            "PUT",
            settings.ClassSettings,
            "Replace your tenant's technology and class overrides",
        ),
    ]
    for path, endpoint, method, model, summary in actions:
        router.add_api_route(
            path,
            endpoint,
            methods=[method],
            response_model=model,
            tags=["ftth"],
            summary=summary,
            operation_id=f"ftth_{endpoint.__name__}",
            responses=CONFLICT if method == "POST" and "onus" in path else NOT_FOUND if "{key}" in path else {},
        )


async def _olt_or_404(session: AsyncSession, tenant_id: str, key: uuid.UUID) -> Olt:
    return await session.run_sync(lambda s: service.get_olt(s, tenant_id, key, field=None))
