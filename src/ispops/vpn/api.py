"""VPN tunnels over HTTP: the resource, and routes beyond CRUD: the peer config, key rotation, handshakes.

Creation goes through the generic ``POST /api/v1/vpn_tunnels`` with :func:`create_hook`. The private
key appears in no response except the rendered peer config (``wg-quick`` or ``routeros``).
"""

import datetime as dt
import re
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel, Field

from ispops.api import permissions
from ispops.api.crud import Resource, load, row_of, serialize_row
from ispops.api.schemas import Inet
from ispops.auth.deps import Scope
from ispops.errors import ValidationFailed
from ispops.models import VpnTunnel
from ispops.secrets import runtime
from ispops.vpn import service
from ispops.vpn.render import ConfigFormat

NAME = "vpn_tunnels"
MAX_DUMP = 4 * 1024 * 1024
SUFFIX = {ConfigFormat.WG_QUICK: "conf", ConfigFormat.ROUTEROS: "rsc", ConfigFormat.HUB_PEER: "conf"}


async def create_hook(session: Any, tenant_id: str, body: BaseModel) -> Any:
    """``Resource.create_hook`` for vpn_tunnels."""
    return await session.run_sync(
        service.create_tunnel, runtime.current(), tenant_id, body.model_dump(exclude_unset=True)
    )


class HandshakeBody(BaseModel):
    dump: str = Field(max_length=MAX_DUMP, description="output of `wg show <interface> dump` on the hub")
    observed_at: dt.datetime | None = Field(
        None, description="when the dump was taken (default: now); handshakes older than 180 s mean down"
    )


TUNNELS = Resource(
    NAME,
    VpnTunnel,
    tag="devices",
    filters=("device_id", "status", "tunnel_type"),
    search=("tunnel_name",),
    sort=("created_at", "tunnel_name"),
    # Created by ispops.vpn (keys, address from the pool); keys and status change through its actions.
    read_only=frozenset(
        {
            "public_key",
            "private_key_vault_path",
            "status",
            "last_handshake",
            "data_rx_bytes",
            "data_tx_bytes",
            "config_generated_at",
            "config_downloaded_at",
            "ip_allocation_id",
            "key_rotated_at",
        }
    ),
    create_only=frozenset({"device_id", "tunnel_type", "vpn_ip"}),
    create_extra={"vpn_ip": (Inet | None, None), "ip_pool_id": (uuid.UUID | None, None)},
    create_hook=create_hook,
    update_check=service.check_update,
)
RESOURCES: list[Resource] = [TUNNELS]

Key = Annotated[uuid.UUID, Path(description="the tunnel's id")]


def _filename(name: str, fmt: ConfigFormat) -> str:
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", name)[:60] or "tunnel"
    return f"{safe}.{SUFFIX[fmt]}"


def register(router: APIRouter) -> None:
    spec = TUNNELS
    read_model = spec.read_model
    tags: list[str | Any] = [spec.tag or NAME]

    def to_read(obj: Any) -> Any:
        return read_model.model_validate(serialize_row(spec, row_of(obj)))

    async def get_config(
        key: Key,
        scope: Scope,
        format: Annotated[ConfigFormat, Query(description="wg-quick, routeros, or hub-peer")] = (ConfigFormat.WG_QUICK),
    ) -> PlainTextResponse:
        # The peer's formats carry its private key: as sensitive as a change. The hub's stanza is not.
        permissions.require(scope.principal, NAME, "read" if format is ConfigFormat.HUB_PEER else "update")
        async with scope.session() as s:
            tunnel = await load(s, spec, scope.tenant_id, key, for_update=True)
            text = await s.run_sync(service.peer_config, runtime.current(), tunnel, format)
            if format is not ConfigFormat.HUB_PEER:
                scope.audit(s, NAME, tunnel.id, "action", {"action": "download_config", "format": format.value})
            name = tunnel.tunnel_name
        return PlainTextResponse(
            text,
            headers={
                "Cache-Control": "no-store",
                "Content-Disposition": f'attachment; filename="{_filename(name, format)}"',
            },
        )

    async def rotate(key: Key, scope: Scope) -> Any:
        permissions.require(scope.principal, NAME, "update")
        async with scope.session() as s:
            tunnel = await load(s, spec, scope.tenant_id, key, for_update=True)
            before = tunnel.public_key
            await s.run_sync(service.rotate_key, runtime.current(), tunnel)
            await s.refresh(tunnel)
            scope.audit(
                s, NAME, tunnel.id, "action", {"action": "rotate_key", "public_key": [before, tunnel.public_key]}
            )
            return to_read(tunnel)

    async def handshakes(key: Key, body: HandshakeBody, scope: Scope) -> Any:
        permissions.require(scope.principal, NAME, "update")
        async with scope.session() as s:
            tunnel = await load(s, spec, scope.tenant_id, key, for_update=True)
            if not service.apply_dump(tunnel, body.dump, body.observed_at):
                raise ValidationFailed("dump: no peer with this tunnel's public key", field="dump")
            await s.flush()
            await s.refresh(tunnel)
            return to_read(tunnel)

    base = f"/api/v1/{NAME}/{{key}}"
    not_found: dict[int | str, dict[str, Any]] = {404: {"description": "not found (or another tenant's)"}}
    router.add_api_route(
        f"{base}/config",
        get_config,
        methods=["GET"],
        response_class=PlainTextResponse,
        tags=tags,
        summary="Download the peer's WireGuard config, once per key (records the download)",
        operation_id="vpn_tunnel_config",
        responses={
            **not_found,
            409: {
                "description": "the tunnel lacks what the config needs, or the peer's "
                "config was downloaded already (rotate for a new one)"
            },
            200: {"content": {"text/plain": {}}},
        },
    )
    router.add_api_route(
        f"{base}/rotate",
        rotate,
        methods=["POST"],
        response_model=read_model,
        tags=tags,
        summary="Rotate the tunnel's key pair",
        operation_id="rotate_vpn_tunnel_key",
        responses=not_found,
    )
    router.add_api_route(
        f"{base}/handshakes",
        handshakes,
        methods=["POST"],
        response_model=read_model,
        tags=tags,
        summary="Update status and counters from a `wg show` dump",
        operation_id="vpn_tunnel_handshakes",
        responses=not_found,
    )
