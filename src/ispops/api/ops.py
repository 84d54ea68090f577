"""Operational endpoints and middleware: request ids, Prometheus metrics, health and readiness."""

from __future__ import annotations

import time
import uuid
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ispops.api.problems import unexpected_error
from ispops.db.async_session import AsyncDatabase

REGISTRY = CollectorRegistry(auto_describe=True)
REQUESTS = Counter(
    "ispops_http_requests_total",
    "HTTP requests by route and status",
    ["method", "route", "status"],
    registry=REGISTRY,
)
LATENCY = Histogram(
    "ispops_http_request_duration_seconds",
    "HTTP request latency by route and status",
    ["method", "route", "status"],
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
    registry=REGISTRY,
)


class RequestIdAndMetrics:
    """Pure ASGI middleware: a request id on every request and response, and per-route metrics.

    An exception no handler took (a bug) becomes the 500 problem here, inside the middleware, so that
    response too carries the request id and is counted; it is logged with the request id, once.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = dict(scope.get("headers") or []).get(b"x-request-id", b"").decode("latin-1")
        request_id = incoming if 0 < len(incoming) <= 64 and incoming.isprintable() else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        status = 500
        responded = False
        started = time.perf_counter()

        async def send_wrapper(message: Message) -> None:
            nonlocal status, responded
            if message["type"] == "http.response.start":
                status, responded = message["status"], True
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        except Exception as exc:
            if responded:  # too late for a problem document: let the server close the connection
                raise
            response = await unexpected_error(Request(scope), exc)
            await response(scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            path = getattr(route, "path", None) or "unmatched"
            method = scope.get("method", "GET")
            REQUESTS.labels(method, path, str(status)).inc()
            LATENCY.labels(method, path, str(status)).observe(time.perf_counter() - started)


router = APIRouter(tags=["operations"])


@router.get("/healthz", summary="The process is up")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", summary="The database is reachable and at the newest migration", response_model=None)
async def readyz(request: Request) -> Any:
    db: AsyncDatabase = request.app.state.db
    head = request.app.state.head_revision
    try:
        current = await db.ping()
    except Exception as exc:  # not ready: say why, without internals
        return JSONResponse({"status": "unavailable", "database": type(exc).__name__}, status_code=503)
    if current != head:
        return JSONResponse(
            {"status": "unavailable", "database": "reachable", "revision": current, "expected": head}, status_code=503
        )
    return {"status": "ok", "revision": current}


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
async def metrics() -> Response:
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)
