"""Crash points for the crash-safety tests: the worker process ends on the spot (``os._exit``) at a named
point of the saga engine when ``ISPOPS_LIFECYCLE_CRASH_AT`` names it.

Labels (docs/lifecycle.md, "Crash points"): ``<order type>:<step>:run:before_commit`` (the step ran and
its log entry is written, the transaction is not committed), ``<order type>:<step>:run:after_commit``, and
the same with ``compensate`` for compensations. ``crash_labels(activation_type)`` lists an order's labels.
"""

from __future__ import annotations

import os

ENV = "ISPOPS_LIFECYCLE_CRASH_AT"
EXIT_STATUS = 70  # EX_SOFTWARE: what a test sees from the killed worker


def crash_point(label: str) -> None:
    """End the process at once, without cleanup, when ``ISPOPS_LIFECYCLE_CRASH_AT`` equals ``label``."""
    if os.environ.get(ENV) == label:
        os._exit(EXIT_STATUS)


def label(order_type: str, step: str, action: str, moment: str) -> str:
    """``"<order_type>:<step>:<run|compensate>:<before_commit|after_commit>"``."""
    return f"{order_type}:{step}:{action}:{moment}"


def crash_labels(activation_type: str) -> list[str]:
    """Every crash point an order of ``activation_type`` can pass, in plan order: each step's run, then the
    compensations (only steps before the first pivot are ever compensated)."""
    from ispops.lifecycle.saga import ORDER_TYPES, resolve_plan  # the engine imports this module

    order_type = ORDER_TYPES[activation_type]
    plan = list(resolve_plan(activation_type))
    labels = [label(order_type, s.name, "run", m) for s in plan for m in ("before_commit", "after_commit")]
    for step in plan:
        if step.pivot:
            break
        labels += [label(order_type, step.name, "compensate", m) for m in ("before_commit", "after_commit")]
    return labels
