"""Shared set-up of the FTTH, wireless and map console tests: the demo data, a discovered ONU, readings."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import text

from ispops.db.session import Database
from ispops.demo.seed import seed_demo
from ispops.ftth import optics, service
from ispops.tenancy.service import create_user
from tests.console.conftest import PASSWORD, StaffUser

FIBRE = "lakeside-fibre"
WISP = "ridgeline-wireless"
NEW_SERIAL = "ZTEGC0FFEE01"


def seed(db: Database) -> None:
    """Both demo tenants (ispops.demo), as ``ispops seed --demo`` makes them."""
    seed_demo(db)


def olt_id(db: Database, tenant: str) -> uuid.UUID:
    with db.tenant(tenant, enforce_status=False) as s:
        return s.execute(text("select id from olts where tenant_id = :t"), {"t": tenant}).scalar_one()  # type: ignore[no-any-return]


def demo_pon(db: Database, tenant: str) -> uuid.UUID:
    """The demo's PON port with the ONUs (0/1/0)."""
    with db.tenant(tenant, enforce_status=False) as s:
        return s.execute(  # type: ignore[no-any-return]
            text("select id from olt_pon_ports where tenant_id = :t and name = '0/1/0'"), {"t": tenant}
        ).scalar_one()


def discovered_onu(db: Database, tenant: str, serial: str = NEW_SERIAL) -> uuid.UUID:
    """An ONU the OLT's auto-find reported on port 0/1/1 (the service the discovery job calls)."""
    with db.tenant(tenant, enforce_status=False) as s:
        onu = service.record_discovered(
            s, tenant, olt_id=olt_id(db, tenant), serial_number=serial, frame=0, slot=1, port=1, vendor="ZTE"
        )
        return onu.id


def onu_row(db: Database, tenant: str, onu: uuid.UUID) -> dict[str, Any]:
    with db.tenant(tenant, enforce_status=False) as s:
        row = s.execute(
            text(
                "select o.status, o.onu_id, o.vlan_id, o.line_profile, p.name as port from onus o "
                "join olt_pon_ports p on p.tenant_id = o.tenant_id and p.id = o.pon_port_id "
                "where o.tenant_id = :t and o.id = :id"
            ),
            {"t": tenant, "id": onu},
        ).one()
        return dict(row._mapping)


def flagged_onu(db: Database, tenant: str) -> tuple[uuid.UUID, str]:
    """The demo ONU 5 dB below its budget (the last serial): (id, serial)."""
    with db.tenant(tenant, enforce_status=False) as s:
        row = s.execute(
            text(
                "select id, serial_number from onus where tenant_id = :t and splitter_id is not null "
                "order by serial_number desc limit 1"
            ),
            {"t": tenant},
        ).one()
        return row.id, row.serial_number


def readings(db: Database, tenant: str, onu: uuid.UUID, n: int = 12) -> None:
    """``n`` readings of ``onu`` over the last hours (pushed through the optical ingest)."""
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    with db.tenant(tenant, enforce_status=False) as s:
        optics.ingest_readings(
            s,
            tenant_id=tenant,
            readings=[
                optics.OpticalReading(
                    onu_id=onu,
                    measured_at=now - dt.timedelta(minutes=10 * (n - i)),
                    rx_dbm=-21.0 - i / 10,
                    olt_rx_dbm=-24.0,
                )
                for i in range(n)
            ],
        )


def staff(db: Database, tenant: str, role: str) -> StaffUser:
    """A user of ``role`` in a demo tenant (``<role>@<tenant>.example``, the console tests' password)."""
    email = f"{role.replace('_', '-')}@{tenant}.example"
    with db.tenant(tenant, enforce_status=False) as s:
        create_user(s, tenant_id=tenant, email=email, password=PASSWORD, roles=[role])
    return StaffUser(tenant, email, role)


def a_splitter(db: Database, tenant: str) -> uuid.UUID:
    with db.tenant(tenant, enforce_status=False) as s:
        return s.execute(text("select id from splitters where tenant_id = :t limit 1"), {"t": tenant}).scalar_one()  # type: ignore[no-any-return]
