"""Operations pages (``/console/operations/...``): orders with their step log, retry and cancel by role;
automation jobs with live output; webhooks with their delivery log; the audit log's filters; users and
settings; and another tenant's records as 404 everywhere."""

from __future__ import annotations

import re
import uuid
from typing import TYPE_CHECKING, Any

import psycopg
import pytest
from sqlalchemy import text

from ispops.db.session import Database
from ispops.lifecycle import orders
from tests.console.conftest import TenantFactory, console_login, csrf_of, signed_in

if TYPE_CHECKING:
    from playwright.sync_api import Page

QUEUE = ", ".join(f"procrastinate.procrastinate_{t}" for t in ("jobs", "workers", "periodic_defers", "events"))


@pytest.fixture
def queue_empty(admin: psycopg.Connection[Any]) -> None:
    admin.execute(f"truncate {QUEUE} restart identity cascade")


def subscriber(db: Database, tenant: str, number: str, status: str = "active") -> uuid.UUID:
    with db.tenant(tenant) as s:
        value = s.execute(
            text(
                "insert into subscribers (tenant_id, subscriber_number, service_type, status) "
                "values (:t, :n, 'dsl', :s) returning id"
            ),
            {"t": tenant, "n": number, "s": status},
        ).scalar_one()
    assert isinstance(value, uuid.UUID)
    return value


def submit(db: Database, tenant: str, sub: uuid.UUID, order_type: str = "suspend") -> uuid.UUID:
    with db.tenant(tenant) as s:
        params = {"reason": "unpaid"} if order_type == "suspend" else {}
        order = orders.submit(s, tenant, orders.Submission(order_type, sub, params))
        return order.id


def job(db: Database, tenant: str, status: str = "running") -> uuid.UUID:
    with db.tenant(tenant) as s:
        value = s.execute(
            text(
                "insert into ansible_jobs (tenant_id, job_name, playbook_name, status) "
                "values (:t, 'backup', 'backup.yml', :s) returning id"
            ),
            {"t": tenant, "s": status},
        ).scalar_one()
    assert isinstance(value, uuid.UUID)
    return value


def event(db: Database, tenant: str, job_id: uuid.UUID, seq: int, stdout: str) -> None:
    with db.tenant(tenant) as s:
        s.execute(
            text(
                "insert into ansible_job_events (tenant_id, job_id, seq, event, host, task, stdout) "
                "values (:t, :j, :n, 'runner_on_ok', 'r1', 'gather', :o)"
            ),
            {"t": tenant, "j": job_id, "n": seq, "o": stdout},
        )


def test_orders_list_filters_and_links_to_the_step_log(
    console_url: str, console_tenant: TenantFactory, db: Database, queue_empty: None
) -> None:
    tenant = console_tenant("isp-a")
    first, second = subscriber(db, "isp-a", "S-1"), subscriber(db, "isp-a", "S-2", "suspended")
    suspend = submit(db, "isp-a", first, "suspend")
    resume = submit(db, "isp-a", second, "resume")
    client = signed_in(console_url, tenant["support_agent"])
    listing = client.get("/console/operations/orders").text
    assert f'data-order="{suspend}"' in listing and f'data-order="{resume}"' in listing
    only = client.get("/console/operations/orders?type=resume").text
    assert f'data-order="{resume}"' in only and f'data-order="{suspend}"' not in only
    assert "No orders." in client.get("/console/operations/orders?status=completed").text
    bad = client.get("/console/operations/orders?status=nonsense")
    assert bad.status_code == 422 and re.search(r'<p class="error" role="alert">one of pending', bad.text)
    detail = client.get(f"/console/operations/orders/{suspend}")
    assert detail.status_code == 200 and "S-1" in detail.text
    steps = re.findall(r'<li data-step="([a-z_]+)" data-state="([a-z ]+)">', detail.text)
    assert steps and steps[0] == ("validate", "to do") and all(state == "to do" for _, state in steps)


