"""CPU accounting for the benchmarks, from /proc (Linux): per process tree, per command, the whole machine.

Imported by the scripts next to it (``python bench/<script>.py`` puts this folder first on ``sys.path``).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

TICK = os.sysconf("SC_CLK_TCK")


def proc_stat(pid: int | str) -> list[str]:
    """/proc/<pid>/stat after the command name: state, ppid, ...; empty if the process is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return []
    return raw[raw.rindex(")") + 2 :].split()


def processes() -> dict[int, list[str]]:
    """Every live process's stat fields (after the command name), by pid."""
    return {int(e.name): f for e in Path("/proc").iterdir() if e.name.isdigit() and (f := proc_stat(e.name))}


def tree_seconds(roots: dict[str, list[int]]) -> dict[str, float]:
    """CPU seconds of each group of process trees: utime + stime + the exited children's (cutime, cstime)."""
    table = processes()
    children: dict[int, list[int]] = {}
    for pid, fields in table.items():
        children.setdefault(int(fields[1]), []).append(pid)
    out: dict[str, float] = {}
    for name, pids in roots.items():
        total, stack = 0.0, list(pids)
        while stack:
            pid = stack.pop()
            if pid in table:
                total += sum(int(x) for x in table[pid][11:15]) / TICK
                stack.extend(children.get(pid, []))
        out[name] = total
    return out


def command_seconds(commands: set[str]) -> dict[str, float]:
    """CPU seconds (utime + stime) of the live processes with each command name (``comm``), summed."""
    seen = dict.fromkeys(commands, 0.0)
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            raw = (entry / "stat").read_text()
        except OSError:
            continue
        comm, rest = raw[raw.index("(") + 1 : raw.rindex(")")], raw[raw.rindex(")") + 2 :].split()
        if comm in seen:
            seen[comm] += (int(rest[11]) + int(rest[12])) / TICK
    return seen


def machine_seconds() -> tuple[float, float]:
    """(busy, idle) CPU seconds of the whole machine so far: idle counts iowait too."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]
    return (sum(fields[:8]) - idle) / TICK, idle / TICK


def host() -> str:
    """The machine a figure was measured on: its CPU model (from /proc/cpuinfo) and core count."""
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = " ".join(line.split(":", 1)[1].split())
                break
    except OSError:
        pass
    return f"{model}, {os.cpu_count()} cores"


def run_main(args: Any, run: Callable[[Any], int], *, smoke: Mapping[str, Any], prefix: str) -> int:
    """The end of a benchmark's ``main()``: with ``--smoke``, its tiny ``smoke`` settings and a scratch data
    directory (``ispops-bench-<prefix>-…``) for an embedded server of its own, removed afterwards; the host
    line first; then ``run(args)``."""
    if args.smoke:  # checks that the benchmark runs and its checks pass; the figures mean nothing
        args.__dict__.update(smoke)
        args.data_dir = Path(tempfile.mkdtemp(prefix=f"ispops-bench-{prefix}-"))
        print(f"smoke: scratch data in {args.data_dir}", flush=True)
        for name in ("ISPOPS_DATABASE_URL", "ISPOPS_APP_DATABASE_URL"):  # always its own embedded server
            os.environ.pop(name, None)
    print(f"host: {host()}", flush=True)
    try:
        return run(args)
    finally:
        if args.smoke:
            shutil.rmtree(args.data_dir, ignore_errors=True)
