"""Mounting the console on the application: every page module's router, the static files, HTML errors.

``PAGES`` lists the page modules, in menu order; each exposes ``router`` (paths under ``/console``) and
``NAV`` (``ispops.console.nav.NavItem``). Console routes stay out of the OpenAPI document, and so out of
the API's strict-request rule (``ispops.api.strict``), which is for JSON routes.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from types import ModuleType

from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles

from ispops.api.crud import Resource
from ispops.console import errors, nav, render
from ispops.console.pages import resources as generic

PAGES: tuple[str, ...] = (
    "auth",
    "dashboard",
    "subscriber",
    "operations",
    "ftth",
    "wireless",
    "network_map",
    "imports",
    "resources",  # last: its /console/r/{name}/... routes must not shadow an area's own pages
)


def page_modules() -> list[ModuleType]:
    return [importlib.import_module(f"ispops.console.pages.{name}") for name in PAGES]


def mount(app: FastAPI, resources: Sequence[Resource] = ()) -> None:
    """Serve the console under ``/console`` on ``app`` (called once by ``ispops.app.create_app``, with the
    API's resources for the generic list and edit pages)."""
    generic.configure(resources)
    for module in page_modules():
        for route in module.router.routes:
            if isinstance(route, APIRoute):
                route.include_in_schema = False  # HTML forms and free query strings: not the API's rules
        app.include_router(module.router, include_in_schema=False)
        items = list(getattr(module, "NAV", []))
        if module is generic:  # an area's own page of the same name comes first (Orders, Users, ...)
            taken = {item.title.lower() for item in nav.REGISTRY}
            items = [item for item in items if item.title.lower() not in taken]
        nav.register(items)
    app.mount(render.STATIC_URL, StaticFiles(directory=render.STATIC), name="console-static")
    errors.install(app)
