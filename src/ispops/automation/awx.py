"""AWX / Ansible Automation Platform: launch a job template, follow it, and bring back the same summary a
local run gives (status, stdout, recap per host, changed and failed tasks, facts).

``AutomationPlatform`` is the interface; ``AwxClient`` speaks AWX's REST API v2 (``/api/v2/…``, bearer
token) as documented: ``POST job_templates/{id}/launch/`` (``extra_vars``, ``limit``, ``job_type``
``run``/``check``, ``diff_mode``), ``GET jobs/{id}/``, ``GET jobs/{id}/stdout/?format=txt``,
``GET jobs/{id}/job_host_summaries/``, ``GET jobs/{id}/job_events/`` (paged by ``next``),
``POST jobs/{id}/cancel/``. AWX cannot run here: the tests use a local HTTP double of those endpoints.

The tenant's AWX is its ``automation_endpoints`` row of kind ``awx``; the token lives in the secret store
at ``token_vault_path``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urljoin

import requests
from sqlalchemy import select

from ispops.automation.runner import FACT_SKIP, RunOutcome, Scrubber, as_dict
from ispops.config import Settings
from ispops.db.session import Database
from ispops.errors import IspopsError, ValidationFailed
from ispops.models.automation import AutomationEndpoint, EndpointKind
from ispops.secrets import SecretStore, open_secret_store

if TYPE_CHECKING:
    from ispops.automation.jobs import Plan

FINISHED = {"successful": "success", "failed": "failed", "error": "failed", "canceled": "cancelled"}
POLL_SECONDS = 1.0


class AwxError(IspopsError):
    """AWX refused or could not be reached."""

    status = 502
    code = "awx_unavailable"


class AutomationPlatform(Protocol):
    def launch(
        self, template_id: int, *, extra_vars: dict[str, Any], limit: str | None, check: bool, diff: bool
    ) -> int: ...

    def job(self, job_id: int) -> dict[str, Any]: ...

    def stdout(self, job_id: int) -> str: ...

    def host_summaries(self, job_id: int) -> list[dict[str, Any]]: ...

    def events(self, job_id: int, event: str) -> list[dict[str, Any]]: ...

    def cancel(self, job_id: int) -> None: ...


class AwxClient:
    """AWX's REST API v2 over ``requests``."""

    def __init__(self, url: str, token: str, *, verify: bool = True, timeout: float = 30.0) -> None:
        self.base = url.rstrip("/") + "/"
        self.session = requests.Session()
        self.session.headers.update({"Authorization": f"Bearer {token}", "Accept": "application/json"})
        self.session.verify = verify
        self.timeout = timeout

    def _call(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        url = path if path.startswith("http") else urljoin(self.base, path.lstrip("/"))
        try:
            response = self.session.request(method, url, timeout=self.timeout, **kwargs)
        except requests.RequestException as exc:
            raise AwxError(f"AWX: {type(exc).__name__}") from None
        if response.status_code >= 400:
            raise AwxError(f"AWX answered {response.status_code} to {method} {path}")
        return response

    def launch(
        self, template_id: int, *, extra_vars: dict[str, Any], limit: str | None, check: bool, diff: bool
    ) -> int:
        body: dict[str, Any] = {"extra_vars": extra_vars, "job_type": "check" if check else "run", "diff_mode": diff}
        if limit:
            body["limit"] = limit
        data = self._call("POST", f"api/v2/job_templates/{template_id}/launch/", json=body).json()
        return int(data.get("job") or data["id"])

    def job(self, job_id: int) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", f"api/v2/jobs/{job_id}/").json()
        return result

    def stdout(self, job_id: int) -> str:
        return self._call("GET", f"api/v2/jobs/{job_id}/stdout/", params={"format": "txt"}).text

    def _pages(self, path: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        page: dict[str, Any] = self._call("GET", path, params=params).json()
        out.extend(page.get("results") or [])
        while page.get("next"):
            page = self._call("GET", str(page["next"])).json()
            out.extend(page.get("results") or [])
        return out

    def host_summaries(self, job_id: int) -> list[dict[str, Any]]:
        return self._pages(f"api/v2/jobs/{job_id}/job_host_summaries/", {"page_size": 200})

    def events(self, job_id: int, event: str) -> list[dict[str, Any]]:
        return self._pages(f"api/v2/jobs/{job_id}/job_events/", {"event": event, "page_size": 200})

    def cancel(self, job_id: int) -> None:
        self._call("POST", f"api/v2/jobs/{job_id}/cancel/")


def client_for(db: Database, tenant_id: str, store: SecretStore | None, settings: Settings) -> AwxClient:
    """The tenant's AWX, from its endpoint row and the token in the secret store."""
    with db.tenant(tenant_id, enforce_status=False) as s:
        endpoint = s.scalar(
            select(AutomationEndpoint)
            .where(
                AutomationEndpoint.tenant_id == tenant_id,
                AutomationEndpoint.kind == EndpointKind.AWX,
                AutomationEndpoint.deleted_at.is_(None),
            )
            .order_by(AutomationEndpoint.created_at.desc())
            .limit(1)
        )
        if endpoint is None:
            raise ValidationFailed("ansible_jobs.engine: the tenant has no AWX endpoint", field="engine")
        url, path, verify = endpoint.url, endpoint.token_vault_path, endpoint.verify_tls
    if not path:
        raise ValidationFailed("automation_endpoints.token: the AWX endpoint has no token", field="token")
    secrets = store or open_secret_store(settings)
    return AwxClient(url, secrets.get(path).decode("utf-8"), verify=verify)


def summarise(client: AutomationPlatform, awx_job: int, scrub: Scrubber) -> dict[str, Any]:
    """Recap per host, changed and failed tasks per host, and facts, as a local run records them."""
    names = {"ok": "ok", "changed": "changed", "failures": "failures", "dark": "unreachable", "skipped": "skipped"}
    names |= {"rescued": "rescued", "ignored": "ignored"}
    stats: dict[str, dict[str, int]] = {}
    for row in client.host_summaries(awx_job):
        host = str(row.get("host_name") or "")
        stats[host] = {name: int(row.get(key) or 0) for key, name in names.items()}
    results: dict[str, dict[str, list[str]]] = {}
    facts: dict[str, dict[str, Any]] = {}
    for kind, what in (
        ("runner_on_ok", "changed"),
        ("runner_on_failed", "failed"),
        ("runner_on_unreachable", "unreachable"),
    ):
        for event in client.events(awx_job, kind):
            host = str(event.get("host_name") or "")
            data = event.get("event_data") or {}
            res = as_dict(data.get("res"))
            if kind == "runner_on_ok":
                if isinstance(res.get("ansible_facts"), dict):
                    kept = {k: v for k, v in res["ansible_facts"].items() if k not in FACT_SKIP}
                    facts.setdefault(host, {}).update(scrub.any(kept))
                if not event.get("changed"):
                    continue
            if kind == "runner_on_failed" and data.get("ignore_errors"):
                continue
            entry = results.setdefault(host, {"changed": [], "failed": [], "unreachable": []})
            entry[what].append(scrub.text(str(event.get("task") or "")))
    return {"stats": stats, "host_results": results, "facts": facts}


def follow(
    client: AutomationPlatform,
    template_id: int,
    *,
    extra_vars: dict[str, Any],
    limit: str | None,
    check: bool,
    diff: bool,
    timeout: int,
    cancelled: Callable[[], bool],
    poll_seconds: float = POLL_SECONDS,
    secrets: list[str] | None = None,
) -> RunOutcome:
    """Launch the template and poll it to its end (cancelling it on request or after ``timeout``)."""
    scrub = Scrubber(secrets or [])
    started = time.monotonic()
    awx_job = client.launch(template_id, extra_vars=extra_vars, limit=limit, check=check, diff=diff)
    asked_to_stop: str | None = None
    while True:
        state = client.job(awx_job)
        status = str(state.get("status"))
        if status in FINISHED:
            break
        if asked_to_stop is None:
            if cancelled():
                asked_to_stop = "cancelled"
            elif time.monotonic() - started > timeout:
                asked_to_stop = "timed_out"
            if asked_to_stop is not None:
                client.cancel(awx_job)
        time.sleep(poll_seconds)
    name = FINISHED[status]
    if name == "cancelled" and asked_to_stop == "timed_out":
        name = "timed_out"
    summary = summarise(client, awx_job, scrub)
    stats: dict[str, dict[str, int]] = summary["stats"]
    error = None
    if name != "success":
        explanation = str(state.get("job_explanation") or "").strip()
        error = scrub.text(f"AWX job {awx_job} {status}" + (f": {explanation}" if explanation else ""))
    return RunOutcome(
        status=name,
        rc=0 if name == "success" else 1,
        stdout=scrub.text(client.stdout(awx_job)),
        stats=stats,
        host_results=summary["host_results"],
        facts=summary["facts"],
        changed_tasks=sum(v["changed"] for v in stats.values()),
        failed_tasks=sum(v["failures"] + v["unreachable"] for v in stats.values()),
        error=error,
        started=started,
        awx_job_id=awx_job,
    )


def run_on_platform(
    db: Database,
    tenant_id: str,
    plan: Plan,
    settings: Settings,
    store: SecretStore | None,
    client: AutomationPlatform | None,
    *,
    cancelled: Callable[[], bool],
    poll_seconds: float | None = None,
) -> RunOutcome:
    platform = client or client_for(db, tenant_id, store, settings)
    assert plan.awx_job_template_id is not None  # service.launch requires it for engine awx
    limit = ",".join(h.name for h in plan.hosts) if plan.device_ids else None
    return follow(
        platform,
        plan.awx_job_template_id,
        extra_vars=plan.extra_vars,
        limit=limit,
        check=plan.check,
        diff=plan.diff,
        timeout=plan.timeout,
        cancelled=cancelled,
        poll_seconds=POLL_SECONDS if poll_seconds is None else poll_seconds,
    )
