"""Secret writes tied to a database transaction, so the row and the secret never disagree.

A secret store is not in the database's transaction. :class:`SecretChanges` makes the pair behave as
one unit of work with compensation:

- ``put(path, value)`` writes at once (before the row that names it commits); if the transaction then
  rolls back, the written secret is deleted again.
- ``delete_after_commit(path)`` deletes only once the transaction has committed (the old key of a
  rotation: until the commit, the row still names it).

Write new secrets to a **new path** (never overwrite the path a committed row names), then point the row
at it. Compensation is best effort: if the store is down at that moment the secret is left unreferenced
(logged with its path), never a row naming a missing secret.

Get the one instance of a session with :func:`secret_changes` (sync ``Session``, or an
``AsyncSession``'s ``sync_session``).

Every unit of work (``Database`` and ``AsyncDatabase``, tenant and platform) marks its session with
:func:`defer`: the deletions that follow the commit or the rollback are then only collected, and run once
the transaction has ended — by the sync unit of work directly, by the API's in a worker thread (an
``AsyncSession`` commits on the event loop, where a store call, an HTTP round trip to Vault, would stall
every other request). :func:`take_deferred` hands them over. ``put`` is a blocking store call made through
:func:`ispops.db.blocking.call_blocking`: in a thread when a service runs under ``AsyncSession.run_sync``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import structlog
from sqlalchemy import event
from sqlalchemy.orm import Session, SessionTransaction

from ispops.db.blocking import call_blocking
from ispops.secrets.store import SecretStore, check_path

log = structlog.get_logger(__name__)
_INFO_KEY = "ispops.secret_changes"
_DEFER_KEY = "ispops.secret_changes.defer"
_PENDING_KEY = "ispops.secret_changes.pending"  # deferred deletions: (path, what to log if it fails, by whom)


class SecretChanges:
    def __init__(self, store: SecretStore, session: Session) -> None:
        self.store = store
        self.created: list[str] = []
        self.obsolete: list[str] = []
        self._committed = False
        self._session = session
        event.listen(session, "after_commit", self._after_commit)
        event.listen(session, "after_transaction_end", self._after_transaction_end)

    def put(self, path: str, value: bytes) -> None:
        check_path(path)
        self.created.append(path)  # before the write: a write that fails half-way is cleaned up too
        call_blocking(self.store.put, path, value)

    def delete_after_commit(self, path: str) -> None:
        self.obsolete.append(check_path(path))

    def _after_commit(self, session: Session) -> None:
        self._committed = True
        obsolete, self.obsolete, self.created = self.obsolete, [], []
        for path in obsolete:
            self._delete(path, "obsolete secret left behind after commit")

    def _after_transaction_end(self, session: Session, transaction: SessionTransaction) -> None:
        if transaction.parent is not None or transaction.nested:
            return
        if not self._committed:
            created, self.created, self.obsolete = self.created, [], []
            for path in reversed(created):
                self._delete(path, "secret of a rolled-back transaction left behind")
        self._committed = False

    def _delete(self, path: str, what: str) -> None:
        if self._session.info.get(_DEFER_KEY):  # kept per session: every instance's deletions are settled
            self._session.info.setdefault(_PENDING_KEY, []).append((path, what, self))
            return
        self.delete_now(path, what)

    def delete_now(self, path: str, what: str) -> None:
        try:
            self.store.delete(path)
        except Exception as exc:  # compensation must not mask the original outcome
            log.warning(what, path=path, error=str(exc))


def secret_changes(session: Any, store: SecretStore) -> SecretChanges:
    """The :class:`SecretChanges` of ``session`` (an ORM ``Session`` or ``AsyncSession``)."""
    sync: Session = getattr(session, "sync_session", session)
    changes = sync.info.get(_INFO_KEY)
    if changes is None or changes.store is not store:
        changes = SecretChanges(store, sync)
        sync.info[_INFO_KEY] = changes
    assert isinstance(changes, SecretChanges)
    return changes


def defer(session: Any) -> None:
    """Collect ``session``'s deletions after commit or rollback for :func:`take_deferred` instead of running them."""
    sync: Session = getattr(session, "sync_session", session)
    sync.info[_DEFER_KEY] = True


def take_deferred(session: Any) -> Callable[[], None] | None:
    """The deletions :func:`defer` collected for ``session`` (call once its transaction has ended), as one
    blocking call that runs them all, or None when there are none. Each deletion that fails is logged with
    its path, like any compensation."""
    sync: Session = getattr(session, "sync_session", session)
    pending: list[tuple[str, str, SecretChanges]] = sync.info.pop(_PENDING_KEY, [])
    if not pending:
        return None

    def run() -> None:
        for path, what, changes in pending:
            changes.delete_now(path, what)

    return run
