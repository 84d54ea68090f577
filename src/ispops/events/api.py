"""events over HTTP (stub; its owner replaces it)."""

from __future__ import annotations

from fastapi import APIRouter

from ispops.api.crud import Resource

RESOURCES: list[Resource] = []


def register(router: APIRouter) -> None:
    """No routes yet."""