def test_cancel_and_retry_through_the_lifecycle_service_and_only_for_roles_that_may(
    console_url: str,
    console_tenant: TenantFactory,
    db: Database,
    admin: psycopg.Connection[Any],
    queue_empty: None,
) -> None:
    tenant = console_tenant("isp-a")
    pending = submit(db, "isp-a", subscriber(db, "isp-a", "S-1"))
    failed = submit(db, "isp-a", subscriber(db, "isp-a", "S-2"))
    admin.execute(
        "update service_activations set workflow_status = 'failed', error_step = 'coa', error_message = 'NAS down' "
        "where id = %s",
        (failed,),
    )
    noc = signed_in(console_url, tenant["noc_engineer"])
    listing = noc.get("/console/operations/orders").text
    assert f'action="/console/operations/orders/{pending}/cancel"' in listing
    assert f'action="/console/operations/orders/{failed}/retry"' in listing
    token = csrf_of(noc)
    assert noc.post(f"/console/operations/orders/{pending}/cancel", data={"csrf_token": token}).status_code == 303
    assert noc.post(f"/console/operations/orders/{failed}/retry", data={"csrf_token": token}).status_code == 303
    states = dict(admin.execute("select id, workflow_status from service_activations").fetchall())
    assert states == {pending: "cancelled", failed: "in_progress"}
    again = noc.post(f"/console/operations/orders/{pending}/cancel", data={"csrf_token": token}, follow_redirects=True)
    assert "already ended" in again.text  # the service's 409, shown as a message
    field = signed_in(console_url, tenant["field_tech"])
    assert field.get("/console/operations/orders").status_code == 403
    field_token = csrf_of(field)
    assert field.post(f"/console/operations/orders/{failed}/retry", data={"csrf_token": field_token}).status_code == 403


def test_job_output_is_paged_by_offset_until_the_run_finishes(
    console_url: str, console_tenant: TenantFactory, db: Database
) -> None:
    tenant = console_tenant("isp-a")
    run = job(db, "isp-a")
    for seq, line in ((1, "PLAY [backup]"), (2, "ok: [r1]")):
        event(db, "isp-a", run, seq, line)
    client = signed_in(console_url, tenant["noc_engineer"])
    first = client.get(f"/console/operations/jobs/{run}/output?offset=0").text
    assert re.findall(r'<tr data-seq="(\d+)">', first) == ["1", "2"]
    assert f"/console/operations/jobs/{run}/output?offset=2" in first  # asks for what comes next
    event(db, "isp-a", run, 3, "changed: [r1]")
    with db.tenant("isp-a") as s:
        s.execute(text("update ansible_jobs set status = 'success' where id = :j"), {"j": run})
    second = client.get(f"/console/operations/jobs/{run}/output?offset=2").text
    assert re.findall(r'<tr data-seq="(\d+)">', second) == ["3"] and "offset=3" in second
    last = client.get(f"/console/operations/jobs/{run}/output?offset=3").text
    assert 'id="job-finished" data-status="success"' in last and "hx-get" not in last
    assert client.get("/console/operations/jobs?status=success").text.count(f"/console/operations/jobs/{run}") == 1
    assert signed_in(console_url, tenant["support_agent"]).get(f"/console/operations/jobs/{run}").status_code == 403


def test_a_running_jobs_output_appears_live_in_the_browser(
    page: Page, console_url: str, console_tenant: TenantFactory, db: Database
) -> None:
    tenant = console_tenant("isp-a")
    run = job(db, "isp-a")
    event(db, "isp-a", run, 1, "PLAY [backup]")
    console_login(page, tenant["noc_engineer"])
    page.goto(f"/console/operations/jobs/{run}")
    page.wait_for_selector('tr[data-seq="1"]')
    event(db, "isp-a", run, 2, "TASK [save config] ok: [r1]")
    with db.tenant("isp-a") as s:
        s.execute(text("update ansible_jobs set status = 'success' where id = :j"), {"j": run})
    page.wait_for_selector("#job-finished", timeout=20_000)
    assert page.locator('tr[data-seq="2"] pre').inner_text() == "TASK [save config] ok: [r1]"
    assert page.locator("tr[data-seq]").count() == 2


