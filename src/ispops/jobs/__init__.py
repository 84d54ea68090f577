"""Background jobs on procrastinate, in the platform's own PostgreSQL (docs/jobs.md).

- ``defer_in`` / ``defer_in_async``: queue a job in the caller's transaction.
- ``JobSpec``, ``CATALOGUE`` (``ispops.jobs.registry``): which jobs exist and when they run.
- ``create_app`` (``ispops.jobs.app``) and ``run_worker`` (``ispops.jobs.worker``): what ``ispops worker``
  runs.
"""

from __future__ import annotations

from ispops.jobs.defer import defer_in, defer_in_async
from ispops.jobs.registry import CATALOGUE, JobSpec, declare

__all__ = ["CATALOGUE", "JobSpec", "declare", "defer_in", "defer_in_async"]
