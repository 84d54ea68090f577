"""``bench/import.py --smoke``: the subscriber import benchmark still runs end to end and its checks pass."""

from __future__ import annotations

from tests.bench.test_smoke import smoke


def test_import_benchmark_smoke() -> None:
    out = smoke(
        "import",
        r"^import: .* rows/s\): checks .* writes .* commit",
        r"^written: 500 subscribers, 4,200 RADIUS rows, 50 static addresses$",
        r"^CPU: this process .* \+ its PostgreSQL backend .* s = ",
        r"^bare COPY: ",
        r"^subscriber import of 500 rows end to end: .* a bare COPY of the same file .* rows per CPU second\)$",
        r"^checks: ok$",
    )
    assert "CHECK FAILED" not in out
