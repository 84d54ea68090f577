"""``ispops automation …``: launch an Ansible job from the command line (recorded as triggered by ``cli``)."""

from __future__ import annotations

import getpass
import json
import uuid
from typing import Annotated, Any

import typer
from rich.markup import escape

from ispops.automation import jobs, service
from ispops.cli.common import console, fail, friendly_errors, open_database
from ispops.config import get_settings
from ispops.models.automation import AnsibleTriggerSource

app = typer.Typer(help="Automation: Ansible jobs on the tenant's devices.", no_args_is_help=True)


def _extra_vars(text: str | None) -> dict[str, Any]:
    if text is None:
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise fail(f"--extra-vars: not JSON ({exc.msg})") from None
    if not isinstance(value, dict):
        raise fail("--extra-vars: must be a JSON object")
    return value


@app.command()
@friendly_errors
def run(
    playbook: Annotated[str, typer.Argument(help="A shipped playbook (backup.yml, …) or a registered one's name.")],
    tenant: Annotated[str, typer.Option("--tenant", help="The tenant whose devices it runs on.")],
    device: Annotated[
        list[str] | None, typer.Option("--device", help="Only this device id (repeat for more). Default: all.")
    ] = None,
    extra_vars: Annotated[str | None, typer.Option("--extra-vars", "-e", help="A JSON object.")] = None,
    check: Annotated[bool, typer.Option("--check", help="Dry run: change nothing.")] = False,
    diff: Annotated[bool, typer.Option("--diff", help="Show what changes (or would change).")] = False,
    timeout: Annotated[int | None, typer.Option(min=1, max=86400, help="Seconds before it is stopped.")] = None,
    wait: Annotated[
        bool, typer.Option("--wait/--no-wait", help="Run it here and now (default), or only queue it for the workers.")
    ] = True,
) -> None:
    """Launch a playbook. With --wait it runs in this process and prints its recap; the exit status is 1
    when the run did not succeed."""
    try:
        limit = [uuid.UUID(d) for d in device or []]
    except ValueError:
        raise fail("--device: not a device id") from None
    request = service.LaunchRequest(
        playbook_name=playbook,
        limit=limit or None,
        extra_vars=_extra_vars(extra_vars),
        check_mode=check,
        diff_mode=diff,
        timeout_seconds=timeout,
    )
    settings = get_settings()
    with open_database(settings) as db:
        with db.tenant(tenant, enforce_status=False) as s:
            job = service.launch(
                s, tenant, request, trigger_source=AnsibleTriggerSource.CLI, triggered_by=f"cli:{getpass.getuser()}"
            )
            job_id = str(job.id)
        console.print(f"job {job_id} queued")
        if not wait:
            return
        jobs.run_job(db, tenant, ansible_job_id=job_id, settings=settings)
        with db.tenant(tenant, enforce_status=False) as s:
            done = service.get_job(s, tenant, uuid.UUID(job_id))
            status, stdout, error = done.status, done.stdout or "", done.error
    console.print(escape(stdout.rstrip()), highlight=False)
    console.print(f"job {job_id}: {status}" + (f" ({escape(error)})" if error else ""))
    if status != "success":
        raise typer.Exit(1)
