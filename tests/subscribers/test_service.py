"""``ispops.subscribers.service.change_status``, called directly on a unit of work as a lifecycle job would:
every transition from every status, the 409 naming ``status``, the audit event, and no commit of its own."""

from __future__ import annotations

import uuid
from typing import Any

import psycopg
import pytest
from sqlalchemy import text

from ispops.auth.principal import Principal, RequestMeta
from ispops.db.session import Database
from ispops.errors import Conflict, NotFound
from ispops.models.subscribers import SubscriberStatus
from ispops.subscribers.service import TRANSITIONS, Action, change_status
from tests.factories import make_tenant

TENANT = "isp-a"
STAFF = Principal(kind="user", id="u-support", tenant_id=TENANT, roles=frozenset({"support_agent"}))
META = RequestMeta(ip="192.0.2.7", request_id="req-lifecycle-1", user_agent="job")
ACTIONS: list[Action] = ["activate", "suspend", "resume", "terminate"]
# What each action may start from and where it leads (the rules of docs/api.md, spelled out).
EXPECTED = {
    "activate": ({"pending", "on_hold"}, "active"),
    "suspend": ({"active"}, "suspended"),
    "resume": ({"suspended"}, "active"),
    "terminate": ({"pending", "active", "suspended", "on_hold"}, "terminated"),
}


def subscriber(db: Database, status: str, *, tenant: str = TENANT, reason: str | None = None) -> uuid.UUID:
    with db.tenant(tenant) as s:
        customer = s.execute(
            text("insert into customers (tenant_id, customer_number, name) values (:t, :n, 'Ada') returning id"),
            {"t": tenant, "n": f"C-{uuid.uuid4().hex[:8]}"},
        ).scalar_one()
        return uuid.UUID(
            str(
                s.execute(
                    text(
                        "insert into subscribers (tenant_id, customer_id, subscriber_number, service_type, status, "
                        "suspension_reason) values (:t, :c, :n, 'ftth', :s, :r) returning id"
                    ),
                    {"t": tenant, "c": customer, "n": f"SUB-{uuid.uuid4().hex[:8]}", "s": status, "r": reason},
                ).scalar_one()
            )
        )


def row(admin: psycopg.Connection[Any], sid: uuid.UUID) -> dict[str, Any]:
    cur = admin.execute(
        "select status, suspension_reason, service_activated_at, service_suspended_at, service_terminated_at "
        "from subscribers where id = %s",
        (sid,),
    )
    names = [c.name for c in cur.description or []]
    found = cur.fetchone()
    assert found is not None
    return dict(zip(names, found, strict=True))


def events(admin: psycopg.Connection[Any], sid: uuid.UUID) -> list[tuple[Any, ...]]:
    return admin.execute(
        "select tenant_id, actor_kind, actor_id, host(ip), request_id, entity, action, changes from audit_events "
        "where entity_id = %s order by id",
        (str(sid),),
    ).fetchall()


def test_the_rules_are_the_ones_the_api_documents() -> None:
    assert {a: (set(t.sources), t.target) for a, t in TRANSITIONS.items()} == EXPECTED
    assert {s for sources, _ in EXPECTED.values() for s in sources} | {"terminated"} == set(SubscriberStatus)


