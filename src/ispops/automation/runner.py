"""One playbook run with ansible-runner, without the database: events in, a summary out.

- Everything of the run lives in its private directory (mode 0700; the caller removes it): inventory,
  keys, known_hosts, artifacts, Ansible's temporary files and SSH control sockets.
- Summary from the runner's events, not from files: the play recap (``playbook_on_stats``), changed and
  failed tasks per host (``runner_on_ok``/``runner_on_failed``/``runner_on_unreachable``) and the facts a
  task returned (``res.ansible_facts``; with ansible-core >= 2.19 the runner's fact cache stays empty).
- Secrets handed to the inventory are scrubbed from stdout, events, facts and errors (on top of the
  playbooks' ``no_log``), so none reaches the row.
- Cancel and timeout: ansible-runner kills the ``ansible-playbook`` process group; every process the run
  started carries an environment marker, and whatever is still alive with it afterwards (a module that
  started its own session) is killed too, so the whole process tree ends.
"""

from __future__ import annotations

import os
import secrets as pysecrets
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ansible_runner

from ispops.automation.playbooks import Located

MASK = "********"
MARKER_VAR = "ISPOPS_AUTOMATION_RUN"
MAX_STDOUT = 1_000_000  # characters kept on the row (the head and the tail)
FACT_SKIP = ("ansible_env", "env")  # the remote environment may hold anything


@dataclass
class RunRequest:
    job_id: str
    located: Located
    workdir: Path
    inventory: Path
    extravars: dict[str, Any] = field(default_factory=dict)
    limit: str | None = None
    check: bool = False
    diff: bool = False
    timeout: int | None = None
    secrets: list[str] = field(default_factory=list, repr=False)
    verbosity: int = 0
    python_interpreter: str = "auto_silent"


@dataclass
class RunOutcome:
    status: str  # success, failed, cancelled, timed_out
    rc: int | None
    stdout: str
    stats: dict[str, dict[str, int]]
    host_results: dict[str, dict[str, list[str]]]
    facts: dict[str, dict[str, Any]]
    changed_tasks: int
    failed_tasks: int
    error: str | None = None
    started: float = 0.0  # time.monotonic() when ansible-playbook was started
    awx_job_id: int | None = None


def as_dict(value: Any) -> dict[str, Any]:
    """``value`` if it is a mapping, else an empty one (event fields are not always there)."""
    return value if isinstance(value, dict) else {}


