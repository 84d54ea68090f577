"""How a domain plugs into the API: its ``api`` module exposes ``RESOURCES`` and ``register(router)``.

``RESOURCES`` are the domain's tables exposed through the generic routes (``ispops.api.crud``, and the
reveal action of ``ispops.api.reveal`` for a resource with write-only credentials), with the domain's
rules as hooks on each ``Resource``. ``register`` adds the domain's own routes (actions, views). The
application lists its domains once (``ispops.app.DOMAINS``); this module imports none of them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol

from fastapi import APIRouter

from ispops.api import crud, reveal
from ispops.api.crud import Resource


class Domain(Protocol):
    """A domain's ``api`` module."""

    @property
    def RESOURCES(self) -> Sequence[Resource]: ...  # noqa: N802 (a module constant)

    def register(self, router: APIRouter) -> None: ...


def resources(domains: Iterable[Domain]) -> list[Resource]:
    """Every domain's resources, in the order of ``domains``; a name used twice is refused."""
    found = [spec for domain in domains for spec in domain.RESOURCES]
    names = [spec.name for spec in found]
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        raise ValueError(f"resources declared by more than one domain: {', '.join(twice)}")
    return found


def router(domains: Sequence[Domain]) -> APIRouter:
    """Every domain's own routes, then the generic routes of every domain's resources.

    Own routes come first by construction: a fixed path segment such as ``/api/v1/devices/near`` is matched
    before the generic ``/api/v1/devices/{key}`` could take it for an id, whatever the order of ``domains``
    (``tests/api/test_layers.py`` checks every pair of routes that could match the same request).
    """
    specs = resources(domains)
    api = APIRouter()
    for domain in domains:
        domain.register(api)
    for spec in specs:
        crud.build(api, spec)
        if spec.reveal:
            reveal.build(api, spec)  # POST /api/v1/<name>/{id}/reveal-secret
    return api
