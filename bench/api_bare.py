"""The baseline of bench/api_read.py: a bare ASGI endpoint doing what ``GET /api/v1/subscribers/{id}`` must do.

Not a benchmark on its own: bench/api_read.py runs it as ``uvicorn api_bare:create_app --factory
--app-dir bench`` with the same worker count as the API, the same settings (``ISPOPS_DATA_DIR``,
``ISPOPS_DB_POOL_SIZE``) and the same engine: ``ispops.db.async_session.AsyncDatabase``'s application-role
engine (SQLAlchemy's async queue pool of the same size over the psycopg 3 driver). Per request, on the
psycopg connection that pool hands out, in one transaction: the same ``set_config`` of the tenant and user
as the API's unit of work, then the single-row ``SELECT`` of the subscriber (the API's columns, tenant,
id, not deleted), committed; the row is written as the same JSON (``BENCH_BARE_FIELDS``: the fields the
API returns, in its order). No framework, no routing table, no validation, no permission or tenant-status
check, no request id or metrics: the cost of the API over this is what the framework and the platform's
rules add. The tenant and user come from the bearer token, verified with ``decode_access_token`` (which
keeps verified tokens, as the API does).

Answers 200 with the row, 404 for no row, 401 without a valid token; ``GET /readyz`` 200 once started.
"""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import json
import os
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from ispops.auth.tokens import decode_access_token
from ispops.config import get_settings
from ispops.db.async_session import AsyncDatabase
from ispops.db.server import open_server
from ispops.errors import IspopsError

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]

PREFIX = "/api/v1/subscribers/"
SET_CONTEXT = "SELECT set_config('app.current_tenant_id', %s, true), set_config('app.current_user_id', %s, true)"
JSON_HEADERS = [(b"content-type", b"application/json")]


def _json_value(value: Any) -> Any:
    """As pydantic writes it: UUIDs and decimals as strings, times in ISO 8601 with Z for UTC."""
    if isinstance(value, dt.datetime):
        text = value.isoformat()
        return text[:-6] + "Z" if text.endswith("+00:00") else text
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, uuid.UUID | decimal.Decimal):
        return str(value)
    if isinstance(value, bytes | memoryview):
        return base64.b64encode(bytes(value)).decode()
    return value


def create_app() -> App:
    fields = [f for f in os.environ.get("BENCH_BARE_FIELDS", "").split(",") if f]
    if not fields:
        raise SystemExit("BENCH_BARE_FIELDS: the comma-separated fields the API returns for a subscriber")
    select = f"SELECT {', '.join(fields)} FROM subscribers WHERE tenant_id = %s AND id = %s AND deleted_at IS NULL"
    settings = get_settings()
    state: dict[str, Any] = {}

    async def respond(send: Send, status: int, body: bytes) -> None:
        await send({"type": "http.response.start", "status": status, "headers": JSON_HEADERS})
        await send({"type": "http.response.body", "body": body})

    async def lifespan(receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                server = open_server(settings)
                state["server"] = server
                state["db"] = AsyncDatabase(server, pool_size=settings.db_pool_size)
                state["secret"] = os.environ["ISPOPS_JWT_SECRET"]
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await state["db"].dispose()
                state["server"].close()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await lifespan(receive, send)
            return
        path: str = scope["path"]
        if path == "/readyz":
            await respond(send, 200, b'{"status":"ready"}')
            return
        if not path.startswith(PREFIX):
            await respond(send, 404, b"{}")
            return
        token = next((v[7:] for k, v in scope["headers"] if k == b"authorization" and v[:7] == b"Bearer "), b"")
        try:
            principal = decode_access_token(token.decode(), secret=state["secret"])
            key = uuid.UUID(path[len(PREFIX) :])
        except (IspopsError, ValueError):
            await respond(send, 401, b"{}")
            return
        db: AsyncDatabase = state["db"]
        async with db.app_engine.connect() as conn:
            raw: Any = (await conn.get_raw_connection()).driver_connection
            async with raw.cursor() as cur:
                await cur.execute(SET_CONTEXT, (principal.tenant_id, principal.id))
                await cur.execute(select, (principal.tenant_id, key))
                row = await cur.fetchone()
            await raw.commit()
        if row is None:
            await respond(send, 404, b"{}")
            return
        body = json.dumps({f: _json_value(v) for f, v in zip(fields, row, strict=True)}, separators=(",", ":"))
        await respond(send, 200, body.encode())

    return app
