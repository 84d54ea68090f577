"""The subscriber import's CSV file: its columns, and every check one row can get without the database.

A row is numbered as a spreadsheet shows it: the header is row 1, the first subscriber row 2. Each problem
is a ``RowError`` naming the row and the CSV column; problems of the whole file (no header, an unknown or
missing column, too many rows) name row 1 and the column concerned, or none. ``parse`` never stops at the
first problem: the preview shows them all (``MAX_ERRORS`` kept, all counted).
"""

from __future__ import annotations

import csv
import io
import ipaddress
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from ispops.models.subscribers import ConnectionType, ServiceType
from ispops.radius import provisioning

MAX_BYTES = 64 * 1024 * 1024
MAX_ROWS = 200_000
MAX_ERRORS = 1_000  # kept and shown; every error is counted
IMPORT_STATUSES = ("pending", "active", "suspended", "on_hold")  # not "terminated": nothing to import
MAC = re.compile(r"^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}$")
CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class Column:
    name: str  # the CSV header
    required: bool = False
    max_length: int | None = None
    choices: tuple[str, ...] | None = None
    help: str = ""


COLUMNS: tuple[Column, ...] = (
    Column("subscriber_number", True, 50, help="unique in the tenant"),
    Column("service_type", True, choices=tuple(ServiceType), help="ftth, wireless, dsl or cable"),
    Column("connection_type", choices=tuple(ConnectionType), help="default pppoe"),
    Column("status", choices=IMPORT_STATUSES, help="default pending"),
    Column("plan", True, 100, help="a bandwidth profile of the tenant, by name or id"),
    Column("username", True, 64, help="PPPoE/RADIUS user name, unique in the tenant"),
    Column("password", True, provisioning.PASSWORD_MAX, help="1-128 printable ASCII characters"),
    Column("static_ip", help="an IPv4 address inside one of the tenant's static pools, free"),
    Column("address_line1", max_length=255),
    Column("address_line2", max_length=255),
    Column("city", max_length=100),
    Column("state", max_length=100),
    Column("postal_code", max_length=20),
    Column("country", max_length=100),
    Column("latitude", help="-90 to 90, with longitude"),
    Column("longitude", help="-180 to 180, with latitude"),
    Column("mac_address", max_length=17, help="like 02:00:5e:00:53:01"),
    Column("vlan_id", help="1 to 4094"),
    Column("notes"),
)
BY_NAME = {c.name: c for c in COLUMNS}
REQUIRED = tuple(c.name for c in COLUMNS if c.required)


@dataclass(frozen=True)
class RowError:
    row: int  # 1 is the header, 2 the first subscriber; 0: the file as a whole
    column: str  # the CSV column, "" when none
    message: str

    def as_dict(self) -> dict[str, object]:
        return {"row": self.row, "column": self.column, "message": self.message}

    def __str__(self) -> str:
        where = "file" if self.row == 0 else f"row {self.row}"
        return f"{where}, {self.column}: {self.message}" if self.column else f"{where}: {self.message}"


@dataclass
class Errors:
    """Every problem found: the first ``MAX_ERRORS`` kept in row order, all counted."""

    kept: list[RowError] = field(default_factory=list)
    count: int = 0

    def add(self, row: int, column: str, message: str) -> None:
        self.count += 1
        if len(self.kept) < MAX_ERRORS:
            self.kept.append(RowError(row, column, message))

    def sorted(self) -> list[RowError]:
        return sorted(self.kept, key=lambda e: (e.row, list(BY_NAME).index(e.column) if e.column in BY_NAME else -1))


@dataclass(frozen=True)
class Row:
    """One subscriber, checked and typed; ``plan`` is resolved by the database."""

    row: int
    subscriber_number: str
    service_type: str
    connection_type: str
    status: str
    plan: str
    plan_id: uuid.UUID | None  # the plan column parsed as an id, if it is one
    username: str
    password: str
    static_ip: str | None
    address_line1: str | None
    address_line2: str | None
    city: str | None
    state: str | None
    postal_code: str | None
    country: str | None
    latitude: Decimal | None
    longitude: Decimal | None
    mac_address: str | None
    vlan_id: int | None
    notes: str | None


@dataclass
class Parsed:
    rows: list[Row]
    errors: Errors
    total: int  # subscriber rows in the file, good and bad


def _decimal(value: str, low: int, high: int) -> Decimal | str:
    try:
        number = Decimal(value)
    except InvalidOperation:
        return f"{value!r} is not a number"
    if not number.is_finite() or not low <= number <= high:
        return f"must be between {low} and {high}"
    return number


