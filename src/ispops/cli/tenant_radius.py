"""``ispops tenant radius-policy TENANT [--interim-interval N …]``: show or set a tenant's RADIUS policy.

The same fields and validation as ``PATCH /api/v1/tenant/radius-policy`` (``ispops.tenancy.radius_policy``);
the change re-renders the tenant's RADIUS rows in its transaction and is recorded in the tenant's audit
trail as done by ``system``/``cli``.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.table import Table

from ispops.audit.service import system_event
from ispops.cli.common import console, fail, friendly_errors, open_database
from ispops.tenancy.radius_policy import RadiusPolicy, RadiusPolicyUpdate, update_policy


@friendly_errors
def radius_policy(
    tenant: Annotated[str, typer.Argument(help="Tenant id.")],
    password_type: Annotated[str | None, typer.Option(help="cleartext or nt_password (new passwords).")] = None,
    suspended_action: Annotated[str | None, typer.Option(help="reject or walled_garden.")] = None,
    walled_garden_download_kbps: Annotated[int | None, typer.Option(help="8 to 10,000,000 kbit/s.")] = None,
    walled_garden_upload_kbps: Annotated[int | None, typer.Option(help="8 to 10,000,000 kbit/s.")] = None,
    walled_garden_list: Annotated[str | None, typer.Option(help="MikroTik address list name.")] = None,
    interim_interval: Annotated[int | None, typer.Option(help="Acct-Interim-Interval, 60 to 86,400 s.")] = None,
    session_timeout: Annotated[
        int | None, typer.Option(help="Session-Timeout when the plan sets none, 60 to 31,536,000 s.")
    ] = None,
    no_session_timeout: Annotated[
        bool, typer.Option("--no-session-timeout", help="Send no Session-Timeout unless the plan sets one.")
    ] = False,
    stale_after_intervals: Annotated[
        int | None, typer.Option(help="A session silent this many interim intervals is stale, 2 to 100.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the policy as JSON.")] = False,
) -> None:
    """Show the tenant's RADIUS policy, or change the fields given (docs/radius.md)."""
    given: dict[str, Any] = {
        f"radius_{name}": value
        for name, value in (
            ("password_type", password_type),
            ("suspended_action", suspended_action),
            ("walled_garden_download_kbps", walled_garden_download_kbps),
            ("walled_garden_upload_kbps", walled_garden_upload_kbps),
            ("walled_garden_list", walled_garden_list),
            ("interim_interval", interim_interval),
            ("session_timeout", session_timeout),
            ("stale_after_intervals", stale_after_intervals),
        )
        if value is not None
    }
    if no_session_timeout:
        if session_timeout is not None:
            raise fail("give --session-timeout or --no-session-timeout, not both", code=2)
        given["radius_session_timeout"] = None
    try:
        update = RadiusPolicyUpdate.model_validate(given)
    except ValidationError as exc:
        first = exc.errors()[0]
        option = "--" + str(first["loc"][0]).removeprefix("radius_").replace("_", "-")
        raise fail(f"{option}: {first['msg']}", code=2) from None
    with open_database() as db, db.tenant(tenant, enforce_status=False) as s:
        row, changes = update_policy(s, tenant, update)
        if changes:
            s.add(system_event(tenant, "cli", "tenants", tenant, "update", changes))
        policy = RadiusPolicy.model_validate(row)
    if as_json:
        console.print_json(json.dumps(policy.model_dump()))
        return
    table = Table("setting", "value")
    for key, value in policy.model_dump().items():
        table.add_row(key, "none" if value is None else str(value))
    console.print(table)
    if given:
        console.print(f"{len(changes)} setting(s) changed; the tenant's RADIUS rows were re-rendered.")
