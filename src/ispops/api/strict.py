"""One rule for every route: a request says only what the route declares.

- A query parameter the route does not declare is a 422 naming it (``?tenant_id=`` on a list that does
  not filter by it would otherwise be silently ignored, and the caller would believe the answer filtered).
- A body that is not JSON, sent to a route that reads a JSON body, is a 415.

Installed once, as a dependency of the whole app (ispops.app), so hand-written routes follow it as well as
the generated resource routes. The route's declared parameters are read from FastAPI's own description of
it (the same one the OpenAPI document is built from), once per route.
"""

from __future__ import annotations

from dataclasses import dataclass
from email.message import Message
from typing import Any

from fastapi import Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from pydantic import BaseModel

from ispops.errors import UnsupportedMediaType, ValidationFailed


@dataclass(frozen=True)
class Shape:
    query: frozenset[str]
    json_body: bool


# id(route) -> (route, its shape); the route is held so that its id cannot be reused by another one.
_SHAPES: dict[int, tuple[APIRoute, Shape]] = {}


def _query_names(field: Any) -> list[str]:
    """A query parameter's name, or the names of a model's fields (``Annotated[Model, Query()]``)."""
    annotation = field.field_info.annotation
    for candidate in (annotation, *getattr(annotation, "__args__", ())):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return [f.alias or name for name, f in candidate.model_fields.items()]
    return [field.alias]


def shape_of(route: APIRoute) -> Shape:
    known = _SHAPES.get(id(route))
    if known is None:
        names: set[str] = set()
        body = False
        pending: list[Dependant] = [route.dependant]
        while pending:
            dependant = pending.pop()
            for field in dependant.query_params:
                names.update(_query_names(field))
            body = body or bool(dependant.body_params)
            pending.extend(dependant.dependencies)
        known = _SHAPES[id(route)] = (route, Shape(frozenset(names), body))
    return known[1]


def _is_json(content_type: str) -> bool:
    message = Message()
    message["content-type"] = content_type
    subtype = message.get_content_subtype()
    return message.get_content_maintype() == "application" and (subtype == "json" or subtype.endswith("+json"))


async def strict_request(request: Request) -> None:
    route = request.scope.get("route")
    if not isinstance(route, APIRoute) or not route.include_in_schema:
        return
    shape = shape_of(route)
    unknown = sorted({name for name in request.query_params if name not in shape.query})
    if unknown:
        accepted = ", ".join(sorted(shape.query)) or "none"
        message = f"unknown query parameter; this route accepts: {accepted}"
        raise ValidationFailed(
            f"{', '.join(unknown)}: unknown query parameter{'s' if len(unknown) > 1 else ''} "
            f"(this route accepts: {accepted})",
            field=unknown[0],
            errors=[{"field": name, "message": message} for name in unknown],
        )
    if shape.json_body:
        content_type = request.headers.get("content-type")
        if await request.body() and not (content_type and _is_json(content_type)):
            raise UnsupportedMediaType(
                "the body must be JSON, sent with Content-Type: application/json "
                f"({f'not {content_type}' if content_type else 'the request had no Content-Type'})",
                field="content-type",
            )