def test_webhooks_list_their_deliveries_and_attempts(
    console_url: str, console_tenant: TenantFactory, db: Database
) -> None:
    tenant = console_tenant("isp-a")
    with db.tenant("isp-a") as s:
        endpoint = s.execute(
            text(
                "insert into webhook_endpoints (tenant_id, url, event_types, secret_vault_path) values "
                "('isp-a', 'https://hooks.example/isp', '[\"subscriber.activated\"]', 'tenants/isp-a/webhooks/1') "
                "returning id"
            )
        ).scalar_one()
        outbox = s.execute(
            text(
                "insert into event_outbox (tenant_id, event_type, payload) values "
                "('isp-a', 'subscriber.activated', '{}') returning id"
            )
        ).scalar_one()
        delivery = s.execute(
            text(
                "insert into webhook_deliveries (tenant_id, endpoint_id, event_id, event_type, status, attempts, "
                "last_status_code) values ('isp-a', :e, :o, 'subscriber.activated', 'dead', 2, 503) returning id"
            ),
            {"e": endpoint, "o": outbox},
        ).scalar_one()
        for n, code in ((1, 500), (2, 503)):
            s.execute(
                text(
                    "insert into webhook_delivery_attempts (tenant_id, delivery_id, endpoint_id, attempt, "
                    "status_code, latency_ms) values ('isp-a', :d, :e, :n, :c, 12)"
                ),
                {"d": delivery, "e": endpoint, "n": n, "c": code},
            )
    client = signed_in(console_url, tenant["tenant_admin"])
    listing = client.get("/console/operations/webhooks").text
    assert "https://hooks.example/isp" in listing and '<span class="error">1</span>' in listing  # one dead
    detail = client.get(f"/console/operations/webhooks/{endpoint}?status=dead").text
    assert "2 attempts" in detail and ": 500 in 12 ms" in detail and ": 503 in 12 ms" in detail
    assert "No deliveries." in client.get(f"/console/operations/webhooks/{endpoint}?status=succeeded").text


def test_the_audit_log_filters_by_what_and_who(console_url: str, console_tenant: TenantFactory, db: Database) -> None:
    tenant = console_tenant("isp-a")
    client = signed_in(console_url, tenant["tenant_admin"])
    token = csrf_of(client, "/console/operations/users")
    made = client.post(
        "/console/operations/users",
        data={"csrf_token": token, "email": "new@isp-a.example", "roles": ["support_agent"], "password": ""},
    )
    assert made.status_code == 201
    sub = subscriber(db, "isp-a", "S-9")
    with db.tenant("isp-a") as s:
        s.execute(
            text(
                "insert into audit_events (tenant_id, actor_kind, actor_id, entity, entity_id, action) "
                "values ('isp-a', 'system', 'usage-rollup', 'subscribers', :id, 'update')"
            ),
            {"id": str(sub)},
        )
    by_admin = client.get(f"/console/operations/audit?actor={tenant['tenant_admin'].email}").text
    assert "new@isp-a.example" in by_admin and "usage-rollup" not in by_admin
    on_sub = client.get(f"/console/operations/audit?entity=subscribers&entity_id={sub}").text
    assert "system: usage-rollup" in on_sub and "new@isp-a.example" not in on_sub
    bad = client.get("/console/operations/audit?since=yesterday")
    assert bad.status_code == 422 and 'id="f-since-err"' in bad.text
    assert signed_in(console_url, tenant["noc_engineer"]).get("/console/operations/audit").status_code == 403


