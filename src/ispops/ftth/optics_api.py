"""FTTH optical health over HTTP: readings, history, alarms."""

from __future__ import annotations

from fastapi import APIRouter


def register(router: APIRouter) -> None:
    """No routes yet."""
