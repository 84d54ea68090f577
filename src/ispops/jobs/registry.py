"""Which jobs exist: one ``JobSpec`` per job, naming a plain function by its dotted path.

A domain writes plain, idempotent functions in ``ispops/<domain>/jobs.py`` and adds one line per job to
``CATALOGUE`` below (docs/jobs.md). The function is imported only when a job runs, so a module that is
missing (not written yet, or failing to import) never stops the worker: its jobs are left out of the
schedule with a warning, and a job of it that is somehow queued fails and is retried like any other.

Calling conventions (the worker passes the ``Database``; the function opens its own transactions):

- ``scope="tenant"``: ``func(db, tenant_id, **args)``; all work in
  ``with db.tenant(tenant_id, enforce_status=False)`` units (a job works for a suspended tenant too: the
  status check refuses the tenant's staff, not the platform's upkeep). Call domain services (sync
  functions over the ``Session``), several domains' in one unit of work if need be.
  A ``cron`` schedule runs it once per tenant (a fan-out job lists the tenants through ``db.platform()``).
- ``scope="platform"``: ``func(db, **args)`` for installation-wide upkeep; it may enumerate tenants
  (``ispops.tenancy.service.list_tenant_ids``) and must still do tenant work in ``db.tenant`` units.

Arguments are JSON values (ids, numbers, short strings). Never pass secrets or personal data: the queue
is readable by the application role across tenants.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal

from croniter import croniter  # type: ignore[import-untyped]

log = logging.getLogger("ispops.jobs")

Scope = Literal["tenant", "platform"]
NAME = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")
TARGET = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")
DEFAULT_QUEUE = "default"


@dataclass(frozen=True)
class JobSpec:
    """One job: its name on the queue, the function it runs, when, and how it is retried.

    ``name``       ``<domain>.<what>``; the task name in the queue (keep it stable: queued jobs refer to it).
    ``target``     ``"package.module:function"``, imported when the job runs.
    ``cron``       five-field cron (UTC; a sixth field adds seconds), or None for on-demand jobs only.
    ``retries``    how many times a failing job is retried, with exponential backoff ``backoff ** n``
                   seconds (n = 1, 2, …); 0 means no retry.
    ``unique``     at most one job of this name (per tenant) waits in the queue: deferring another while
                   one waits is a no-op. Right for "process whatever is pending" jobs.
    ``serial``     jobs of this name for one tenant never run at the same time (a procrastinate lock).
                   Off for jobs that limit their own concurrency (``automation.run_job``).
    """

    name: str
    target: str
    scope: Scope = "tenant"
    cron: str | None = None
    retries: int = 5
    backoff: int = 2
    unique: bool = False
    queue: str = DEFAULT_QUEUE
    priority: int = 0
    description: str = ""
    serial: bool = True

    def __post_init__(self) -> None:
        if not NAME.match(self.name) or len(self.name) > 100:
            raise ValueError(f"job name {self.name!r}: lowercase dotted words, e.g. 'ipam.reclaim_leases'")
        if not TARGET.match(self.target):
            raise ValueError(f"job {self.name}: target {self.target!r} must look like 'package.module:function'")
        if self.cron is not None and not croniter.is_valid(self.cron):
            raise ValueError(f"job {self.name}: invalid cron expression {self.cron!r}")
        if self.retries < 0 or self.backoff < 0:
            raise ValueError(f"job {self.name}: retries and backoff must be >= 0")

    @property
    def module(self) -> str:
        return self.target.partition(":")[0]

    def resolve(self) -> Callable[..., Any]:
        """Import the module and return the function (at run time, never at worker start)."""
        module, _, attr = self.target.partition(":")
        func = getattr(importlib.import_module(module), attr)
        if not callable(func):
            raise TypeError(f"{self.target} is not callable")
        return func  # type: ignore[no-any-return]

    def available(self) -> bool:
        """Whether the module exists (found without importing it)."""
        try:
            return importlib.util.find_spec(self.module) is not None
        except (ImportError, ValueError):  # a parent package is missing
            return False

    def lock_for(self, tenant_id: str | None) -> str | None:
        """Jobs with the same lock never run at the same time: one per job name and tenant (none when
        the job is not ``serial``)."""
        if not self.serial:
            return None
        return f"{self.name}:{tenant_id}" if tenant_id else self.name


# Every job the platform knows. Jobs whose module does not exist yet are skipped (see module docstring).
CATALOGUE: tuple[JobSpec, ...] = (
    JobSpec(
        "db.maintain_radacct_partitions",
        "ispops.jobs.maintenance:maintain_radacct_partitions",
        scope="platform",
        cron="17 2 * * *",
        unique=True,
        description="radacct: months ahead, retention, rows in DEFAULT (as `ispops db maintain`)",
    ),
    JobSpec(
        "ipam.reclaim_expired_leases",
        "ispops.ipam.jobs:reclaim_expired_leases",
        cron="*/5 * * * *",
        unique=True,
        description="return expired dynamic leases to their pools",
    ),
    JobSpec(
        "radius.usage_rollup",
        "ispops.radius.usage:rollup_job",
        cron="*/5 * * * *",
        unique=True,
        description="roll accounting up into daily usage; apply data caps (throttle, suspend, reset)",
    ),
    JobSpec(
        "devices.poll_tenant",
        "ispops.devices.jobs:poll_tenant",
        cron="*/5 * * * *",
        retries=1,
        unique=True,
        description="SNMP-poll the tenant's devices",
    ),
    JobSpec(
        "devices.backup_tenant",
        "ispops.devices.jobs:backup_tenant",
        cron="31 1 * * *",
        retries=1,
        unique=True,
        description="back up the configuration of the tenant's devices",
    ),
    JobSpec(
        "wireless.poll_tenant",
        "ispops.wireless.jobs:poll_tenant",
        cron="*/5 * * * *",
        retries=1,
        unique=True,
        description="SNMP-poll the tenant's CPE radios (skipped without CPE SNMP credentials)",
    ),
    JobSpec(
        "radius.close_stale_sessions",
        "ispops.radius.sessions:close_stale_job",
        cron="*/5 * * * *",
        unique=True,
        description="close RADIUS sessions with no accounting for N x their interim interval",
    ),
    JobSpec(
        "radius.drain_coa_queue",
        "ispops.radius.jobs:drain_coa_queue",
        cron="* * * * *",
        unique=True,
        description="send pending CoA/Disconnect requests",
    ),
    JobSpec(
        "ftth.run_job",
        "ispops.ftth.jobs:run_job",
        retries=2,
        description="run one OLT driver job (authorise, deauthorise, reboot, replace, move, discover, poll)",
    ),
    JobSpec(
        "ftth.poll_tenant",
        "ispops.ftth.jobs:poll_tenant",
        cron="*/5 * * * *",
        retries=1,
        unique=True,
        description="read ONU states and light levels from the tenant's OLTs",
    ),
    JobSpec(
        "ftth.discover_tenant",
        "ispops.ftth.jobs:discover_tenant",
        cron="*/15 * * * *",
        retries=1,
        unique=True,
        description="record the ONUs the tenant's OLTs auto-found",
    ),
    JobSpec(
        "ftth.rollup_optics",
        "ispops.ftth.jobs:rollup_optics",
        cron="12 * * * *",
        unique=True,
        description="hourly and daily optical rollups of the closed hours that received readings",
    ),
    JobSpec(
        "automation.run_job",
        "ispops.automation.jobs:run_job",
        retries=0,
        serial=False,
        description="run one Ansible job (ansible-runner or AWX); the tenant's concurrency limit is its own",
    ),
    JobSpec(
        "automation.run_schedules",
        "ispops.automation.jobs:run_schedules",
        cron="* * * * *",
        unique=True,
        description="launch the Ansible jobs whose schedule has come round",
    ),
    JobSpec(
        "automation.netbox_sync",
        "ispops.automation.jobs:netbox_sync",
        retries=0,
        description="import from or export to the tenant's NetBox (or only compute the diff)",
    ),
    JobSpec(
        "lifecycle.advance",
        "ispops.lifecycle.jobs:advance",
        serial=False,
        description="run a service order on: its next steps or compensations (the saga engine)",
    ),
    JobSpec(
        "lifecycle.resume_stalled",
        "ispops.lifecycle.jobs:resume_stalled",
        cron="* * * * *",
        unique=True,
        description="queue lifecycle.advance for open, due orders that have no live job",
    ),
    JobSpec(
        "events.dispatch",
        "ispops.events.jobs:dispatch",
        retries=3,
        description="fan new domain events out to webhook deliveries and send the due ones (queued by emit)",
    ),
    JobSpec(
        "events.sweep",
        "ispops.events.jobs:dispatch",
        cron="* * * * *",
        unique=True,
        description="the safety net of events.dispatch: due webhook retries, anything emitted while no worker ran",
    ),
    JobSpec(
        "events.prune",
        "ispops.events.jobs:prune",
        cron="37 3 * * *",
        unique=True,
        description="delete dispatched events (and their deliveries) older than the retention",
    ),
    JobSpec(
        "billing.close_cycles",
        "ispops.billing.jobs:close_cycles",
        cron="7 * * * *",
        unique=True,
        description="close billing cycles ended close_after_hours ago: totals, billing.cycle_closed, push if set",
    ),
    JobSpec(
        "billing.push_cycle",
        "ispops.billing.jobs:push_cycle",
        retries=6,
        backoff=3,
        description="push a closed cycle's usage records and its event to the tenant's billing endpoint",
    ),
    JobSpec(
        "subscribers.import",
        "ispops.subscribers.bulk_import:run_import_job",
        retries=0,
        description="import a validated subscriber CSV (subscriber_imports row): all rows or none",
    ),
)

_declared: dict[str, JobSpec] = {}


def declare(spec: JobSpec) -> JobSpec:
    """Add a job outside the catalogue (plugins, tests). Declare before the worker's app is built."""
    known = _all()
    if spec.name in known and known[spec.name] != spec:
        raise ValueError(f"job {spec.name} is already declared differently")
    _declared[spec.name] = spec
    return spec


def forget(name: str) -> None:
    """Remove a job added with ``declare`` (tests)."""
    _declared.pop(name, None)


def _all() -> dict[str, JobSpec]:
    return {**{s.name: s for s in CATALOGUE}, **_declared}


def all_specs(*, only_available: bool = True) -> list[JobSpec]:
    """Every job, catalogue first; with ``only_available`` those whose module is missing are left out."""
    specs = list(_all().values())
    if not only_available:
        return specs
    kept = []
    for spec in specs:
        if spec.available():
            kept.append(spec)
        else:
            log.warning("job %s left out: module %s does not exist", spec.name, spec.module)
    return kept


def get_spec(name: str) -> JobSpec:
    try:
        return _all()[name]
    except KeyError:
        raise KeyError(f"no job named {name!r} (see ispops.jobs.registry.CATALOGUE)") from None


def names(specs: Iterable[JobSpec]) -> list[str]:
    return [s.name for s in specs]
