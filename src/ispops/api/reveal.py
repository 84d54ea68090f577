"""Write-only credentials and the one way to read them back: ``POST /api/v1/<resource>/{id}/reveal-secret``.

A credential column of a resource (the NAS shared secret, an SNMP community) is never part of a read:
the resource hides it (``Resource.hidden``) and accepts it on create and update through a write-only
field (``writeOnly`` in the OpenAPI document). Staff who must type it into a router ask for it with
this action (for the columns the resource lists in ``Resource.reveal``): its own permission
(``<resource>: reveal_secret``, docs/permissions.md), a 404 for another tenant's object,
``Cache-Control: no-store``, and an audit event (``action`` ``action``, ``changes``
``{"action": "reveal_secret", "fields": [...]}``) that names the fields, never their values.

(No ``from __future__ import annotations``: FastAPI reads the route's annotations at runtime.)
"""

from typing import Annotated, Any

from fastapi import APIRouter, Path
from fastapi.responses import JSONResponse
from pydantic import Field, create_model

from ispops.api import permissions
from ispops.api.crud import Resource, load
from ispops.auth.deps import Scope

ACTION = "reveal_secret"


def write_only(typ: Any, description: str) -> Any:
    """``typ`` as a write-only API field: accepted on create and update, never part of a response."""
    return Annotated[typ, Field(description=description, json_schema_extra={"writeOnly": True, "format": "password"})]


def build(router: APIRouter, spec: Resource) -> None:
    """Register the reveal action of a resource that lists write-only columns in ``Resource.reveal``."""
    fields = spec.reveal
    assert set(fields) <= spec.hidden, f"{spec.name}: a revealed field must be hidden from reads"
    definitions: dict[str, Any] = {
        name: (str | None, Field(description="as stored; null when not set")) for name in fields
    }
    model: Any = create_model("".join(p.capitalize() for p in spec.name.split("_")) + "Secrets", **definitions)

    key_type: Any = Annotated[spec.key_type, Path(description="the record's id")]

    async def reveal(key: key_type, scope: Scope) -> Any:
        permissions.require(scope.principal, spec.name, ACTION)
        async with scope.session() as s:
            obj = await load(s, spec, scope.tenant_id, key)
            values = {name: getattr(obj, name) for name in fields}
            scope.audit(
                s, spec.name, getattr(obj, spec.key_column), "action", {"action": ACTION, "fields": list(fields)}
            )
        body = model(**values).model_dump(mode="json")
        return JSONResponse(body, headers={"Cache-Control": "no-store"})

    router.add_api_route(
        f"/api/v1/{spec.name}/{{key}}/reveal-secret",
        reveal,
        methods=["POST"],
        response_model=model,
        tags=[spec.tag or spec.name],
        operation_id=f"reveal_{spec.name}_secret",
        summary=f"Show the write-only credentials of one of {spec.name.replace('_', ' ')} (audited)",
        responses={404: {"description": "not found (or another tenant's)"}},
    )
