"""Where a playbook comes from: the shipped ones (``deploy/ansible/``) or a tenant's own directory or git
repository, validated so that nothing outside the allowed roots is ever read.

Rules (docs/automation.md):

- A shipped playbook is named by its file name (``backup.yml``); it is one of the ``*.yml`` files of the
  shipped directory, nothing else.
- A tenant's ``directory`` source must resolve (symbolic links followed) inside one of
  ``Settings.automation_playbook_roots``.
- A tenant's ``git`` source is an ``https://`` or ``ssh://`` URL, or a ``file://`` URL / absolute path of a
  repository inside the allowed roots. It is cloned (shallow, the given ref) into the run's private
  directory.
- ``playbook_file`` is a relative path without ``..`` that must resolve inside the directory or checkout.
"""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from ispops.config import Settings
from ispops.errors import ValidationFailed

SHIPPED_DIR = Path(__file__).resolve().parents[3] / "deploy" / "ansible"
GIT_REF = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,254}$")
GIT_SCHEMES = ("https", "ssh", "file")


@dataclass(frozen=True)
class Located:
    """A playbook ready for ansible-runner: its project directory and its path inside it."""

    project_dir: Path
    playbook: str


def shipped_dir(settings: Settings | None = None) -> Path:
    return SHIPPED_DIR


def shipped_names() -> list[str]:
    if not SHIPPED_DIR.is_dir():
        return []
    return sorted(p.name for p in SHIPPED_DIR.glob("*.yml") if p.is_file())


def is_shipped(name: str) -> bool:
    return name in shipped_names()


def allowed_roots(settings: Settings) -> list[Path]:
    return [Path(p).resolve() for p in settings.automation_playbook_roots.split(":") if p.strip()]


def _inside(path: Path, roots: list[Path]) -> bool:
    return any(path == root or path.is_relative_to(root) for root in roots)


def _bad(field: str, message: str) -> ValidationFailed:
    return ValidationFailed(f"automation_playbooks.{field}: {message}", table="automation_playbooks", field=field)


def check_playbook_file(playbook_file: str) -> str:
    """A relative path with no ``..`` and no leading ``/``; returned unchanged."""
    parts = Path(playbook_file).parts
    if not playbook_file or playbook_file.startswith("/") or ".." in parts or "\\" in playbook_file:
        raise _bad("playbook_file", "must be a relative path inside the source, without '..'")
    if not playbook_file.endswith((".yml", ".yaml")):
        raise _bad("playbook_file", "must be a .yml or .yaml file")
    return playbook_file


def check_directory(source: str, settings: Settings) -> Path:
    """The resolved directory, if it is inside an allowed root."""
    roots = allowed_roots(settings)
    if not os.path.isabs(source):
        raise _bad("source", "must be an absolute directory path")
    resolved = Path(source).resolve()
    if not roots or not _inside(resolved, roots):
        raise _bad("source", "is outside the allowed playbook roots (ISPOPS_AUTOMATION_PLAYBOOK_ROOTS)")
    return resolved


def check_git(source: str, git_ref: str | None, settings: Settings) -> str:
    """The URL, if its scheme is allowed and a local repository is inside an allowed root."""
    if git_ref is not None and (not GIT_REF.match(git_ref) or ".." in git_ref):
        raise _bad("git_ref", "must be a branch or tag name")
    if source.startswith("/"):
        check_directory(source, settings)
        return source
    url = urlparse(source)
    if url.scheme not in GIT_SCHEMES:
        raise _bad("source", f"git URL scheme must be one of {', '.join(GIT_SCHEMES)}")
    if url.scheme == "file":
        check_directory(url.path, settings)
    elif not url.hostname:
        raise _bad("source", "git URL needs a host")
    if source.startswith("-") or any(c.isspace() for c in source):
        raise _bad("source", "not a git URL")
    return source


def check_source(source_type: str, source: str, git_ref: str | None, playbook_file: str, settings: Settings) -> None:
    """Refuse (422 naming the field) a source or playbook path that could leave the allowed roots."""
    check_playbook_file(playbook_file)
    if source_type == "directory":
        directory = check_directory(source, settings)
        if not directory.is_dir():
            raise _bad("source", "is not a directory")
        _resolve_inside(directory, playbook_file)
    else:
        check_git(source, git_ref, settings)


def _resolve_inside(directory: Path, playbook_file: str) -> Path:
    target = (directory / playbook_file).resolve()
    if not target.is_relative_to(directory.resolve()):
        raise _bad("playbook_file", "resolves outside the playbook's source")
    if not target.is_file():
        raise _bad("playbook_file", f"no such file in the source: {playbook_file}")
    return target


def locate_shipped(name: str) -> Located:
    if not is_shipped(name):
        raise ValidationFailed(f"ansible_jobs.playbook_name: no playbook {name!r}", field="playbook_name")
    return Located(SHIPPED_DIR, name)


def locate_tenant(
    source_type: str,
    source: str,
    git_ref: str | None,
    playbook_file: str,
    settings: Settings,
    workdir: Path,
    *,
    git_timeout: float = 120.0,
) -> Located:
    """Check the source again (the roots may have changed since it was registered) and make it ready:
    a directory is used in place; a git repository is cloned into ``workdir/project``."""
    check_source(source_type, source, git_ref, playbook_file, settings)
    if source_type == "directory":
        directory = check_directory(source, settings)
        _resolve_inside(directory, playbook_file)
        return Located(directory, playbook_file)
    checkout = workdir / "project"
    command = ["git", "clone", "--quiet", "--depth", "1", "--no-recurse-submodules"]
    if git_ref:
        command += ["--branch", git_ref]
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(workdir),
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_ALLOW_PROTOCOL": "https:ssh:file",
    }
    done = subprocess.run(  # noqa: S603  (git with a checked URL after --, no shell)
        [*command, "--", source, str(checkout)],
        capture_output=True,
        text=True,
        env=env,
        timeout=git_timeout,
        check=False,
    )
    if done.returncode != 0:
        first = (done.stderr.strip().splitlines() or ["git clone failed"])[-1]
        raise ValidationFailed(f"automation_playbooks.source: git clone failed: {first}", field="source")
    _resolve_inside(checkout, playbook_file)
    return Located(checkout, playbook_file)
