"""Billing hand-off: usage per cycle, plan history with proration dates, export and an adapter (issue 18)."""
