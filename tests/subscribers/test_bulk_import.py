"""``ispops.subscribers.bulk_import``: every row checked (row + CSV column), a refused file writes nothing, a
failure mid-import leaves nothing, and what an import writes — subscribers, credentials, radcheck/radreply,
static addresses, counters — equals what the normal path (ORM insert with the write-only password, the
triggers' render, ``ipam.allocate``) writes for the same subscribers."""

from __future__ import annotations

import csv
import io
import uuid
from typing import Any

import psycopg
import pytest
from sqlalchemy import text

from ispops.db.counters import check_counters
from ispops.db.session import Database
from ispops.errors import QuotaExceeded
from ispops.ipam import service as ipam
from ispops.jobs.registry import get_spec
from ispops.models import Subscriber
from ispops.subscribers import bulk_import
from ispops.subscribers.bulk_import_csv import COLUMNS
from tests.factories import make_tenant
from tests.jobs.conftest import jobs_db as jobs_db  # the fixture: an empty job queue
from tests.jobs.conftest import run_jobs

HEADER = [c.name for c in COLUMNS]
PLANS: dict[str, dict[str, Any]] = {
    "Home 50": {"download_mbps": 50, "upload_mbps": 10},
    "Pro 300": {
        "download_mbps": 300,
        "upload_mbps": 60,
        "download_burst_mbps": 400,
        "upload_burst_mbps": 80,
        "burst_threshold_mbps": 250,
        "burst_time_seconds": 16,
        "priority": 3,
        "session_timeout_seconds": 86400,
        "simultaneous_use": 2,
        "cisco_policy_in": "PRO-IN",
        "juniper_qos_profile": "pro-300",
    },
}
STATUSES = ("active", "pending", "suspended", "on_hold", "active", "active")


def csv_bytes(rows: list[dict[str, Any]]) -> bytes:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=HEADER, lineterminator="\n")
    writer.writeheader()
    for r in rows:
        writer.writerow(r)
    return buf.getvalue().encode()


def sample(n: int, *, static_every: int = 4, prefix: str = "u") -> list[dict[str, Any]]:
    out = []
    for i in range(n):
        out.append(
            {
                "subscriber_number": f"S-{prefix}{i:05d}",
                "service_type": "ftth" if i % 2 else "wireless",
                "status": STATUSES[i % len(STATUSES)],
                "plan": "Pro 300" if i % 3 == 0 else "Home 50",
                "username": f"{prefix}{i:05d}@isp",
                "password": f"pw-{i}-secret",
                "static_ip": f"10.9.{i // 200}.{i % 200 + 10}" if static_every and i % static_every == 0 else "",
                "address_line1": f"{i} Harbour Road",
                "city": "Lakeside",
                "latitude": "-36.84" if i % 5 == 0 else "",
                "longitude": "174.76" if i % 5 == 0 else "",
                "vlan_id": str(100 + i % 50) if i % 7 == 0 else "",
            }
        )
    return out


def setup_tenant(
    db: Database, tenant: str, *, password_type: str = "cleartext", max_subscribers: int = 10_000, exists: bool = False
) -> None:
    """Plans, a static and a dynamic pool, a manual credential row; the tenant too unless it ``exists``."""
    if not exists:
        make_tenant(db, tenant)
    with db.platform() as s:
        s.execute(
            text(
                "update tenants set max_subscribers = :m, radius_password_type = :p, "
                "radius_suspended_action = 'walled_garden' where id = :t"
            ),
            {"m": max_subscribers, "p": password_type, "t": tenant},
        )
    with db.tenant(tenant) as s:
        for name, values in PLANS.items():
            cols = ", ".join(values)
            s.execute(
                text(
                    f"insert into bandwidth_profiles (tenant_id, name, {cols}) values "
                    f"(:t, :name, {', '.join(':' + c for c in values)})"
                ),
                {"t": tenant, "name": name, **values},
            )
        ipam.create_pool(s, tenant_id=tenant, name="static", network_cidr="10.9.0.0/16", pool_type="static")
        ipam.create_pool(s, tenant_id=tenant, name="dyn", network_cidr="10.8.0.0/16", pool_type="dynamic")
        # A manual credential row holding a name the file brings: taken over, as by the normal path.
        s.execute(
            text(
                "insert into radcheck (tenant_id, username, attribute, op, value) "
                "values (:t, 'u00001@isp', 'Cleartext-Password', ':=', 'old')"
            ),
            {"t": tenant},
        )


