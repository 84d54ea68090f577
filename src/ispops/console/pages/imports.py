"""Console pages: imports (stub; its owner replaces it)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

router = APIRouter()
NAV: list[Any] = []
