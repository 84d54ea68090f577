"""Optical readings: ingest (COPY, all or nothing), current values on the ONU, optical alarms with hysteresis,
rollups, partitions and retention."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import psycopg
import pytest
from pydantic import ValidationError
from sqlalchemy import text
from sqlalchemy.exc import ProgrammingError

from ispops.db import migrate
from ispops.db.counters import check_counters
from ispops.db.partitions import maintain
from ispops.db.schema_check import check_schema
from ispops.db.server import Server
from ispops.db.session import Database
from ispops.errors import NotFound, ValidationFailed
from ispops.ftth import jobs as ftth_jobs
from ispops.ftth import optics_maintenance
from ispops.ftth.optics import OpticalReading, history, ingest_readings
from ispops.jobs.maintenance import optics_maintenance as optics_maintenance_job
from ispops.jobs.registry import get_spec
from tests.factories import make_tenant
from tests.ftth import onu_world
from tests.ftth.conftest import OpticsWorld, add_online_onus

NOW = datetime.now(UTC).replace(microsecond=0)


def reading(onu: uuid.UUID, at: datetime, rx: float | None = -20.0, **more: Any) -> OpticalReading:
    return OpticalReading(onu_id=onu, measured_at=at, rx_dbm=rx, **more)


def ingest(db: Database, tenant: str, readings: list[OpticalReading], **kw: Any) -> Any:
    with db.tenant(tenant) as s:
        return ingest_readings(s, tenant_id=tenant, readings=readings, **kw)


def count(admin: psycopg.Connection[Any], sql: str, *args: Any) -> int:
    row = admin.execute(sql, args).fetchone()
    assert row is not None
    return int(row[0])


def open_alarms(admin: psycopg.Connection[Any], onu: uuid.UUID) -> list[tuple[str, str]]:
    rows = admin.execute(
        "select kind, severity from ftth_alarms where onu_id = %s and cleared_at is null order by kind", (onu,)
    ).fetchall()
    return [(str(k), str(s)) for k, s in rows]


def test_readings_are_stored_in_their_days_partition_and_become_the_onus_current_values(
    db: Database, optics_world: OpticsWorld, admin: psycopg.Connection[Any]
) -> None:
    onu = optics_world.onus[0]
    full = reading(
        onu,
        NOW,
        -21.37,
        tx_dbm=2.1,
        olt_rx_dbm=-24.5,
        temperature_c=41.5,
        voltage_v=3.28,
        distance_m=3120,
        uptime_seconds=86_400,
    )
    result = ingest(db, optics_world.tenant, [full, reading(optics_world.onus[1], NOW, -19.0)])
    assert (result.received, result.stored, result.onus_updated) == (2, 2, 2)
    row = admin.execute(
        "select tableoid::regclass::text, rx_dbm, olt_rx_dbm, distance_m, pushed from onu_optical_readings "
        "where onu_id = %s",
        (onu,),
    ).fetchone()
    assert row is not None
    assert (row[0], float(row[1]), float(row[2]), row[3], row[4]) == (
        f"onu_optical_readings_p{NOW:%Y%m%d}",
        -21.37,
        -24.5,
        3120,
        False,
    )
    current = admin.execute(
        "select rx_power_dbm, tx_power_dbm, distance_meters, uptime_seconds, last_seen from onus where id = %s",
        (onu,),
    ).fetchone()
    assert current is not None
    assert (float(current[0]), float(current[1]), current[2], current[3], current[4]) == (
        -21.37,
        2.1,
        3120,
        86_400,
        NOW,
    )
    # The hour is marked for the rollups.
    assert count(admin, "select count(*) from onu_optical_dirty_hours where tenant_id = 'isp-a'") == 1


def test_a_repeated_reading_is_stored_once_and_an_older_one_does_not_overwrite_current_values(
    db: Database, optics_world: OpticsWorld, admin: psycopg.Connection[Any]
) -> None:
    onu = optics_world.onus[0]
    ingest(db, optics_world.tenant, [reading(onu, NOW, -20.0)])
    again = ingest(db, optics_world.tenant, [reading(onu, NOW, -20.0), reading(onu, NOW, -20.0)])
    assert (again.stored, again.onus_updated) == (0, 0)
    late = ingest(db, optics_world.tenant, [reading(onu, NOW - timedelta(minutes=5), -23.0)])
    assert (late.stored, late.onus_updated) == (1, 0)
    assert count(admin, "select count(*) from onu_optical_readings where onu_id = %s", onu) == 2
    assert admin.execute("select rx_power_dbm from onus where id = %s", (onu,)).fetchone() == (-20,)


def test_an_impossible_value_cannot_even_be_built() -> None:
    with pytest.raises(ValidationError) as err:
        OpticalReading(onu_id=uuid.uuid4(), measured_at=NOW, rx_dbm=50.0)
    assert err.value.errors()[0]["loc"] == ("rx_dbm",)
    with pytest.raises(ValidationError):
        OpticalReading(onu_id=uuid.uuid4(), measured_at=NOW.replace(tzinfo=None), rx_dbm=-20.0)


def test_another_tenants_onu_refuses_the_whole_batch(
    db: Database, optics_world: OpticsWorld, admin: psycopg.Connection[Any]
) -> None:
    other = onu_world.build(db, "isp-b")
    (stranger,) = add_online_onus(db, other, 1, prefix="OTHR")
    batch = [reading(optics_world.onus[0], NOW), reading(stranger, NOW)]
    with pytest.raises(NotFound) as err:
        ingest(db, optics_world.tenant, batch)
    assert err.value.field == "readings.1.onu_id"
    assert count(admin, "select count(*) from onu_optical_readings") == 0
    assert admin.execute("select last_seen from onus where id = %s", (optics_world.onus[0],)).fetchone() == (None,)


def test_a_reading_outside_the_time_window_is_a_422_naming_it(
    db: Database, optics_world: OpticsWorld, admin: psycopg.Connection[Any]
) -> None:
    batch = [reading(optics_world.onus[0], NOW), reading(optics_world.onus[1], NOW - timedelta(days=3))]
    with pytest.raises(ValidationFailed) as err:
        ingest(db, optics_world.tenant, batch)
    assert err.value.field == "readings.1.measured_at"
    assert count(admin, "select count(*) from onu_optical_readings") == 0


# (Rx in dBm, the open rx_low/rx_high after it) on a GPON B+ OLT: warning -25, critical -27, overload -8,
# hysteresis 1 dB.
SEQUENCE = [
    (-24.0, []),
    (-25.5, [("rx_low", "warning")]),
    (-24.5, [("rx_low", "warning")]),  # above -25 but not past -24: stays
    (-27.5, [("rx_low", "critical")]),
    (-26.5, [("rx_low", "critical")]),  # above -27 but not past -26: stays critical
    (-25.9, [("rx_low", "warning")]),
    (-23.9, []),  # past -24: cleared
    (-7.5, [("rx_high", "critical")]),
    (-8.5, [("rx_high", "critical")]),
    (-9.1, []),
]


def test_rx_alarms_follow_the_class_thresholds_with_hysteresis(
    db: Database, optics_world: OpticsWorld, admin: psycopg.Connection[Any]
) -> None:
    onu = optics_world.onus[0]
    start = NOW - timedelta(hours=1)
    for step, (rx, expected) in enumerate(SEQUENCE):
        ingest(db, optics_world.tenant, [reading(onu, start + timedelta(minutes=5 * step), rx)])
        assert open_alarms(admin, onu) == expected, (rx, step)
    # Two rx_low episodes and one overload, each raised once and cleared once.
    rows = admin.execute(
        "select kind, count(*), count(cleared_at) from ftth_alarms where onu_id = %s group by kind order by kind",
        (onu,),
    ).fetchall()
    assert rows == [("rx_high", 1, 1), ("rx_low", 1, 1)]


def test_thresholds_come_from_the_olts_optical_class(
    db: Database, optics_world: OpticsWorld, admin: psycopg.Connection[Any]
) -> None:
    admin.execute("update olts set optical_class = 'c_plus' where id = %s", (optics_world.world.olt,))
    onu = optics_world.onus[0]
    ingest(db, optics_world.tenant, [reading(onu, NOW - timedelta(minutes=10), -27.5)])
    assert open_alarms(admin, onu) == []  # C+: warning -28, critical -30
    ingest(db, optics_world.tenant, [reading(onu, NOW, -30.2)])
    assert open_alarms(admin, onu) == [("rx_low", "critical")]
    alarm = admin.execute("select value_dbm, threshold_dbm, olt_id, pon_port from ftth_alarms").fetchone()
    assert alarm is not None
    assert (float(alarm[0]), float(alarm[1]), alarm[2]) == (-30.2, -30.0, optics_world.world.olt)


def test_rollups_are_recomputed_for_closed_hours_only_and_late_readings_recount(
    db: Database, optics_world: OpticsWorld, admin: psycopg.Connection[Any]
) -> None:
    onu = optics_world.onus[0]
    hour = (NOW - timedelta(hours=2)).replace(minute=0, second=0)
    ingest(db, optics_world.tenant, [reading(onu, hour + timedelta(minutes=m), rx) for m, rx in ((0, -20), (5, -22))])
    ingest(db, optics_world.tenant, [reading(onu, NOW, -21.0)])  # this hour: not closed yet
    with db.tenant(optics_world.tenant) as s:
        done = optics_maintenance.rollup(s, optics_world.tenant)
    assert done.hours == [hour]
    hourly = admin.execute(
        "select samples, rx_min_dbm, rx_avg_dbm, rx_max_dbm from onu_optical_hourly where onu_id = %s", (onu,)
    ).fetchall()
    assert [(n, float(a), float(b), float(c)) for n, a, b, c in hourly] == [(2, -22.0, -21.0, -20.0)]
    # A late reading of that hour re-marks it; the next run recomputes it (not adds to it).
    ingest(db, optics_world.tenant, [reading(onu, hour + timedelta(minutes=10), -24.0)])
    with db.tenant(optics_world.tenant) as s:
        again = optics_maintenance.rollup(s, optics_world.tenant)
        nothing = optics_maintenance.rollup(s, optics_world.tenant)
    assert again.hours == [hour] and nothing.hours == []
    hourly = admin.execute(
        "select samples, rx_min_dbm, rx_avg_dbm from onu_optical_hourly where onu_id = %s", (onu,)
    ).fetchall()
    assert [(n, float(a), float(b)) for n, a, b in hourly] == [(3, -24.0, -22.0)]
    daily = admin.execute("select day, samples, rx_avg_dbm from onu_optical_daily where onu_id = %s", (onu,)).fetchall()
    assert [(d, n, float(a)) for d, n, a in daily] == [(hour.date(), 3, -22.0)]
    with db.tenant(optics_world.tenant) as s:
        raw = history(s, optics_world.tenant, onu, start=hour, end=NOW + timedelta(seconds=1))
        hours = history(s, optics_world.tenant, onu, start=hour, end=NOW, resolution="hourly")
    assert [float(r["rx_dbm"]) for r in raw] == [-20.0, -22.0, -24.0, -21.0]
    assert [r["samples"] for r in hours] == [3]


def test_history_of_another_tenants_onu_is_not_found(db: Database, optics_world: OpticsWorld) -> None:
    other = onu_world.build(db, "isp-b")
    (stranger,) = add_online_onus(db, other, 1, prefix="OTHR")
    ingest(db, "isp-b", [reading(stranger, NOW)])
    with db.tenant(optics_world.tenant) as s, pytest.raises(NotFound):
        history(s, optics_world.tenant, stranger, start=NOW - timedelta(hours=1), end=NOW + timedelta(minutes=1))


def test_readings_of_one_tenant_are_invisible_to_another(
    db: Database, optics_world: OpticsWorld, admin: psycopg.Connection[Any]
) -> None:
    ingest(db, optics_world.tenant, [reading(optics_world.onus[0], NOW)])
    make_tenant(db, "isp-c")
    with db.tenant("isp-c") as s:
        assert s.execute(text("select count(*) from onu_optical_readings")).scalar_one() == 0
    # and no role reaches a partition directly: every access goes through the parent and its policy
    with pytest.raises(ProgrammingError, match="permission denied"), db.tenant("isp-a") as s:
        s.execute(text(f"select count(*) from onu_optical_readings_p{NOW:%Y%m%d}"))


def test_partitions_ahead_and_retention_and_each_partition_keeps_the_tenancy_rules(fresh_optics_db: Database) -> None:
    with fresh_optics_db.owner() as conn:
        first = optics_maintenance.maintain_partitions(conn, today=date(2031, 3, 30))
        again = optics_maintenance.maintain_partitions(conn, today=date(2031, 3, 30))
        assert {"onu_optical_readings_p20310328", "onu_optical_readings_p20310401"} <= set(first.created)
        assert {"onu_optical_hourly_p203102", "onu_optical_daily_p203105"} <= set(first.created)
        assert (again.created, again.dropped) == ([], [])
        later = optics_maintenance.maintain_partitions(
            conn, today=date(2031, 5, 10), raw_retention_days=31, rollup_retention_months=2
        )
        # Raw readings kept 31 days (from 9 April 2031), rollups two months (from March 2031).
        assert "onu_optical_readings_p20310401" in later.dropped
        assert "onu_optical_readings_p20310409" not in later.dropped
        assert "onu_optical_hourly_p203102" in later.dropped and "onu_optical_hourly_p203103" not in later.dropped
        names = optics_maintenance.list_partitions(conn, "onu_optical_readings")
        assert "onu_optical_readings_default" in names and "onu_optical_readings_p20310512" in names
        assert [p for p in check_schema(conn) if "optical" in p] == []


@pytest.fixture
def fresh_optics_db(empty_server: Server) -> Iterator[Database]:
    """A database of its own: these tests move the calendar and drop partitions."""
    migrate.upgrade(empty_server)
    database = Database(empty_server)
    yield database
    database.dispose()


def test_ispops_db_maintain_keeps_the_optics_partitions_and_rolls_up(
    db: Database, optics_world: OpticsWorld, admin: psycopg.Connection[Any]
) -> None:
    hour = (NOW - timedelta(hours=3)).replace(minute=0, second=0)
    ingest(db, optics_world.tenant, [reading(onu, hour, -21.0) for onu in optics_world.onus])
    report = maintain(db)
    assert report.optics_hours_rolled_up == 1
    assert not [p for p in report.problems if "optical" in p]
    assert count(admin, "select count(*) from onu_optical_hourly where hour = %s", hour) == len(optics_world.onus)
    ahead = f"onu_optical_readings_p{NOW + timedelta(days=2):%Y%m%d}"
    assert count(admin, "select count(*) from pg_class where relname = %s", ahead) == 1


def test_the_worker_keeps_the_optics_partitions_as_the_app_role_and_rolls_up(
    db: Database, optics_world: OpticsWorld, admin: psycopg.Connection[Any]
) -> None:
    hour = (NOW - timedelta(hours=3)).replace(minute=0, second=0)
    ingest(db, optics_world.tenant, [reading(optics_world.onus[0], hour, -21.0)])
    first = optics_maintenance_job(db)
    second = optics_maintenance_job(db)
    assert first.optics_hours_rolled_up == 1 and second.optics_hours_rolled_up == 0
    assert (second.created, second.dropped, second.problems) == ([], [], [])
    assert count(admin, "select count(*) from onu_optical_hourly") == 1
    # The app role may run the upkeep, never the partition maker or the calendar-moving variant.
    privilege = "select has_function_privilege('ispops_app', %s, 'EXECUTE')"
    assert admin.execute(privilege, ("ispops_optics_maintain(integer, integer, integer)",)).fetchone() == (True,)
    for other in (
        "ispops_optics_ensure_partition(text, date)",
        "ispops_optics_maintain_at(date, integer, integer, integer)",
    ):
        assert admin.execute(privilege, (other,)).fetchone() == (False,)


def test_telemetry_updates_run_no_counter_but_status_changes_still_count(
    db: Database, optics_world: OpticsWorld, admin: psycopg.Connection[Any]
) -> None:
    ingest(db, optics_world.tenant, [reading(onu, NOW) for onu in optics_world.onus])
    olt = optics_world.world.olt
    assert admin.execute("select active_onus from olts where id = %s", (olt,)).fetchone() == (6,)
    admin.execute("update onus set status = 'offline' where id = %s", (optics_world.onus[0],))
    assert admin.execute("select active_onus from olts where id = %s", (olt,)).fetchone() == (5,)
    triggers = admin.execute(
        "select tgname, pg_get_triggerdef(oid) from pg_trigger where tgrelid = 'onus'::regclass "
        "and tgname like 'onus_count_%%' order by 1"
    ).fetchall()
    assert [(name, " UPDATE OF " in text_) for name, text_ in triggers] == [
        ("onus_count_active_onus", True),
        ("onus_count_ports_used", True),
    ]
    _, drifts = check_counters(db)
    assert drifts == []


def test_the_hourly_job_rolls_up_closed_hours(
    db: Database, optics_world: OpticsWorld, admin: psycopg.Connection[Any]
) -> None:
    spec = get_spec("ftth.rollup_optics")
    assert (spec.scope, spec.cron) == ("tenant", "12 * * * *")
    onu = optics_world.onus[0]
    hour = (NOW - timedelta(hours=3)).replace(minute=0, second=0)
    later = hour + timedelta(hours=1)
    ingest(db, optics_world.tenant, [reading(onu, hour + timedelta(minutes=m), rx) for m, rx in ((0, -20), (5, -24))])
    ingest(db, optics_world.tenant, [reading(onu, later + timedelta(minutes=5), -21.0)])
    # At :12 of the next hour: the first hour is closed (10 min grace), the second still open.
    at = (later + timedelta(minutes=12)).isoformat()
    done = ftth_jobs.rollup_optics(db, optics_world.tenant, now=at)
    assert done == {"hours": [hour.isoformat()], "hourly_rows": 1, "daily_rows": 1}
    hourly = admin.execute(
        "select hour, samples, rx_avg_dbm from onu_optical_hourly where onu_id = %s", (onu,)
    ).fetchall()
    assert [(h, n, float(a)) for h, n, a in hourly] == [(hour, 2, -22.0)]
    assert ftth_jobs.rollup_optics(db, optics_world.tenant, now=at)["hours"] == []  # a rerun finds nothing
    nxt = ftth_jobs.rollup_optics(db, optics_world.tenant, now=(later + timedelta(hours=1, minutes=12)).isoformat())
    assert nxt["hours"] == [later.isoformat()]
