"""One unit of work, two front doors: the same scenario through the sync ``Database`` (jobs, CLI) and the
API's ``AsyncDatabase`` (the service run through ``AsyncSession.run_sync``) ends the same way — the same
refusal for a tenant that may not work, secrets deleted only once the transaction has committed, a
rolled-back secret compensated — and the secret store is never called on the event loop's thread."""

from __future__ import annotations

import asyncio
import os
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Literal, TypeVar

import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from ispops.db.async_session import AsyncDatabase
from ispops.db.session import Database
from ispops.errors import PermissionDenied
from ispops.ipam import service as ipam
from ispops.models import Subscriber
from ispops.radius import provisioning
from ispops.secrets.file import FileSecretStore
from ispops.secrets.txn import secret_changes
from ispops.vpn import service as vpn
from ispops.vpn.render import ConfigFormat
from tests.factories import make_tenant, populate
from tests.vpn.conftest import HUB_KEY, add_pool

T = TypeVar("T")
Door = Literal["sync", "async"]
DOORS: tuple[Door, ...] = ("sync", "async")
CUSTOMER = text("insert into customers (tenant_id, customer_number, name) values (:t, :n, :n)")


class Boom(Exception):
    pass


class NotingStore(FileSecretStore):
    """A real file store that notes, for each call, the thread it ran on and whether the customer the
    scenario writes was committed at that moment (read through another connection)."""

    calls: list[tuple[str, str, int, bool]]
    admin: psycopg.Connection[Any]

    def _note(self, op: str, path: str) -> None:
        committed = self.admin.execute("select count(*) from customers where name = 'C-1'").fetchone()
        self.calls.append((op, path, threading.get_ident(), bool(committed and committed[0])))

    def put(self, path: str, value: bytes) -> None:
        self._note("put", path)
        super().put(path, value)

    def get(self, path: str) -> bytes:
        self._note("get", path)
        return super().get(path)

    def delete(self, path: str) -> None:
        self._note("delete", path)
        super().delete(path)


@pytest.fixture
def store(tmp_path: Path, admin: psycopg.Connection[Any]) -> NotingStore:
    noting = NotingStore(tmp_path / "secrets", os.urandom(32))
    noting.calls, noting.admin = [], admin
    return noting


@pytest.fixture
def adb(db: Database) -> Iterator[AsyncDatabase]:
    adb = AsyncDatabase(db.server, pool_size=2)
    yield adb
    asyncio.run(adb.dispose())


def through(
    door: Door, db: Database, adb: AsyncDatabase, tenant: str, scenario: Callable[[Session], T], **options: Any
) -> tuple[T, int | None]:
    """Run ``scenario`` (a sync service) in a tenant unit of work entered through ``door``; its result, and
    the event loop's thread (None for the sync door)."""
    if door == "sync":
        with db.tenant(tenant, **options) as s:
            return scenario(s), None

    async def request() -> tuple[T, int | None]:
        loop_thread = threading.get_ident()
        async with adb.tenant(tenant, **options) as s:
            return await s.run_sync(scenario), loop_thread

    return asyncio.run(request())


def refusal(door: Door, db: Database, adb: AsyncDatabase, tenant: str) -> str:
    with pytest.raises(PermissionDenied) as refused:
        through(door, db, adb, tenant, lambda s: s.execute(text("select 1")).scalar())
    assert refused.value.status == 403
    return refused.value.message


@pytest.mark.parametrize("status", ["suspended", "cancelled", "inactive", "pending"])
def test_a_tenant_that_may_not_work_is_refused_the_same_way(
    db: Database, adb: AsyncDatabase, admin: psycopg.Connection[Any], status: str
) -> None:
    make_tenant(db, "isp-x", status=status)
    sync, api = refusal("sync", db, adb, "isp-x"), refusal("async", db, adb, "isp-x")
    assert sync == api == "this ISP's account is suspended"
    # Work the platform does for the tenant whatever its status opts out, through either door alike.
    for door in DOORS:
        tenant_seen, _ = through(
            door,
            db,
            adb,
            "isp-x",
            lambda s: s.scalar(text("select current_setting('app.current_tenant_id', true)")),
            enforce_status=False,
        )
        assert tenant_seen == "isp-x"


def test_deleted_missing_and_expired_tenants_are_refused_the_same_way(
    db: Database, adb: AsyncDatabase, admin: psycopg.Connection[Any]
) -> None:
    make_tenant(db, "isp-gone")
    admin.execute("update tenants set deleted_at = now() where id = 'isp-gone'")
    make_tenant(db, "isp-trial", status="trial")
    admin.execute("update tenants set trial_ends_at = now() - interval '1 second' where id = 'isp-trial'")
    make_tenant(db, "isp-on-trial", status="trial")
    admin.execute("update tenants set trial_ends_at = now() + interval '1 day' where id = 'isp-on-trial'")
    for tenant, message in [
        ("isp-gone", "this ISP's account is closed"),
        ("no-such-isp", "this ISP's account is closed"),
        ("isp-trial", "this ISP's trial has ended"),
    ]:
        assert refusal("sync", db, adb, tenant) == refusal("async", db, adb, tenant) == message
    for door in DOORS:
        assert through(door, db, adb, "isp-on-trial", lambda s: s.scalar(text("select 1")))[0] == 1