@pytest.mark.parametrize("action", ACTIONS)
@pytest.mark.parametrize("status", [s.value for s in SubscriberStatus])
def test_every_action_from_every_status(
    action: Action, status: str, db: Database, admin: psycopg.Connection[Any]
) -> None:
    make_tenant(db, TENANT)
    sid = subscriber(db, status, reason="old reason" if status == "suspended" else None)
    before = row(admin, sid)
    sources, target = EXPECTED[action]
    if status not in sources:
        with pytest.raises(Conflict) as refused, db.tenant(TENANT, user_id=STAFF.id) as s:
            change_status(s, tenant_id=TENANT, subscriber_id=sid, action=action, principal=STAFF, meta=META)
        assert refused.value.status == 409 and refused.value.field == "status"
        assert refused.value.message == f"subscribers: cannot {action} a subscriber that is {status}"
        assert row(admin, sid) == before and events(admin, sid) == []
        return
    with db.tenant(TENANT, user_id=STAFF.id) as s:
        sub = change_status(
            s, tenant_id=TENANT, subscriber_id=sid, action=action, reason="unpaid", principal=STAFF, meta=META
        )
        assert sub.status == target
    after = row(admin, sid)
    assert after["status"] == target
    if action == "suspend":
        assert after["suspension_reason"] == "unpaid" and after["service_suspended_at"] is not None
    elif action in ("activate", "resume"):
        assert after["suspension_reason"] is None and after["service_activated_at"] is not None
    else:
        assert after["service_terminated_at"] is not None
        assert after["suspension_reason"] == before["suspension_reason"]  # termination keeps the record
    assert events(admin, sid) == [
        (
            TENANT,
            "user",
            STAFF.id,
            "192.0.2.7",
            META.request_id,
            "subscribers",
            "action",
            {"action": action, "status": [status, target], "reason": "unpaid"},
        )
    ]


def test_resume_keeps_the_first_activation_time(db: Database, admin: psycopg.Connection[Any]) -> None:
    make_tenant(db, TENANT)
    sid = subscriber(db, "pending")
    for action in ("activate", "suspend", "resume"):
        with db.tenant(TENANT, user_id=STAFF.id) as s:
            change_status(s, tenant_id=TENANT, subscriber_id=sid, action=action, principal=STAFF, meta=META)
        if action == "activate":
            activated = row(admin, sid)["service_activated_at"]
    assert row(admin, sid)["service_activated_at"] == activated
    assert row(admin, sid)["suspension_reason"] is None
    assert [e[7]["status"] for e in events(admin, sid)] == [
        ["pending", "active"],
        ["active", "suspended"],
        ["suspended", "active"],
    ]


def test_it_does_not_commit(db: Database, admin: psycopg.Connection[Any]) -> None:
    """The caller's unit of work decides: rolled back, nothing changed and nothing audited."""
    make_tenant(db, TENANT)
    sid = subscriber(db, "active")
    with pytest.raises(RuntimeError), db.tenant(TENANT, user_id=STAFF.id) as s:
        change_status(s, tenant_id=TENANT, subscriber_id=sid, action="suspend", principal=STAFF, meta=META)
        raise RuntimeError("a later step of the job failed")
    assert row(admin, sid)["status"] == "active" and events(admin, sid) == []


def test_another_tenants_or_a_deleted_subscriber_is_not_found(db: Database, admin: psycopg.Connection[Any]) -> None:
    make_tenant(db, TENANT)
    make_tenant(db, "isp-b")
    theirs = subscriber(db, "active", tenant="isp-b")
    gone = subscriber(db, "active")
    admin.execute("update subscribers set deleted_at = now() where id = %s", (gone,))
    for sid, tenant in ((theirs, TENANT), (gone, TENANT), (uuid.uuid4(), TENANT)):
        with pytest.raises(NotFound) as missing, db.tenant(tenant, user_id=STAFF.id) as s:
            change_status(s, tenant_id=tenant, subscriber_id=sid, action="suspend", principal=STAFF, meta=META)
        assert missing.value.status == 404 and missing.value.message == "subscribers: no such record"
    assert row(admin, theirs)["status"] == "active" and events(admin, theirs) == []


def test_an_unknown_action_is_refused(db: Database) -> None:
    make_tenant(db, TENANT)
    sid = subscriber(db, "active")
    with pytest.raises(ValueError, match="reactivate"), db.tenant(TENANT, user_id=STAFF.id) as s:
        change_status(
            s,
            tenant_id=TENANT,
            subscriber_id=sid,
            action="reactivate",  # type: ignore[arg-type]
            principal=STAFF,
            meta=META,
        )
