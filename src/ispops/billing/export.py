"""A cycle's usage and plan periods as JSON and CSV (the same figures; docs/billing.md shows both shapes).

JSON: one document, ``subscribers`` holding one object per subscriber with its ``periods``. CSV: two flat
files — ``usage`` (one row per subscriber) and ``plan-history`` (one row per plan period). Octets and
seconds are integers, proration fractions decimal strings with 6 places, instants ISO 8601 in UTC.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterable, Iterator
from typing import Any

from ispops.billing import cycles
from ispops.billing.service import CycleStatus, Period, UsageLine

PRORATION = "seconds"  # fraction = seconds of the period in the cycle / seconds of the cycle

USAGE_COLUMNS = (
    "subscriber_id",
    "subscriber_number",
    "customer_id",
    "billing_subscription_id",
    "cycle",
    "billing_day",
    "cycle_start",
    "cycle_end",
    "cycle_closed",
    "input_octets",
    "output_octets",
    "total_octets",
    "session_seconds",
    "bandwidth_profile_id",
    "plan_name",
    "data_cap_gb",
    "over_cap",
    "periods",
)

PERIOD_COLUMNS = (
    "subscriber_id",
    "subscriber_number",
    "cycle",
    "billing_day",
    "cycle_start",
    "cycle_end",
    "bandwidth_profile_id",
    "plan_name",
    "status",
    "period_start",
    "period_end",
    "seconds",
    "fraction",
)


def _iso(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def _s(value: Any) -> str | None:
    return None if value is None else str(value)


def period_dict(period: Period) -> dict[str, Any]:
    return {
        "bandwidth_profile_id": _s(period.bandwidth_profile_id),
        "plan_name": period.plan_name,
        "status": period.status,
        "start": _iso(period.starts_at),
        "end": _iso(period.ends_at),
        "seconds": period.seconds,
        "fraction": str(period.fraction),
    }


def line_dict(line: UsageLine, state: CycleStatus) -> dict[str, Any]:
    """One subscriber's record, as JSON (also the body the billing adapter posts)."""
    return {
        "subscriber_id": str(line.subscriber_id),
        "subscriber_number": line.subscriber_number,
        "customer_id": _s(line.customer_id),
        "billing_subscription_id": line.billing_subscription_id,
        "cycle": line.cycle.label,
        "billing_day": line.cycle.billing_day,
        "cycle_start": _iso(line.cycle.starts_at),
        "cycle_end": _iso(line.cycle.ends_at),
        "cycle_closed": state.is_closed(line.cycle.billing_day),
        "input_octets": line.input_octets,
        "output_octets": line.output_octets,
        "total_octets": line.total_octets,
        "session_seconds": line.session_seconds,
        "bandwidth_profile_id": _s(line.bandwidth_profile_id),
        "plan_name": line.plan_name,
        "data_cap_gb": line.data_cap_gb,
        "over_cap": line.over_cap,
        "periods": [period_dict(p) for p in line.periods],
    }


def document(tenant_id: str, month: dt.date, lines: list[UsageLine], state: CycleStatus) -> dict[str, Any]:
    return {
        "tenant_id": tenant_id,
        "cycle": cycles.label(month),
        "proration": PRORATION,
        "closed_billing_days": sorted(state.closed),
        "generated_at": _iso(dt.datetime.now(dt.UTC)),
        "subscribers": [line_dict(line, state) for line in lines],
    }


def plan_history_document(tenant_id: str, month: dt.date, lines: list[UsageLine], state: CycleStatus) -> dict[str, Any]:
    return {
        "tenant_id": tenant_id,
        "cycle": cycles.label(month),
        "proration": PRORATION,
        "closed_billing_days": sorted(state.closed),
        "periods": list(_period_rows(lines)),
    }


def _period_rows(lines: Iterable[UsageLine]) -> Iterator[dict[str, Any]]:
    for line in lines:
        for period in line.periods:
            p = period_dict(period)
            yield {
                "subscriber_id": str(line.subscriber_id),
                "subscriber_number": line.subscriber_number,
                "cycle": line.cycle.label,
                "billing_day": line.cycle.billing_day,
                "cycle_start": _iso(line.cycle.starts_at),
                "cycle_end": _iso(line.cycle.ends_at),
                "bandwidth_profile_id": p["bandwidth_profile_id"],
                "plan_name": p["plan_name"],
                "status": p["status"],
                "period_start": p["start"],
                "period_end": p["end"],
                "seconds": p["seconds"],
                "fraction": p["fraction"],
            }


def _csv(columns: tuple[str, ...], rows: Iterable[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\r\n", extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _cell(v) for k, v in row.items()})
    return out.getvalue()


def _cell(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return len(value)
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@"):
        return "'" + value  # never a formula in a spreadsheet (CSV injection)
    return "" if value is None else value


def usage_csv(lines: list[UsageLine], state: CycleStatus) -> str:
    return _csv(USAGE_COLUMNS, (line_dict(line, state) for line in lines))


def plan_history_csv(lines: list[UsageLine]) -> str:
    return _csv(PERIOD_COLUMNS, _period_rows(lines))