def normal_path(db: Database, tenant: str, rows: list[dict[str, Any]]) -> None:
    """The same subscribers the way the API and IPAM make them, one by one."""
    with db.tenant(tenant) as s:
        plans: dict[str, uuid.UUID] = dict(
            s.execute(text("select name, id from bandwidth_profiles where tenant_id = :t"), {"t": tenant}).all()
        )
        static = s.execute(text("select id from ip_pools where tenant_id = :t and name = 'static'"), {"t": tenant})
        pool = static.scalar_one()
        for r in rows:
            sub = Subscriber(
                tenant_id=tenant,
                subscriber_number=r["subscriber_number"],
                service_type=r["service_type"],
                connection_type="pppoe",
                status=r["status"],
                bandwidth_profile_id=plans[r["plan"]],
                pppoe_username=r["username"],
                pppoe_password=r["password"],
                service_address_line1=r["address_line1"],
                service_address_city=r["city"],
                service_location_lat=r["latitude"] or None,
                service_location_lng=r["longitude"] or None,
                vlan_id=int(r["vlan_id"]) if r["vlan_id"] else None,
            )
            s.add(sub)
            s.flush()
            if r["static_ip"]:
                ipam.allocate(s, tenant_id=tenant, pool_id=pool, ip_address=r["static_ip"], subscriber_id=sub.id)


def state(admin: psycopg.Connection[Any], tenant: str) -> dict[str, Any]:
    """What both paths must agree on, without ids and timestamps."""

    def q(sql: str) -> list[tuple[Any, ...]]:
        return sorted(admin.execute(sql, (tenant,)).fetchall(), key=repr)

    return {
        "radius": q(
            "select 'radcheck', username, attribute, op, value, subscriber_id is not null from radcheck "
            "where tenant_id = %s"
        )
        + q(
            "select 'radreply', username, attribute, op, value, subscriber_id is not null from radreply "
            "where tenant_id = %s"
        ),
        "owners": q(
            "select r.username, s.pppoe_username from radcheck r join subscribers s on s.id = r.subscriber_id "
            "where r.tenant_id = %s"
        ),
        "subscribers": q(
            "select subscriber_number, service_type, connection_type, status, pppoe_username, pppoe_password, "
            "host(static_ip_address), service_location_lat, vlan_id, service_address_city, "
            "p.name "
            "from subscribers s join bandwidth_profiles p on p.id = s.bandwidth_profile_id where s.tenant_id = %s"
        ),
        "allocations": q(
            "select host(a.ip_address), a.status, a.lease_end is null, s.pppoe_username, p.name from ip_allocations a "
            "join subscribers s on s.id = a.subscriber_id join ip_pools p on p.id = a.ip_pool_id where a.tenant_id = %s"
        ),
        "pools": q(
            "select name, allocated_ips, available_ips, utilisation_percent, host(next_ip) from ip_pools "
            "where tenant_id = %s"
        ),
        "tenant": q("select current_subscribers from tenants where id = %s"),
    }


