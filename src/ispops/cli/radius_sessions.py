"""How ``ispops radius sessions`` shows sessions: a table when it fits, one block per session otherwise.

Addresses are never cut, wrapped or shortened (an IPv6 address is 39 characters): their columns do not wrap,
and when the table cannot fit the terminal that way each session is shown as a short list of fields.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.console import Console, Group, RenderableType
from rich.table import Column, Table
from rich.text import Text

HEADERS = ("user", "NAS", "address", "started", "duration", "upload", "download")


def _cells(row: Sequence[Any]) -> list[str]:
    user, nas_ip, addresses, started, seconds, up, down = row
    return [
        str(user),
        str(nas_ip),
        "\n".join(addresses),
        f"{started:%Y-%m-%d %H:%M}",
        duration(int(seconds)),
        size(int(up)),
        size(int(down)),
    ]


def sessions_view(console: Console, rows: Sequence[Sequence[Any]]) -> RenderableType:
    """``rows``: (user, NAS address, [addresses], started, seconds, upload octets, download octets)."""
    cells = [_cells(r) for r in rows]
    # Every column as wide as its longest line, except user names, which may fold down to 16 characters;
    # a box table adds 3 characters per column (padding, separator) and 1 for the left edge.
    widths = [
        max([len(h), *(len(part) for line in cells for part in line[i].splitlines())]) for i, h in enumerate(HEADERS)
    ]
    widths[0] = min(widths[0], 16)
    needed = sum(widths) + 3 * len(widths) + 1
    table = Table(
        Column(HEADERS[0], overflow="fold", min_width=widths[0]),
        *(Column(h, no_wrap=True, min_width=w) for h, w in zip(HEADERS[1:], widths[1:], strict=True)),
    )
    for line in cells:
        table.add_row(*line)
    if needed <= console.width:
        return table
    blocks: list[RenderableType] = []
    for line in cells:
        grid = Table.grid(Column(style="bold", no_wrap=True), Column(overflow="fold"), padding=(0, 1))
        for header, value in zip(HEADERS, line, strict=True):
            grid.add_row(header, Text(value))
        blocks += [grid, Text("")]
    return Group(*blocks)


def duration(seconds: int) -> str:
    hours, rest = divmod(max(seconds, 0), 3600)
    return f"{hours}h{rest // 60:02d}m"


def size(n: int) -> str:
    value = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TB"
