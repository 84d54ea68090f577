"""An snmpd ``pass_persist`` program answering from a walk file (a test double of an OLT's SNMP agent).

Each line of the walk file is ``<numeric OID> <type> <value>``, with the types snmpd's pass protocol
knows (``integer``, ``gauge``, ``counter``, ``timeticks``, ``string``, ``octet`` as hex bytes). The file is
read again whenever it changes, so a test can change what the "OLT" reports. Net-SNMP's protocol
(snmpd.conf(5), "pass_persist"): ``PING`` -> ``PONG``; ``get``/``getnext`` + OID -> OID, type, value or
``NONE``; ``set`` -> ``not-writable``.
"""

from __future__ import annotations

import os
import sys


def key(oid: str) -> tuple[int, ...]:
    return tuple(int(p) for p in oid.strip(".").split(".") if p)


class Walk:
    def __init__(self, path: str) -> None:
        self.path = path
        self.mtime = -1.0
        self.rows: list[tuple[tuple[int, ...], str, str]] = []

    def load(self) -> None:
        try:
            mtime = os.stat(self.path).st_mtime_ns
        except OSError:
            self.rows = []
            return
        if mtime == self.mtime:
            return
        rows = []
        with open(self.path, encoding="utf-8") as f:
            for line in f:
                line = line.rstrip("\n")
                if not line.strip():
                    continue
                oid, kind, value = line.split(" ", 2)
                rows.append((key(oid), kind, value))
        rows.sort()
        self.rows, self.mtime = rows, mtime

    def get(self, oid: tuple[int, ...]) -> tuple[tuple[int, ...], str, str] | None:
        for row in self.rows:
            if row[0] == oid:
                return row
        return None

    def next(self, oid: tuple[int, ...]) -> tuple[tuple[int, ...], str, str] | None:
        for row in self.rows:
            if row[0] > oid:
                return row
        return None


def main() -> None:
    walk = Walk(sys.argv[1])
    out = sys.stdout
    while True:
        command = sys.stdin.readline()
        if not command:
            return
        command = command.strip()
        if command == "PING":
            out.write("PONG\n")
        elif command in ("get", "getnext"):
            oid = key(sys.stdin.readline())
            walk.load()
            row = walk.get(oid) if command == "get" else walk.next(oid)
            if row is None:
                out.write("NONE\n")
            else:
                out.write("." + ".".join(map(str, row[0])) + f"\n{row[1]}\n{row[2]}\n")
        elif command == "set":
            sys.stdin.readline()
            sys.stdin.readline()
            out.write("not-writable\n")
        else:
            out.write("NONE\n")
        out.flush()


if __name__ == "__main__":
    main()