class Scrubber:
    """Replaces every secret (and each long line of a multi-line one, e.g. a key) with ``MASK``."""

    def __init__(self, values: list[str]) -> None:
        pieces: set[str] = set()
        for value in values:
            if not value:
                continue
            pieces.add(value)
            pieces.update(line.strip() for line in value.splitlines() if len(line.strip()) >= 16)
        self.pieces = sorted((p for p in pieces if len(p) >= 4), key=len, reverse=True)

    def text(self, value: str) -> str:
        for piece in self.pieces:
            if piece in value:
                value = value.replace(piece, MASK)
        return value

    def any(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {self.text(str(k)): self.any(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.any(v) for v in value]
        return value


@dataclass
class Collector:
    """Folds the runner's events into the summary; hands each (scrubbed) event to ``forward``."""

    scrub: Scrubber
    forward: Callable[[dict[str, Any]], None] | None = None
    stats: dict[str, dict[str, int]] = field(default_factory=dict)
    host_results: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    facts: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __call__(self, event: dict[str, Any]) -> bool:
        kind = str(event.get("event", ""))
        data = event.get("event_data") or {}
        host = data.get("host")
        task = data.get("task")
        res = as_dict(data.get("res"))
        if kind == "runner_on_ok" and host:
            if res.get("changed"):
                self._add(host, "changed", task)
            facts = res.get("ansible_facts")
            if isinstance(facts, dict):
                kept = {k: v for k, v in facts.items() if k not in FACT_SKIP}
                self.facts.setdefault(host, {}).update(self.scrub.any(kept))
        elif kind == "runner_on_failed" and host and not data.get("ignore_errors"):
            self._add(host, "failed", task)
        elif kind == "runner_on_unreachable" and host:
            self._add(host, "unreachable", task)
        elif kind == "playbook_on_stats":
            self._recap(data)
        if self.forward is not None:
            self.forward(self.compact(event))
        return True

    def _add(self, host: str, what: str, task: Any) -> None:
        entry = self.host_results.setdefault(host, {"changed": [], "failed": [], "unreachable": []})
        entry[what].append(self.scrub.text(str(task or "")))

    def _recap(self, data: dict[str, Any]) -> None:
        names = {
            "ok": "ok",
            "changed": "changed",
            "failures": "failures",
            "dark": "unreachable",
            "skipped": "skipped",
            "rescued": "rescued",
            "ignored": "ignored",
        }
        for key, name in names.items():
            for host, count in (data.get(key) or {}).items():
                self.stats.setdefault(host, dict.fromkeys(names.values(), 0))[name] = int(count)

    def compact(self, event: dict[str, Any]) -> dict[str, Any]:
        """What is kept of an event: no module arguments, no results beyond a few flags."""
        data = event.get("event_data") or {}
        res = as_dict(data.get("res"))
        kept: dict[str, Any] = {
            k: data[k] for k in ("play", "task", "task_action", "resolved_action", "duration") if k in data
        }
        for flag in ("changed", "failed", "skipped", "unreachable"):
            if flag in res:
                kept[flag] = bool(res[flag])
        if event.get("event") == "playbook_on_stats":
            kept["recap"] = {h: dict(v) for h, v in self.stats.items()}
        return {
            "seq": int(event.get("counter") or 0),
            "event": str(event.get("event", "")),
            "host": data.get("host"),
            "task": self.scrub.text(str(data["task"])) if data.get("task") else None,
            "stdout": self.scrub.text(str(event.get("stdout") or "").replace("\r\n", "\n")),
            "data": self.scrub.any(kept),
            "created": event.get("created"),
        }


def _env(req: RunRequest, marker: str, control_dir: str) -> dict[str, str]:
    """The run's environment. SSH control sockets live in a short private directory of their own: a UNIX
    socket path must stay under 108 bytes, which a path inside the run directory may not."""
    bindir = str(Path(sys.executable).parent)
    return {
        "PATH": f"{bindir}:{os.environ.get('PATH', '/usr/bin:/bin')}",
        MARKER_VAR: marker,
        "ANSIBLE_LOCAL_TEMP": str(req.workdir / "tmp"),
        "ANSIBLE_SSH_CONTROL_PATH_DIR": control_dir,
        "ANSIBLE_HOST_KEY_CHECKING": "True",
        "ANSIBLE_RETRY_FILES_ENABLED": "False",
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_FORCE_COLOR": "0",
        "ANSIBLE_DEPRECATION_WARNINGS": "False",
        "ANSIBLE_PYTHON_INTERPRETER": req.python_interpreter,
        "ANSIBLE_GATHERING": "explicit",
        "ANSIBLE_CACHE_PLUGIN_CONNECTION": str(req.workdir / "facts"),
        "ANSIBLE_SSH_RETRIES": "0",
        "ANSIBLE_PIPELINING": "True",  # modules over the SSH session itself: fewer round trips, no temp files
        "HOME": str(req.workdir),
    }


def processes_with(marker: str) -> list[int]:
    """Processes whose environment carries ``MARKER_VAR=marker`` (Linux /proc)."""
    needle = f"{MARKER_VAR}={marker}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        if needle in environ.split(b"\0"):
            found.append(int(entry.name))
    return found


def end_process_tree(marker: str, *, rounds: int = 20) -> int:
    """SIGKILL every process of the run still alive; how many were found."""
    killed = 0
    for _ in range(rounds):
        pids = processes_with(marker)
        if not pids:
            break
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
                killed += 1
            except ProcessLookupError:
                pass
        time.sleep(0.05)
    return killed


def _clip(text: str) -> str:
    if len(text) <= MAX_STDOUT:
        return text
    half = MAX_STDOUT // 2
    return text[:half] + f"\n… {len(text) - MAX_STDOUT} characters left out …\n" + text[-half:]


def run_playbook(
    req: RunRequest,
    *,
    on_event: Callable[[dict[str, Any]], None] | None = None,
    cancelled: Callable[[], bool] | None = None,
    on_start: Callable[[], None] | None = None,
) -> RunOutcome:
    """Run the playbook to the end (or until cancelled or timed out). Blocking; never raises for a run
    that fails: the outcome says so."""
    scrub = Scrubber(req.secrets)
    collect = Collector(scrub, on_event)
    marker = f"{req.job_id}-{pysecrets.token_hex(8)}"
    for sub in ("tmp", "artifacts"):
        (req.workdir / sub).mkdir(mode=0o700, exist_ok=True)
    cmdline = []
    if req.check:
        cmdline.append("--check")
    if req.diff:
        cmdline.append("--diff")
    started = time.monotonic()
    was_cancelled = False

    def status(data: dict[str, Any], runner_config: Any) -> None:
        if data.get("status") == "running" and on_start is not None:
            on_start()

    def cancel() -> bool:
        nonlocal was_cancelled
        if cancelled is not None and cancelled():
            was_cancelled = True
        return was_cancelled

    control_dir = tempfile.mkdtemp(prefix="ispops-cp-")  # mode 0700
    try:
        result = ansible_runner.run(
            private_data_dir=str(req.workdir),
            artifact_dir=str(req.workdir / "artifacts"),
            project_dir=str(req.located.project_dir),
            playbook=req.located.playbook,
            inventory=str(req.inventory),
            ident=req.job_id,
            extravars=req.extravars,
            limit=req.limit,
            cmdline=" ".join(cmdline) or None,
            envvars=_env(req, marker, control_dir),
            timeout=req.timeout,
            quiet=True,
            verbosity=req.verbosity,
            suppress_env_files=True,
            rotate_artifacts=0,
            event_handler=collect,
            status_handler=status,
            cancel_callback=cancel,
            settings={"pexpect_timeout": 0.25, "suppress_ansible_output": True},
        )
    except Exception as exc:  # a runner that cannot start (bad project, missing binary)
        return RunOutcome("failed", None, "", {}, {}, {}, 0, 0, scrub.text(f"{type(exc).__name__}: {exc}"), started)
    finally:
        end_process_tree(marker)  # also the SSH control masters the run left behind
        shutil.rmtree(control_dir, ignore_errors=True)
    try:
        stdout = result.stdout.read() if result.stdout else ""
    except (OSError, ValueError, AttributeError):
        stdout = ""
    runner_status = str(result.status)
    status_name = {"successful": "success", "canceled": "cancelled", "timeout": "timed_out"}.get(
        runner_status, "failed"
    )
    if was_cancelled:
        status_name = "cancelled"
    changed = sum(v.get("changed", 0) for v in collect.stats.values())
    failed = sum(v.get("failures", 0) + v.get("unreachable", 0) for v in collect.stats.values())
    error = None
    if status_name == "failed":
        error = f"ansible-playbook exited with {result.rc}"
    elif status_name == "timed_out":
        error = f"stopped after the time limit of {req.timeout} s"
    elif status_name == "cancelled":
        error = "cancelled on request"
    return RunOutcome(
        status=status_name,
        rc=result.rc,
        stdout=_clip(scrub.text(stdout)),
        stats=collect.stats,
        host_results=collect.host_results,
        facts=collect.facts,
        changed_tasks=changed,
        failed_tasks=failed,
        error=error,
        started=started,
    )
