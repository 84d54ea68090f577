"""Whether a tenant's staff may use the API right now: the rule every tenant request applies.

The API's unit of work (``ispops.db.async_session``) reads the tenant's status and trial end in the
same statement that sets the tenant for the transaction, and refuses with the error returned here, so a
suspended tenant or an ended trial stops working on the next request, not when the access token
expires. Login and refresh apply the same rule (``ispops.auth.service.tenant_refusal``) after checking
the password or token, so that nothing is revealed to a caller without credentials.
"""

from __future__ import annotations

from datetime import UTC, datetime

from ispops.errors import PermissionDenied

USABLE_STATUSES = frozenset({"active", "trial"})


def refusal(
    status: str | None, trial_ends_at: datetime | None, *, now: datetime | None = None
) -> PermissionDenied | None:
    """Why the tenant's staff are refused now, or None. ``status`` is None when the tenant is gone."""
    if status is None:
        return PermissionDenied("this ISP's account is closed")
    if status not in USABLE_STATUSES:
        return PermissionDenied("this ISP's account is suspended")
    if status == "trial" and trial_ends_at is not None and trial_ends_at <= (now or datetime.now(UTC)):
        return PermissionDenied("this ISP's trial has ended")
    return None