@pytest.mark.parametrize("password_type", ["cleartext", "nt_password"])
def test_import_writes_exactly_what_the_normal_path_writes(
    db: Database, admin: psycopg.Connection[Any], password_type: str
) -> None:
    rows = sample(60)
    setup_tenant(db, "isp-normal", password_type=password_type)
    setup_tenant(db, "isp-import", password_type=password_type)
    normal_path(db, "isp-normal", rows)
    with db.tenant("isp-import") as s:
        checked, imported = bulk_import.import_file(s, tenant_id="isp-import", content=csv_bytes(rows))
    assert checked.ok and imported is not None
    assert (imported.subscribers, imported.static_ips) == (60, 15)
    normal, bulk = state(admin, "isp-normal"), state(admin, "isp-import")
    assert len(normal["radius"]) > 60 * 3  # plans, statuses, addresses: a real variety of rows
    for key in normal:
        assert bulk[key] == normal[key], key
    with db.tenant("isp-import") as s:
        assert bulk_import.recent(s, tenant_id="isp-import") == []  # the CLI path records no batch row
    assert check_counters(db)[1] == []  # every counter, recomputed, as stored


def test_two_bad_rows_are_named_and_nothing_is_imported(db: Database, admin: psycopg.Connection[Any]) -> None:
    setup_tenant(db, "isp-a")
    rows = sample(1000)
    rows[41]["plan"] = "Gold 1000"  # row 43 in the file (header is row 1)
    rows[776]["static_ip"] = "192.0.2.50"  # outside every pool: row 778
    with db.tenant("isp-a") as s:
        checked, imported = bulk_import.import_file(s, tenant_id="isp-a", content=csv_bytes(rows))
    assert imported is None and not checked.ok
    assert [(e.row, e.column) for e in checked.errors] == [(43, "plan"), (778, "static_ip")]
    assert "Gold 1000" in checked.errors[0].message
    assert "not inside any IP pool" in checked.errors[1].message
    assert admin.execute("select count(*) from subscribers").fetchone() == (0,)
    assert admin.execute("select count(*) from ip_allocations").fetchone() == (0,)
    assert admin.execute("select count(*) from radcheck where subscriber_id is not null").fetchone() == (0,)


def test_every_check_names_its_column(db: Database, admin: psycopg.Connection[Any]) -> None:
    setup_tenant(db, "isp-a")
    with db.tenant("isp-a") as s:
        checked, imported = bulk_import.import_file(s, tenant_id="isp-a", content=csv_bytes(sample(4)))
    assert imported is not None
    rows = sample(14, prefix="n", static_every=0)
    rows[0]["subscriber_number"] = "S-u00001"  # in the database
    rows[1]["username"] = "u00002@isp"  # in the database
    rows[2]["static_ip"] = "10.9.0.10"  # allocated by the first file
    rows[3]["static_ip"] = "10.8.0.20"  # a dynamic pool
    rows[4]["service_type"] = "fibre"
    rows[5]["password"] = "caf\u00e9"
    rows[6]["latitude"], rows[6]["longitude"] = "95", "10"
    rows[7]["username"] = rows[8]["username"]  # a duplicate inside the file: the later row is named
    rows[9]["vlan_id"] = "5000"
    rows[10]["static_ip"] = "10.9.300.1"
    rows[11]["plan"] = ""
    rows[12]["mac_address"] = "nope"
    rows[13]["latitude"] = "-36.8"
    rows[13]["longitude"] = ""
    with db.tenant("isp-a") as s:
        checked, imported = bulk_import.import_file(s, tenant_id="isp-a", content=csv_bytes(rows))
    assert imported is None
    assert [(e.row, e.column) for e in checked.errors] == [
        (2, "subscriber_number"),
        (3, "username"),
        (4, "static_ip"),
        (5, "static_ip"),
        (6, "service_type"),
        (7, "password"),
        (8, "latitude"),
        (10, "username"),
        (11, "vlan_id"),
        (12, "static_ip"),
        (13, "plan"),
        (14, "mac_address"),
        (15, "longitude"),
    ]
    assert "already allocated" in checked.errors[2].message and "static pool" in checked.errors[3].message
    assert "row 9" in checked.errors[7].message
    assert admin.execute("select count(*) from subscribers").fetchone() == (4,)


def test_header_problems_refuse_the_file(db: Database) -> None:
    setup_tenant(db, "isp-a")
    content = b"subscriber_number,service_type,plan,username,colour\nS-1,ftth,Home 50,a,blue\n"
    with db.tenant("isp-a") as s:
        checked, _ = bulk_import.import_file(s, tenant_id="isp-a", content=content)
    assert [(e.row, e.column) for e in checked.errors] == [(1, "colour"), (1, "password")]


