"""ONU provisioning over HTTP: jobs on the OLT drivers, their progress and transcripts."""

from __future__ import annotations

from fastapi import APIRouter


def register(router: APIRouter) -> None:
    """No routes yet."""