@pytest.mark.parametrize("door", DOORS)
def test_an_obsolete_secret_is_deleted_only_after_the_commit(
    db: Database, adb: AsyncDatabase, store: NotingStore, door: Door
) -> None:
    make_tenant(db, "isp-a")
    store.put("old", b"1")
    store.calls.clear()

    def rotate(s: Session) -> bool:
        changes = secret_changes(s, store)
        changes.put("new", b"2")
        changes.delete_after_commit("old")
        s.execute(CUSTOMER, {"t": "isp-a", "n": "C-1"})
        s.flush()
        return store.exists("old")

    kept_until_commit, loop_thread = through(door, db, adb, "isp-a", rotate)
    calls = list(store.calls)
    assert kept_until_commit
    assert store.get("new") == b"2" and not store.exists("old")
    deletions = [(path, committed) for op, path, _, committed in calls if op == "delete"]
    assert deletions == [("old", True)]  # once, and the row of the same transaction was committed by then
    assert [op for op, _, _, _ in calls] == ["put", "delete"]
    assert loop_thread not in {thread for _, _, thread, _ in calls}


@pytest.mark.parametrize("door", DOORS)
def test_a_rolled_back_secret_is_deleted_and_the_old_one_kept(
    db: Database, adb: AsyncDatabase, store: NotingStore, door: Door
) -> None:
    make_tenant(db, "isp-a")
    store.put("old", b"1")
    store.calls.clear()

    def rotate_then_fail(s: Session) -> None:
        changes = secret_changes(s, store)
        changes.put("new", b"2")
        changes.delete_after_commit("old")
        s.execute(CUSTOMER, {"t": "isp-a", "n": "C-1"})
        raise Boom

    with pytest.raises(Boom):
        through(door, db, adb, "isp-a", rotate_then_fail)
    assert not store.exists("new") and store.get("old") == b"1"
    assert [(op, path, committed) for op, path, _, committed in store.calls if op == "delete"] == [
        ("delete", "new", False)
    ]


def test_one_job_calls_ipam_radius_and_vpn_services_the_same_through_both_doors(
    db: Database, adb: AsyncDatabase, store: NotingStore
) -> None:
    """What the lifecycle jobs will do: several domains' services in one transaction. The API door runs the
    very same functions through run_sync; every store call (put, get, the deletion after the commit) runs
    off the event loop's thread there."""
    worlds = {tenant: populate(db, tenant, n) for n, tenant in enumerate(("tenant-a", "tenant-b"), start=1)}
    pools = {tenant: add_pool(db, tenant) for tenant in worlds}
    store.calls.clear()

    def activation(tenant: str) -> Callable[[Session], tuple[str, str, str, str]]:
        world = worlds[tenant]

        def run(s: Session) -> tuple[str, str, str, str]:
            sub = s.get_one(Subscriber, uuid.UUID(world["subscribers"]))
            sub.pppoe_username = f"user-{tenant}"
            address = ipam.allocate(s, tenant_id=tenant, pool_id=uuid.UUID(world["ip_pools"]), subscriber_id=sub.id)
            attribute = provisioning.set_password(s, tenant_id=tenant, subscriber_id=sub.id, password="s3cret-pass")
            tunnel = vpn.create_tunnel(
                s,
                store,
                tenant,
                {
                    "tunnel_name": "wg-cpe",
                    "device_id": world["devices"],
                    "ip_pool_id": uuid.UUID(pools[tenant]),
                    "server_public_key": HUB_KEY,
                    "server_endpoint": "vpn.isp.example:51820",
                },
            )
            first_key = str(tunnel.private_key_vault_path)
            vpn.rotate_key(s, store, tunnel)
            config = vpn.peer_config(s, store, tunnel, ConfigFormat.WG_QUICK)
            assert "PrivateKey = " in config
            return str(address.ip_address), attribute, str(tunnel.vpn_ip), first_key

        return run

    sync_result, _ = through("sync", db, adb, "tenant-a", activation("tenant-a"), enforce_status=False)
    sync_calls = list(store.calls)
    store.calls.clear()
    api_result, loop_thread = through("async", db, adb, "tenant-b", activation("tenant-b"))
    assert sync_result[:3] == api_result[:3]
    assert sync_result[1:3] == ("Cleartext-Password", "10.99.0.3")
    for calls, first_key in ((sync_calls, sync_result[3]), (store.calls, api_result[3])):
        assert [op for op, _, _, _ in calls] == ["put", "put", "get", "delete"]
        assert calls[-1][1] == first_key  # the first key, deleted once the transaction committed
    assert loop_thread is not None and all(thread != loop_thread for _, _, thread, _ in store.calls)