def test_users_are_created_with_a_password_shown_once_and_their_roles_changed(
    console_url: str, console_tenant: TenantFactory, admin: psycopg.Connection[Any]
) -> None:
    tenant = console_tenant("isp-a")
    client = signed_in(console_url, tenant["tenant_admin"])
    token = csrf_of(client, "/console/operations/users")
    made = client.post(
        "/console/operations/users",
        data={"csrf_token": token, "email": "Dana@ISP-A.example", "full_name": "Dana", "roles": ["field_tech"]},
    )
    assert made.status_code == 201
    shown = re.search(r'<output id="new-user-password" class="mono stat">([^<]+)</output>', made.text)
    assert shown is not None and len(shown.group(1)) >= 12
    dup = client.post(
        "/console/operations/users",
        data={"csrf_token": token, "email": "dana@isp-a.example", "password": "x" * 12, "roles": ["field_tech"]},
    )
    assert dup.status_code == 409 and re.search(
        r'id="f-email-err" class="error" role="alert">[^<]*already exists', dup.text
    )
    short = client.post(
        "/console/operations/users",
        data={"csrf_token": token, "email": "eve@isp-a.example", "password": "short", "roles": ["field_tech"]},
    )
    assert short.status_code == 422 and 'id="f-password-err"' in short.text
    row = admin.execute("select id, roles from users where email = 'dana@isp-a.example'").fetchone()
    assert row is not None and row[1] == ["field_tech"]
    changed = client.post(
        f"/console/operations/users/{row[0]}/roles", data={"csrf_token": token, "roles": ["noc_engineer", "field_tech"]}
    )
    assert changed.status_code == 303
    assert admin.execute("select roles from users where id = %s", (row[0],)).fetchone() == (
        ["field_tech", "noc_engineer"],
    )
    # the new user signs in with the password shown
    from tests.console.conftest import StaffUser

    dana = signed_in(console_url, StaffUser("isp-a", "dana@isp-a.example", "noc_engineer", shown.group(1)))
    assert dana.get("/console/operations/users").status_code == 403  # not an admin
    assert (
        dana.post("/console/operations/users", data={"csrf_token": csrf_of(dana), "email": "x@y.z"}).status_code == 403
    )


def test_settings_save_what_the_api_allows(
    console_url: str, console_tenant: TenantFactory, admin: psycopg.Connection[Any]
) -> None:
    tenant = console_tenant("isp-a")
    client = signed_in(console_url, tenant["tenant_admin"])
    token = csrf_of(client, "/console/operations/settings")
    saved = client.post(
        "/console/operations/settings",
        data={
            "csrf_token": token,
            "email": "noc@isp-a.example",
            "timezone": "Pacific/Auckland",
            "require_mfa": "false",
        },
    )
    assert saved.status_code == 303
    row = admin.execute("select email, timezone, settings->>'require_mfa' from tenants where id = 'isp-a'").fetchone()
    assert row == ("noc@isp-a.example", "Pacific/Auckland", None)
    long = client.post("/console/operations/settings", data={"csrf_token": token, "phone": "9" * 60})
    assert long.status_code == 422 and 'id="f-phone-err"' in long.text
    noc = signed_in(console_url, tenant["noc_engineer"])
    assert noc.get("/console/operations/settings").status_code == 403
    assert noc.post("/console/operations/settings", data={"csrf_token": csrf_of(noc), "phone": "1"}).status_code == 403


def test_another_tenants_records_are_404(
    console_url: str, console_tenant: TenantFactory, db: Database, queue_empty: None
) -> None:
    console_tenant("isp-a")
    other = console_tenant("isp-b")
    order = submit(db, "isp-a", subscriber(db, "isp-a", "S-1"))
    run = job(db, "isp-a")
    client = signed_in(console_url, other["tenant_admin"])
    for path in (
        f"/console/operations/orders/{order}",
        f"/console/operations/orders/{order}/progress",
        f"/console/operations/jobs/{run}",
        f"/console/operations/jobs/{run}/output",
        f"/console/operations/webhooks/{uuid.uuid4()}",
    ):
        assert client.get(path).status_code == 404, path
    token = csrf_of(client)
    for path in (f"/console/operations/orders/{order}/cancel", f"/console/operations/jobs/{run}/cancel"):
        assert client.post(path, data={"csrf_token": token}).status_code == 404, path
    assert f"{order}" not in client.get("/console/operations/orders").text
