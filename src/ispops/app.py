"""The HTTP application: wiring only. Routes live in their domains; errors in ispops.api.problems."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI

from ispops import __version__
from ispops.api import docs, domains, ops, problems, strict
from ispops.api.domains import Domain
from ispops.api.proxies import TrustedProxies
from ispops.audit import api as audit
from ispops.auth import api as auth
from ispops.auth.tokens import jwt_secret_for
from ispops.automation import api as automation
from ispops.billing import api as billing
from ispops.config import Settings, get_settings
from ispops.console import app as console
from ispops.db.async_session import AsyncDatabase
from ispops.db.migrate import head_revision
from ispops.db.server import Server, open_server
from ispops.devices import api as devices
from ispops.events import api as events
from ispops.ftth import api as ftth
from ispops.ipam import api as ipam
from ispops.lifecycle import api as lifecycle
from ispops.radius import api as radius
from ispops.secrets import runtime as secret_runtime
from ispops.subscribers import api as subscribers
from ispops.tenancy import api as tenancy
from ispops.vpn import api as vpn
from ispops.wireless import api as wireless

DESCRIPTION = """\
The ispops API: everything the web UI, the CLI and integrators do goes through it.

Authenticate with `POST /api/v1/auth/login` (tenant, email, password, and a TOTP code when MFA is on),
then send `Authorization: Bearer <access_token>`. Errors are `application/problem+json` (RFC 9457);
another tenant's object is always a 404.
"""

# Every domain's ``api`` module: its resources and its own routes (ispops.api.domains). Any order.
DOMAINS: tuple[Domain, ...] = (
    auth,
    tenancy,
    subscribers,
    radius,
    ipam,
    devices,
    vpn,
    ftth,
    wireless,
    lifecycle,
    automation,
    events,
    billing,
    audit,
)
RESOURCES = domains.resources(DOMAINS)


def create_app(settings: Settings | None = None, *, server: Server | None = None) -> FastAPI:
    """The app. ``server`` is given by tests and by ``ispops up``; otherwise it is opened from settings."""
    cfg = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        own = server is None
        srv = server or open_server(cfg)
        db = AsyncDatabase(srv, pool_size=cfg.db_pool_size)
        app.state.settings = cfg
        app.state.db = db
        app.state.jwt_secret = jwt_secret_for(cfg, cfg.data_dir)
        secret_runtime.configure(cfg)  # the secret store, opened on first use
        app.state.head_revision = head_revision()  # read the migration scripts once, not per /readyz
        # Everything loaded so far lives as long as the process: keep it out of the collector's scans
        # (full collections of it paused requests for ~100 ms in bench/api_read.py).
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            await db.dispose()
            if own:
                srv.close()

    app = FastAPI(
        title="ispops",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        openapi_url="/openapi.json",
        docs_url=None,  # served by ispops.api.docs, from the package (no CDN)
        redoc_url=None,
        # One rule for every route: undeclared query parameters are a 422, a non-JSON body a 415.
        dependencies=[Depends(strict.strict_request)],
    )
    docs.install(app, openapi_url="/openapi.json")
    problems.install(app)
    app.add_middleware(ops.RequestIdAndMetrics)
    if cfg.trusted_proxy_networks:  # outermost: everything below sees the client behind the proxy
        app.add_middleware(TrustedProxies, networks=cfg.trusted_proxy_networks)
    app.include_router(ops.router)
    app.include_router(domains.router(DOMAINS))
    console.mount(app, RESOURCES)  # the web console under /console (ispops.console)
    return app
