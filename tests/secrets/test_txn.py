"""Secrets tied to a real database transaction: rolled back → the new secret goes; committed → the
obsolete one goes, and only then."""

from __future__ import annotations

import asyncio
import os
import threading

import pytest
from sqlalchemy import text

from ispops.db.async_session import AsyncDatabase
from ispops.db.session import Database
from ispops.errors import Conflict
from ispops.secrets.file import FileSecretStore
from ispops.secrets.store import SecretStoreError
from ispops.secrets.txn import secret_changes
from tests.factories import make_tenant


class Boom(Exception):
    pass


@pytest.fixture
def tenant(db: Database) -> str:
    make_tenant(db, "tenant-s")
    return "tenant-s"


def test_commit_keeps_new_and_deletes_obsolete(db: Database, tenant: str, file_store: FileSecretStore) -> None:
    file_store.put("old", b"1")
    with db.tenant(tenant) as session:
        changes = secret_changes(session, file_store)
        changes.put("new", b"2")
        changes.delete_after_commit("old")
        session.execute(text("select 1"))
        assert file_store.exists("old"), "the old secret stays until the commit"
    assert file_store.get("new") == b"2"
    assert not file_store.exists("old")


def test_rollback_deletes_new_and_keeps_obsolete(db: Database, tenant: str, file_store: FileSecretStore) -> None:
    file_store.put("old", b"1")
    with pytest.raises(Boom), db.tenant(tenant) as session:
        changes = secret_changes(session, file_store)
        changes.put("new", b"2")
        changes.delete_after_commit("old")
        raise Boom
    assert not file_store.exists("new")
    assert file_store.get("old") == b"1"


def test_failed_commit_deletes_new(db: Database, tenant: str, file_store: FileSecretStore) -> None:
    """A database error after the secret was written rolls the secret back too."""
    with pytest.raises(Conflict, match="already exists"), db.tenant(tenant) as session:
        secret_changes(session, file_store).put("new", b"2")
        session.execute(
            text("insert into customers (tenant_id, customer_number, name) values (:t, 'C', 'x')"), {"t": tenant}
        )
        session.execute(
            text("insert into customers (tenant_id, customer_number, name) values (:t, 'C', 'y')"), {"t": tenant}
        )
    assert not file_store.exists("new")


def test_compensation_failure_does_not_mask_the_error(
    db: Database, tenant: str, file_store: FileSecretStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken_delete(path: str) -> None:
        raise SecretStoreError("down")

    with pytest.raises(Boom), db.tenant(tenant) as session:
        secret_changes(session, file_store).put("new", b"2")
        monkeypatch.setattr(file_store, "delete", broken_delete)
        raise Boom
    monkeypatch.undo()
    assert file_store.exists("new")  # left unreferenced (and logged), never a row naming a missing secret


def test_one_instance_per_session(db: Database, tenant: str, file_store: FileSecretStore) -> None:
    with db.tenant(tenant) as session:
        assert secret_changes(session, file_store) is secret_changes(session, file_store)


class ThreadNoting(FileSecretStore):
    """A file store that notes the thread of each deletion."""

    deleted_in: list[int]

    def delete(self, path: str) -> None:
        self.deleted_in.append(threading.get_ident())
        super().delete(path)


@pytest.mark.parametrize("outcome", ["commit", "rollback"])
def test_the_api_unit_of_work_deletes_off_the_event_loop(
    db: Database, tenant: str, file_store: FileSecretStore, outcome: str
) -> None:  # file_store: for its folder
    """AsyncDatabase: deletions after a commit (the obsolete secret) or a rollback (the new one) run in a
    worker thread once the transaction ended, not on the event loop during the commit."""
    store = ThreadNoting(file_store.root / "noting", os.urandom(32))
    store.deleted_in = []
    store.put("old", b"1")
    seen: dict[str, object] = {}

    async def request() -> None:
        adb = AsyncDatabase(db.server, pool_size=1)
        seen["loop"] = threading.get_ident()
        try:
            async with adb.tenant(tenant) as session:
                changes = secret_changes(session, store)
                await asyncio.to_thread(changes.put, "new", b"2")
                changes.delete_after_commit("old")
                await session.execute(text("select 1"))
                if outcome == "rollback":
                    raise Boom
        except Boom:
            pass
        finally:
            await adb.dispose()

    asyncio.run(request())
    gone, kept = ("old", "new") if outcome == "commit" else ("new", "old")
    assert not store.exists(gone) and store.exists(kept)
    assert len(store.deleted_in) == 1 and store.deleted_in[0] != seen["loop"]