def test_quota_is_checked_before_and_enforced_by_the_database(db: Database, admin: psycopg.Connection[Any]) -> None:
    setup_tenant(db, "isp-a", max_subscribers=10)
    with db.tenant("isp-a") as s:
        checked, imported = bulk_import.import_file(s, tenant_id="isp-a", content=csv_bytes(sample(11)))
    assert imported is None and [(e.row, e.column) for e in checked.errors] == [(0, "")]
    assert "max_subscribers" in checked.errors[0].message
    # The database's own check holds even when the preview's is bypassed (a race with another import).
    with pytest.raises(QuotaExceeded), db.tenant("isp-a") as s:
        checked = bulk_import.check(s, tenant_id="isp-a", content=csv_bytes(sample(11)))
        ok = bulk_import.Checked(checked.total, checked.rows, [], 0)
        bulk_import.write(s, tenant_id="isp-a", checked=ok)
    assert admin.execute("select count(*), (select current_subscribers from tenants) from subscribers").fetchone() == (
        0,
        0,
    )


def test_a_failure_in_the_last_chunk_leaves_nothing(
    db: Database, admin: psycopg.Connection[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    setup_tenant(db, "isp-a")
    monkeypatch.setattr(bulk_import, "CHUNK", 7)
    rows = sample(30)
    # Taken between the check and the write (another import): the unique index refuses the last chunk.
    with pytest.raises(Exception, match=r"pppoe_username|username"), db.tenant("isp-a") as s:
        checked = bulk_import.check(s, tenant_id="isp-a", content=csv_bytes(rows))
        s.execute(
            text(
                "insert into subscribers (tenant_id, subscriber_number, service_type, pppoe_username) "
                "values (:t, 'other', 'ftth', 'u00029@isp')"
            ),
            {"t": "isp-a"},
        )
        bulk_import.write(s, tenant_id="isp-a", checked=checked)
    for table in ("subscribers", "ip_allocations", "radreply"):
        assert admin.execute(f"select count(*) from {table}").fetchone() == (0,), table
    assert admin.execute("select count(*) from radcheck").fetchone() == (1,)  # the manual row, untouched
    assert admin.execute("select allocated_ips from ip_pools where name = 'static'").fetchone() == (0,)


def test_progress_is_reported_per_chunk(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    setup_tenant(db, "isp-a")
    monkeypatch.setattr(bulk_import, "CHUNK", 10)
    seen: list[tuple[str, int, int]] = []
    with db.tenant("isp-a") as s:
        bulk_import.import_file(s, tenant_id="isp-a", content=csv_bytes(sample(25)), progress=lambda *a: seen.append(a))
    assert [p[1:] for p in seen if p[0] == "importing"] == [(10, 25), (20, 25), (25, 25)]


def test_batches_belong_to_their_tenant(db: Database) -> None:
    setup_tenant(db, "isp-a")
    make_tenant(db, "isp-b")
    with db.tenant("isp-a") as s:
        batch = bulk_import.preview(s, tenant_id="isp-a", filename="a.csv", content=csv_bytes(sample(3)))
        assert (batch.status, batch.total_rows, batch.content is not None) == ("validated", 3, True)
        key = batch.id
    with db.tenant("isp-b") as s:
        with pytest.raises(Exception, match="no such record"):
            bulk_import.get(s, tenant_id="isp-b", import_id=key)
        assert bulk_import.recent(s, tenant_id="isp-b") == []


def test_the_job_imports_a_queued_file_and_drops_it(db: Database, admin: psycopg.Connection[Any]) -> None:
    setup_tenant(db, "isp-a")
    with db.tenant("isp-a") as s:
        bad = sample(5)
        bad[2]["plan"] = "nope"
        refused = bulk_import.preview(s, tenant_id="isp-a", filename="bad.csv", content=csv_bytes(bad))
        assert (refused.status, refused.error_count, refused.content) == ("refused", 1, None)
        assert refused.errors == [{"row": 4, "column": "plan", "message": refused.errors[0]["message"]}]
        batch = bulk_import.preview(s, tenant_id="isp-a", filename="good.csv", content=csv_bytes(sample(12)))
        key = batch.id
    with db.tenant("isp-a") as s:
        queued = bulk_import.queue(s, tenant_id="isp-a", import_id=key)
        assert queued.status == "queued" and queued.queue_job_id is not None
    args = admin.execute("select args::text from procrastinate.procrastinate_jobs").fetchone()
    assert args is not None and "pw-" not in args[0] and "u00001" not in args[0]  # only the id travels
    result = bulk_import.run_import_job(db, "isp-a", import_id=str(key))
    assert result["subscribers"] == 12
    got = admin.execute(
        "select status, processed_rows, imported_rows, content is null, summary->>'static_ips' "
        "from subscriber_imports where id = %s",
        (key,),
    ).fetchone()
    assert got == ("succeeded", 12, 12, True, "3")
    assert bulk_import.run_import_job(db, "isp-a", import_id=str(key)) == {"skipped": "succeeded"}
    assert admin.execute("select count(*) from subscribers").fetchone() == (12,)


def test_the_job_fails_cleanly_when_the_data_changed(db: Database, admin: psycopg.Connection[Any]) -> None:
    setup_tenant(db, "isp-a")
    with db.tenant("isp-a") as s:
        key = bulk_import.preview(s, tenant_id="isp-a", filename="f.csv", content=csv_bytes(sample(6))).id
        bulk_import.queue(s, tenant_id="isp-a", import_id=key)
    with db.tenant("isp-a") as s:  # meanwhile someone takes a user name of the file
        s.execute(
            text(
                "insert into subscribers (tenant_id, subscriber_number, service_type, pppoe_username) "
                "values (:t, 'x', 'ftth', 'u00003@isp')"
            ),
            {"t": "isp-a"},
        )
    assert bulk_import.run_import_job(db, "isp-a", import_id=str(key)) == {"refused": 1}
    got = admin.execute(
        "select status, content is null, errors->0->>'row', errors->0->>'column' from subscriber_imports"
    ).fetchone()
    assert got == ("failed", True, "5", "username")
    assert admin.execute("select count(*) from subscribers").fetchone() == (1,)


def test_uuid_plan_and_defaults(db: Database, admin: psycopg.Connection[Any]) -> None:
    setup_tenant(db, "isp-a")
    plan = admin.execute("select id from bandwidth_profiles where name = 'Home 50'").fetchone()
    assert plan is not None
    content = f"subscriber_number,service_type,plan,username,password\nS-9,dsl,{plan[0]},zed,pw9\n".encode()
    with db.tenant("isp-a") as s:
        _, imported = bulk_import.import_file(s, tenant_id="isp-a", content=content)
    assert imported is not None
    assert admin.execute("select status, connection_type, bandwidth_profile_id from subscribers").fetchone() == (
        "pending",
        "pppoe",
        uuid.UUID(str(plan[0])),
    )
    assert admin.execute(
        "select attribute, value from radcheck where username = 'zed' order by attribute"
    ).fetchall() == [("Auth-Type", "Reject"), ("Cleartext-Password", "pw9")]


def test_a_real_worker_runs_the_queued_import(jobs_db: Database, admin: psycopg.Connection[Any]) -> None:
    db = jobs_db
    setup_tenant(db, "isp-a")
    with db.tenant("isp-a") as s:
        key = bulk_import.preview(s, tenant_id="isp-a", filename="w.csv", content=csv_bytes(sample(20))).id
        bulk_import.queue(s, tenant_id="isp-a", import_id=key)
    run_jobs(db, [get_spec("subscribers.import")])
    assert admin.execute(
        "select j.status::text, i.status, i.imported_rows from procrastinate.procrastinate_jobs j, subscriber_imports i"
    ).fetchone() == ("succeeded", "succeeded", 20)
