"""VPN tunnel routes beyond CRUD: the peer config, key rotation, handshake status.

Creation goes through the generic ``POST /api/v1/vpn_tunnels`` with :func:`create_hook`. The private
key appears in no response except the rendered peer config (``wg-quick`` or ``routeros``).
"""

import datetime as dt
import re
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel, Field

from ispops.api import permissions
from ispops.api.crud import Resource, load, row_of, serialize_row
from ispops.audit.service import record
from ispops.auth.deps import get_db, get_full_principal, get_meta
from ispops.auth.principal import Principal, RequestMeta
from ispops.db.async_session import AsyncDatabase
from ispops.errors import ValidationFailed
from ispops.secrets import runtime
from ispops.vpn import service
from ispops.vpn.render import ConfigFormat

NAME = "vpn_tunnels"
MAX_DUMP = 4 * 1024 * 1024
SUFFIX = {ConfigFormat.WG_QUICK: "conf", ConfigFormat.ROUTEROS: "rsc", ConfigFormat.HUB_PEER: "conf"}


async def create_hook(session: Any, principal: Principal, body: BaseModel) -> Any:
    """``Resource.create_hook`` for vpn_tunnels."""
    return await service.create_tunnel(
        session, runtime.current(), principal.tenant_id, body.model_dump(exclude_unset=True)
    )


class HandshakeBody(BaseModel):
    dump: str = Field(max_length=MAX_DUMP, description="output of `wg show <interface> dump` on the hub")
    observed_at: dt.datetime | None = Field(
        None, description="when the dump was taken (default: now); handshakes older than 180 s mean down"
    )


Key = Annotated[uuid.UUID, Path(description="the tunnel's id")]
Who = Annotated[Principal, Depends(get_full_principal)]
Db = Annotated[AsyncDatabase, Depends(get_db)]
Meta = Annotated[RequestMeta, Depends(get_meta)]


def _filename(name: str, fmt: ConfigFormat) -> str:
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", name)[:60] or "tunnel"
    return f"{safe}.{SUFFIX[fmt]}"


def build(router: APIRouter, spec: Resource) -> None:
    read_model = spec.read_model
    tags: list[str | Any] = [spec.tag or NAME]

    def to_read(obj: Any) -> Any:
        return read_model.model_validate(serialize_row(spec, row_of(obj)))

    async def get_config(
        key: Key, principal: Who, db: Db, meta: Meta,
        format: Annotated[ConfigFormat, Query(description="wg-quick, routeros, or hub-peer")] = (
            ConfigFormat.WG_QUICK
        ),
    ) -> PlainTextResponse:
        # The peer's formats carry its private key: as sensitive as a change. The hub's stanza is not.
        permissions.require(principal, NAME, "read" if format is ConfigFormat.HUB_PEER else "update")
        async with db.tenant(str(principal.tenant_id), user_id=principal.id) as s:
            tunnel = await load(s, spec, principal, key, for_update=True)
            text = await service.peer_config(s, runtime.current(), tunnel, format)
            if format is not ConfigFormat.HUB_PEER:
                await record(
                    s, principal=principal, meta=meta, entity=NAME, entity_id=str(tunnel.id), action="action",
                    changes={"action": "download_config", "format": format.value},
                )
            name = tunnel.tunnel_name
        return PlainTextResponse(
            text,
            headers={
                "Cache-Control": "no-store",
                "Content-Disposition": f'attachment; filename="{_filename(name, format)}"',
            },
        )

    async def rotate(key: Key, principal: Who, db: Db, meta: Meta) -> Any:
        permissions.require(principal, NAME, "update")
        async with db.tenant(str(principal.tenant_id), user_id=principal.id) as s:
            tunnel = await load(s, spec, principal, key, for_update=True)
            before = tunnel.public_key
            await service.rotate_key(s, runtime.current(), tunnel)
            await s.refresh(tunnel)
            await record(
                s, principal=principal, meta=meta, entity=NAME, entity_id=str(tunnel.id), action="action",
                changes={"action": "rotate_key", "public_key": [before, tunnel.public_key]},
            )
            return to_read(tunnel)

    async def handshakes(key: Key, body: HandshakeBody, principal: Who, db: Db) -> Any:
        permissions.require(principal, NAME, "update")
        async with db.tenant(str(principal.tenant_id), user_id=principal.id) as s:
            tunnel = await load(s, spec, principal, key, for_update=True)
            if not service.apply_dump(tunnel, body.dump, body.observed_at):
                raise ValidationFailed("dump: no peer with this tunnel's public key", field="dump")
            await s.flush()
            await s.refresh(tunnel)
            return to_read(tunnel)

    base = f"/api/v1/{NAME}/{{key}}"
    not_found: dict[int | str, dict[str, Any]] = {404: {"description": "not found (or another tenant's)"}}
    router.add_api_route(
        f"{base}/config", get_config, methods=["GET"], response_class=PlainTextResponse, tags=tags,
        summary="Download the peer's WireGuard config, once per key (records the download)",
        operation_id="vpn_tunnel_config",
        responses={**not_found, 409: {"description": "the tunnel lacks what the config needs, or the peer's "
                                                     "config was downloaded already (rotate for a new one)"},
                   200: {"content": {"text/plain": {}}}},
    )
    router.add_api_route(
        f"{base}/rotate", rotate, methods=["POST"], response_model=read_model, tags=tags,
        summary="Rotate the tunnel's key pair", operation_id="rotate_vpn_tunnel_key", responses=not_found,
    )
    router.add_api_route(
        f"{base}/handshakes", handshakes, methods=["POST"], response_model=read_model, tags=tags,
        summary="Update status and counters from a `wg show` dump", operation_id="vpn_tunnel_handshakes",
        responses=not_found,
    )
