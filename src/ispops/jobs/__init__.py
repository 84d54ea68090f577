"""Background jobs on procrastinate, in the platform's own PostgreSQL (docs/jobs.md).

- ``defer_in``: queue a job in the caller's transaction (the API: through ``AsyncSession.run_sync``).
- ``JobSpec``, ``CATALOGUE`` (``ispops.jobs.registry``): which jobs exist and when they run.
- ``create_app`` (``ispops.jobs.app``) and ``run_worker`` (``ispops.jobs.worker``): what ``ispops worker``
  runs.
"""

from __future__ import annotations

from ispops.jobs.defer import defer_in
from ispops.jobs.registry import CATALOGUE, JobSpec, declare

__all__ = ["CATALOGUE", "JobSpec", "declare", "defer_in"]
