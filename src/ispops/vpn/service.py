"""WireGuard tunnels: create (keys + address), rotate keys, render peer configs, handshake status.

Plain sync functions over an ORM ``Session`` (jobs call them as they are, the API through
``AsyncSession.run_sync``); the request or job owns the transaction; nothing here commits. The private
key is written to the secret store through :mod:`ispops.secrets.txn`, so a rolled-back transaction
deletes the secret it wrote and an old key is deleted only after the row naming the new one has
committed. The database keeps the public key and the secret's path (``private_key_vault_path``), never
the private key.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import secrets as pysecrets
import uuid
from typing import Any

from sqlalchemy import event, select
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.orm import Mapper, Session, object_session

from ispops.db.blocking import call_blocking
from ispops.errors import Conflict, ValidationFailed
from ispops.models import Device, VpnTunnel
from ispops.secrets import runtime
from ispops.secrets.store import SecretNotFound, SecretStore, tenant_path
from ispops.secrets.txn import secret_changes
from ispops.vpn import addresses, keys
from ispops.vpn.handshakes import UP_WITHIN, DumpError, parse_dump
from ispops.vpn.render import ConfigFormat, PeerConfig, parse_endpoint, render

TABLE = "vpn_tunnels"
SUPPORTED_TYPES = frozenset({"wireguard"})


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _invalid(field: str, message: str) -> ValidationFailed:
    return ValidationFailed(f"{TABLE}.{field}: {message}", table=TABLE, field=field)


def key_path(tenant_id: Any, tunnel_id: uuid.UUID) -> str:
    """A fresh secret path for a tunnel's private key: every key gets its own path, so a new key never
    overwrites the one a committed row still names."""
    return tenant_path(tenant_id, "vpn", str(tunnel_id), f"private_key-{pysecrets.token_hex(6)}")


def check_endpoint(value: str | None, field: str = "server_endpoint") -> None:
    if value is None:
        return
    try:
        parse_endpoint(value)
    except ValueError as exc:
        raise _invalid(field, str(exc)) from None


def check_update(tunnel: Any, changes: dict[str, Any]) -> None:
    """PATCH rules (``Resource.update_check``): endpoints must parse; the network must hold the address."""
    check_endpoint(changes.get("server_endpoint"))
    check_endpoint(changes.get("peer_endpoint"), "peer_endpoint")
    if changes.get("vpn_network") is not None:
        check_network(str(changes["vpn_network"]), str(tunnel.vpn_ip))


def check_network(network: str, ip: str) -> None:
    """The tunnel network (the peer's AllowedIPs and its address's prefix) must contain its address."""
    try:
        net = ipaddress.ip_network(network, strict=False)
    except ValueError:
        raise _invalid("vpn_network", f"{network!r} is not a network such as 10.99.0.0/24") from None
    address = ipaddress.ip_address(ip.split("/")[0])
    if address not in net:
        raise _invalid("vpn_network", f"{network} does not contain the tunnel's address {address}")


def _put_secret(session: Session, store: SecretStore, path: str, private_key: str) -> None:
    secret_changes(session, store).put(path, private_key.encode("ascii"))  # off the event loop under run_sync


def create_tunnel(session: Session, store: SecretStore, tenant_id: Any, data: dict[str, Any]) -> VpnTunnel:
    """A new WireGuard tunnel for a device: address from ``ip_pool_id`` (next free, or ``vpn_ip``; or
    the pool containing ``vpn_ip``; or the tenant's ``vpn`` pool), a fresh key pair, the private key in the
    secret store."""
    data = dict(data)
    pool_id: uuid.UUID | None = data.pop("ip_pool_id", None)
    requested: str | None = data.pop("vpn_ip", None)
    tunnel_type = data.setdefault("tunnel_type", "wireguard")
    if tunnel_type not in SUPPORTED_TYPES:
        raise _invalid("tunnel_type", f"only {', '.join(sorted(SUPPORTED_TYPES))} tunnels can be created here")
    check_endpoint(data.get("server_endpoint"))
    check_endpoint(data.get("peer_endpoint"), "peer_endpoint")
    device_id = data.get("device_id")
    if device_id is None:
        raise _invalid("device_id", "a tunnel is created for a device")
    device = session.scalar(
        select(Device.id).where(Device.tenant_id == tenant_id, Device.id == device_id, Device.deleted_at.is_(None))
    )
    if device is None:
        raise _invalid("device_id", "no such device")
    if pool_id is None:
        pool_id = (
            addresses.vpn_pool(session, tenant_id)
            if requested is None
            else addresses.pool_containing(session, tenant_id, requested)
        )
    address = addresses.allocate(session, tenant_id, pool_id, requested)
    if data.get("vpn_network") is not None:
        check_network(str(data["vpn_network"]), address.ip)
    pair = keys.generate()
    tunnel_id = uuid.uuid4()
    path = key_path(tenant_id, tunnel_id)
    now = _now()
    tunnel = VpnTunnel(
        **data,
        id=tunnel_id,
        tenant_id=tenant_id,
        vpn_ip=address.ip,
        vpn_network=data.get("vpn_network") or address.network,
        ip_allocation_id=address.allocation_id,
        public_key=pair.public_key,
        private_key_vault_path=path,
        config_generated_at=now,
    )
    session.add(tunnel)
    session.flush()  # name and address conflicts surface here, before the secret is written
    _put_secret(session, store, path, pair.private_key)
    return tunnel


def rotate_key(session: Session, store: SecretStore, tunnel: VpnTunnel) -> VpnTunnel:
    """A new key pair. The new secret is written first, the row then names it, and the old secret is
    deleted only after the commit; a failure anywhere leaves the old key in force."""
    if tunnel.tunnel_type not in SUPPORTED_TYPES:
        raise Conflict(f"{TABLE}: only WireGuard keys can be rotated", table=TABLE, field="tunnel_type")
    pair = keys.generate()
    old_path = tunnel.private_key_vault_path
    new_path = key_path(tunnel.tenant_id, tunnel.id)
    _put_secret(session, store, new_path, pair.private_key)
    now = _now()
    tunnel.public_key = pair.public_key
    tunnel.private_key_vault_path = new_path
    tunnel.key_rotated_at = now
    tunnel.config_generated_at = now
    tunnel.config_downloaded_at = None  # the device needs the new config
    tunnel.last_handshake = None
    tunnel.status = "configured"
    session.flush()
    if old_path and old_path != new_path:
        secret_changes(session, store).delete_after_commit(old_path)
    return tunnel


def _peer(tunnel: VpnTunnel, private_key: str | None) -> PeerConfig:
    missing = [
        f for f in ("public_key", "server_public_key", "server_endpoint", "vpn_network") if not getattr(tunnel, f)
    ]
    if missing:
        raise Conflict(f"{TABLE}.{missing[0]}: must be set to render a config", table=TABLE, field=missing[0])
    try:
        endpoint = parse_endpoint(str(tunnel.server_endpoint))
    except ValueError as exc:
        raise Conflict(f"{TABLE}.server_endpoint: {exc}", table=TABLE, field="server_endpoint") from None
    return PeerConfig(
        tunnel_id=tunnel.id,
        tunnel_name=tunnel.tunnel_name,
        vpn_ip=str(tunnel.vpn_ip),
        vpn_network=str(tunnel.vpn_network),
        server_public_key=str(tunnel.server_public_key),
        server_endpoint=endpoint,
        peer_public_key=str(tunnel.public_key),
        persistent_keepalive=tunnel.persistent_keepalive,
        private_key=private_key,
    )


def peer_config(session: Session, store: SecretStore, tunnel: VpnTunnel, fmt: ConfigFormat) -> str:
    """The rendered config. The peer's own formats read the private key and record the download, once:
    a second download is a 409 naming ``config_downloaded_at`` until a key rotation issues a new key."""
    if fmt is ConfigFormat.HUB_PEER:
        return render(_peer(tunnel, None), fmt)
    _peer(tunnel, None)  # everything but the key is there, before the store is asked
    if tunnel.config_downloaded_at is not None:
        raise Conflict(
            f"{TABLE}.config_downloaded_at: the peer's config (with its private key) was downloaded at "
            f"{tunnel.config_downloaded_at.isoformat(timespec='seconds')} and is given once; rotate the key "
            "(POST .../rotate) for a new one",
            table=TABLE,
            field="config_downloaded_at",
        )
    path = tunnel.private_key_vault_path
    if not path:
        raise Conflict(
            f"{TABLE}: this tunnel has no private key; rotate to make one", table=TABLE, field="private_key_vault_path"
        )
    try:
        private_key = call_blocking(store.get, path).decode("ascii")
    except SecretNotFound:
        raise Conflict(
            f"{TABLE}: the private key is missing from the secret store; rotate to make a new one",
            table=TABLE,
            field="private_key_vault_path",
        ) from None
    if not keys.is_key(private_key) or keys.public_key_of(private_key) != tunnel.public_key:
        raise Conflict(
            f"{TABLE}: the stored private key does not match public_key; rotate to make a new one",
            table=TABLE,
            field="private_key_vault_path",
        )
    text = render(_peer(tunnel, private_key), fmt)
    tunnel.config_downloaded_at = _now()
    session.flush()
    return text


def apply_dump(tunnel: VpnTunnel, dump: str, observed_at: dt.datetime | None = None) -> bool:
    """Update the tunnel from a ``wg show`` dump taken on the hub at ``observed_at`` (default now).
    Returns whether the dump had this tunnel's peer; raises 422 (field ``dump``) on malformed text."""
    try:
        peers = parse_dump(dump)
    except DumpError as exc:
        raise ValidationFailed(f"dump: {exc}", field="dump") from None
    when = observed_at or _now()
    if when.tzinfo is None:
        raise ValidationFailed("observed_at: needs a time zone", field="observed_at")
    peer = next((p for p in peers if p.public_key == tunnel.public_key), None)
    if peer is None:
        return False
    if peer.latest_handshake is not None:
        tunnel.last_handshake = peer.latest_handshake
    tunnel.data_rx_bytes = peer.rx_bytes
    tunnel.data_tx_bytes = peer.tx_bytes
    if peer.endpoint:
        tunnel.peer_endpoint = peer.endpoint[:255]
    if peer.is_up(when, UP_WITHIN):
        tunnel.status = "active"
    elif peer.latest_handshake is not None or tunnel.status == "active":
        tunnel.status = "disconnected"
    return True


@event.listens_for(VpnTunnel, "after_update")
def _forget_key_of_deleted_tunnel(mapper: Mapper[Any], connection: Any, target: VpnTunnel) -> None:
    """A soft-deleted tunnel's private key is destroyed once the deletion commits."""
    added = sa_inspect(target).attrs.deleted_at.history.added
    path = target.private_key_vault_path
    session = object_session(target)
    if added and added[0] is not None and path and session is not None:
        secret_changes(session, runtime.current()).delete_after_commit(path)