def _check_row(n: int, raw: dict[str, str], errors: Errors) -> Row | None:
    values: dict[str, str | None] = {}
    before = errors.count
    for column in COLUMNS:
        given = raw.get(column.name)
        value = given if column.name == "password" else (given or "").strip()
        if not value:
            if column.required:
                errors.add(n, column.name, "is required")
            values[column.name] = None
            continue
        if column.max_length is not None and len(value) > column.max_length:
            errors.add(n, column.name, f"at most {column.max_length} characters (got {len(value)})")
        elif column.choices is not None and value not in column.choices:
            errors.add(n, column.name, f"{value!r} is not one of {', '.join(column.choices)}")
        elif column.name != "password" and CONTROL.search(value):
            errors.add(n, column.name, "must not contain control characters")
        values[column.name] = value

    password = values["password"]
    if password is not None and (problem := provisioning.password_problem(password)) is not None:
        errors.add(n, "password", problem)
    plan = values["plan"]
    plan_id = None
    if plan is not None:
        try:
            plan_id = uuid.UUID(plan)
        except ValueError:
            plan_id = None
    static_ip = values["static_ip"]
    if static_ip is not None:
        try:
            address = ipaddress.ip_address(static_ip)
        except ValueError:
            errors.add(n, "static_ip", f"{static_ip!r} is not an IP address")
        else:
            if address.version != 4:
                errors.add(n, "static_ip", "only IPv4 static addresses (a static pool mirrors IPv4 only)")
            static_ip = str(address)
    coords: dict[str, Decimal | None] = {}
    for name, bound in (("latitude", 90), ("longitude", 180)):
        text = values[name]
        coords[name] = None
        if text is not None:
            got = _decimal(text, -bound, bound)
            if isinstance(got, str):
                errors.add(n, name, got)
            else:
                coords[name] = got
    if (values["latitude"] is None) != (values["longitude"] is None):
        missing = "longitude" if values["longitude"] is None else "latitude"
        errors.add(n, missing, "latitude and longitude go together")
    mac = values["mac_address"]
    if mac is not None and not MAC.match(mac):
        errors.add(n, "mac_address", f"{mac!r} is not a MAC address like 02:00:5e:00:53:01")
    vlan: int | None = None
    if values["vlan_id"] is not None:
        try:
            vlan = int(values["vlan_id"] or "")
        except ValueError:
            errors.add(n, "vlan_id", f"{values['vlan_id']!r} is not a whole number")
        else:
            if not 1 <= vlan <= 4094:
                errors.add(n, "vlan_id", "must be between 1 and 4094")
    if errors.count != before:
        return None

    def s(name: str) -> str | None:
        return values[name]

    def req(name: str) -> str:
        got = values[name]
        assert got is not None
        return got

    return Row(
        row=n,
        subscriber_number=req("subscriber_number"),
        service_type=req("service_type"),
        connection_type=s("connection_type") or ConnectionType.PPPOE.value,
        status=s("status") or "pending",
        plan=req("plan"),
        plan_id=plan_id,
        username=req("username"),
        password=req("password"),
        static_ip=static_ip,
        address_line1=s("address_line1"),
        address_line2=s("address_line2"),
        city=s("city"),
        state=s("state"),
        postal_code=s("postal_code"),
        country=s("country"),
        latitude=coords["latitude"],
        longitude=coords["longitude"],
        mac_address=mac,
        vlan_id=vlan,
        notes=s("notes"),
    )


def parse(content: bytes, progress: Callable[[int], None] | None = None) -> Parsed:
    """Read and check every row of ``content``; rows with a problem are left out of ``rows``."""
    errors = Errors()
    if len(content) > MAX_BYTES:
        errors.add(0, "", f"the file is larger than {MAX_BYTES // (1024 * 1024)} MB")
        return Parsed([], errors, 0)
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        errors.add(0, "", f"the file is not UTF-8 text (byte {exc.start})")
        return Parsed([], errors, 0)
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        errors.add(1, "", "the file is empty: it needs a header row naming the columns")
        return Parsed([], errors, 0)
    except csv.Error as exc:
        errors.add(1, "", f"unreadable header: {exc}")
        return Parsed([], errors, 0)
    names = [h.strip().lower() for h in header]
    for name in names:
        if name not in BY_NAME:
            errors.add(1, name, f"unknown column (the columns are: {', '.join(BY_NAME)})")
    for name in sorted({n for n in names if names.count(n) > 1}):
        errors.add(1, name, "the column appears twice")
    for name in REQUIRED:
        if name not in names:
            errors.add(1, name, "required column missing from the header")
    if errors.count:
        return Parsed([], errors, 0)

    rows: list[Row] = []
    seen: dict[str, dict[str, int]] = {"subscriber_number": {}, "username": {}, "static_ip": {}}
    total = 0
    n = 1
    while True:
        try:
            record = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            errors.add(n + 1, "", f"unreadable row: {exc}")
            break
        n += 1
        if not any(cell.strip() for cell in record):
            continue  # blank line
        total += 1
        if total > MAX_ROWS:
            errors.add(n, "", f"more than {MAX_ROWS:,} subscribers in one file: split it")
            break
        if len(record) != len(names):
            errors.add(n, "", f"{len(record)} values for {len(names)} columns")
            continue
        row = _check_row(n, dict(zip(names, record, strict=True)), errors)
        if row is None:
            continue
        duplicate = False
        for name, value in (("subscriber_number", row.subscriber_number), ("username", row.username)):
            first = seen[name].setdefault(value, n)
            if first != n:
                errors.add(n, name, f"{value!r} is already on row {first} of this file")
                duplicate = True
        if row.static_ip is not None:
            first = seen["static_ip"].setdefault(row.static_ip, n)
            if first != n:
                errors.add(n, "static_ip", f"{row.static_ip} is already on row {first} of this file")
                duplicate = True
        if not duplicate:
            rows.append(row)
        if progress is not None and total % 10_000 == 0:
            progress(total)
    if total == 0 and not errors.count:
        errors.add(0, "", "the file has a header but no subscribers")
    return Parsed(rows, errors, total)


def template() -> str:
    """A CSV header with one example row (the console offers it as a download)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow([c.name for c in COLUMNS])
    example = {
        "subscriber_number": "SUB-0001",
        "service_type": "ftth",
        "connection_type": "pppoe",
        "status": "active",
        "plan": "Fibre 100",
        "username": "jane.doe",
        "password": "change-me-123",
        "static_ip": "",
        "address_line1": "1 Harbour Road",
        "city": "Lakeside",
        "country": "NZ",
    }
    writer.writerow([example.get(c.name, "") for c in COLUMNS])
    return buf.getvalue()
