"""Key files the platform generates for itself: created once, private (0600), never half-written."""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from pathlib import Path


def read_or_create_private(path: Path, generate: Callable[[], str]) -> str:
    """The text of ``path``; when missing, ``generate()`` is written there first, mode 0600.

    A private temporary file is fsynced and then linked into place: a concurrent starter either wins the
    link or reads the complete file of the one that did.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        tmp = path.parent / f".{path.name}.{secrets.token_hex(8)}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(generate() + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    return path.read_text()
