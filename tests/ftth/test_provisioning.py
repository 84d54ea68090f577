"""Provisioning jobs end to end: the ONU routes queue a driver job in their transaction, the job drives the
MA5800 double over real SSH (sshd) and records every command with its output; a refusal or a timeout
leaves the ONU ``auth_failed`` and retrying is safe; polling and discovery through real snmpd."""

from __future__ import annotations

import json
import uuid
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from ispops.db.session import Database
from ispops.ftth import jobs
from ispops.jobs.registry import get_spec
from ispops.secrets.file import FileSecretStore
from tests.api.conftest import TokenFor, secret_store  # noqa: F401 (the app's secret store)
from tests.devices.conftest import COMMUNITY
from tests.ftth.doubles.huawei_snmp import FakeAutofind, FakeOnu, HuaweiAgent, OltWalk
from tests.ftth.doubles.huawei_ssh import HuaweiSsh
from tests.ftth.onu_world import OltWorld
from tests.jobs.conftest import QUEUE_TABLES, queue, run_jobs

Headers = dict[str, str]
SERIAL = "HWTC1A2B3C4D"
CONFIG = {"line_profile": "10", "service_profile": "FTTH", "vlan_id": 100}


def drive(
    db: Database,
    world: OltWorld,
    store: FileSecretStore,
    *,
    driver: str,
    ssh: HuaweiSsh | None = None,
    snmp_port: int | None = None,
) -> None:
    """Give the world's OLT a driver, an address and credentials in the secret store."""
    path = f"tenants/{world.tenant}/olt-credentials"
    creds: dict[str, Any] = {"snmp_community": COMMUNITY}
    if ssh is not None:
        creds |= {"username": ssh.username, "private_key": ssh.private_key, "ssh_port": ssh.port}
    store.put(path, json.dumps(creds).encode())
    with db.tenant(world.tenant) as s:
        s.execute(text("update olts set driver = :d where id = :o"), {"d": driver, "o": world.olt})
        s.execute(
            text(
                "update devices set management_ip = '127.0.0.1', snmp_version = 'v2c', snmp_port = :p, "
                "credentials_vault_path = :path where id = (select device_id from olts where id = :o)"
            ),
            {"o": world.olt, "path": path, "p": snmp_port or 161},
        )


def discovered(client: TestClient, world: OltWorld, h: Headers, serial: str = SERIAL) -> str:
    r = client.post(
        f"/api/v1/olts/{world.olt}/discovered",
        json={"serial_number": serial, "frame": 0, "slot": 1, "port": 3},
        headers=h,
    )
    assert r.status_code == 200, r.text
    return str(r.json()["id"])


def only_job(client: TestClient, onu: str, h: Headers) -> dict[str, Any]:
    listed = client.get(f"/api/v1/onus/{onu}/provisioning-jobs", headers=h).json()
    job: dict[str, Any] = listed[0]
    return job


def run(db: Database, world: OltWorld, job: dict[str, Any], timeout: float = 10) -> str:
    return jobs.run_job(db, world.tenant, job_id=job["id"], timeout=timeout)


@pytest.fixture
def noc(auth: TokenFor, olt_world: OltWorld) -> Headers:
    return auth("isp-a", "noc_engineer")


def test_authorise_runs_the_cli_sequence_and_keeps_the_transcript(
    client: TestClient,
    db: Database,
    olt_world: OltWorld,
    noc: Headers,
    secret_store: FileSecretStore,  # noqa: F811
    huawei_ssh: HuaweiSsh,
    admin: psycopg.Connection[Any],
) -> None:
    drive(db, olt_world, secret_store, driver="huawei_cli", ssh=huawei_ssh)
    onu = discovered(client, olt_world, noc)
    r = client.post(f"/api/v1/onus/{onu}/authorise", json=CONFIG, headers=noc)
    assert r.status_code == 200, r.text
    assert (r.json()["status"], r.json()["onu_id"]) == ("authorising", 0)
    job = only_job(client, onu, noc)
    assert (job["action"], job["status"], job["driver"]) == ("authorise", "queued", "huawei_cli")
    queued = admin.execute(
        "select task_name, args->>'job_id' from procrastinate.procrastinate_jobs where id = "
        "(select queue_job_id from onu_provisioning_jobs where id = %s)",
        (job["id"],),
    ).fetchone()
    assert queued == ("ftth.run_job", job["id"])  # deferred in the request's transaction

    assert run(db, olt_world, job) == "succeeded"
    done = client.get(f"/api/v1/onu_provisioning_jobs/{job['id']}", headers=noc).json()
    assert done["status"] == "succeeded" and done["steps_done"] == done["steps_total"] == len(done["commands"])
    assert (
        'ont add 3 0 sn-auth HWTC1A2B3C4D omci ont-lineprofile-id 10 ont-srvprofile-name FTTH desc "HWTC1A2B3C4D"'
        in done["commands"]
    )
    assert [s["command"] for s in done["steps"]] == done["commands"]
    assert "success: 1" in done["transcript"]
    assert client.get(f"/api/v1/onus/{onu}", headers=noc).json()["status"] == "authorised"
    state = huawei_ssh.state()
    assert [(o["fsp"], o["id"], o["sn"]) for o in state["onts"]] == [("0/1/3", 0, SERIAL)]
    assert state["service_ports"] == [{"vlan": 100, "fsp": "0/1/3", "ont": 0, "gem": 1}]
    assert run(db, olt_world, job) == "succeeded"  # delivered twice: a finished job is left alone
    assert len(huawei_ssh.state()["log"]) == len(state["log"])

    r = client.post(f"/api/v1/onus/{onu}/reboot", json={}, headers=noc)
    assert r.status_code == 200, r.text
    assert run(db, olt_world, only_job(client, onu, noc)) == "succeeded"
    assert huawei_ssh.state()["resets"] == ["0/1/3 0"]

    r = client.post(f"/api/v1/onus/{onu}/deauthorise", json={}, headers=noc)
    assert r.status_code == 200 and r.json()["status"] == "deauthorising", r.text
    assert run(db, olt_world, only_job(client, onu, noc)) == "succeeded"
    assert huawei_ssh.state()["onts"] == [] and huawei_ssh.state()["service_ports"] == []
    assert client.get(f"/api/v1/onus/{onu}", headers=noc).json()["status"] == "discovered"


def test_a_refused_command_fails_the_job_and_retrying_is_safe(
    client: TestClient,
    db: Database,
    olt_world: OltWorld,
    noc: Headers,
    secret_store: FileSecretStore,  # noqa: F811
    huawei_ssh: HuaweiSsh,
) -> None:
    drive(db, olt_world, secret_store, driver="huawei_cli", ssh=huawei_ssh)
    onu = discovered(client, olt_world, noc)
    huawei_ssh.reset(fail=["service-port vlan"], fail_message="The VLAN does not exist")
    assert client.post(f"/api/v1/onus/{onu}/authorise", json=CONFIG, headers=noc).status_code == 200
    job = only_job(client, onu, noc)
    assert run(db, olt_world, job) == "failed"
    failed = client.get(f"/api/v1/onu_provisioning_jobs/{job['id']}", headers=noc).json()
    assert failed["error_kind"] == "refused"
    assert failed["failed_command"].startswith("service-port vlan 100 gpon 0/1/3 ont 0")
    assert "Failure: The VLAN does not exist" in failed["error"]
    assert failed["steps"][-1]["ok"] is False and "Failure: The VLAN does not exist" in failed["steps"][-1]["output"]
    assert failed["steps_done"] < failed["steps_total"]  # nothing after the refused command
    onu_row = client.get(f"/api/v1/onus/{onu}", headers=noc).json()
    assert (onu_row["status"], onu_row["onu_id"]) == ("auth_failed", 0)

    # retry: the ONT half-added by the first attempt is cleaned up and added again, with the same id
    huawei_ssh.reset(onts=huawei_ssh.state()["onts"])
    assert client.post(f"/api/v1/onus/{onu}/authorise", json=CONFIG, headers=noc).status_code == 200
    retry = only_job(client, onu, noc)
    assert retry["id"] != job["id"]
    assert run(db, olt_world, retry) == "succeeded"
    assert [(o["fsp"], o["id"]) for o in huawei_ssh.state()["onts"]] == [("0/1/3", 0)]
    assert client.get(f"/api/v1/onus/{onu}", headers=noc).json()["status"] == "authorised"


def test_a_driver_timeout_leaves_the_onu_auth_failed(
    client: TestClient,
    db: Database,
    olt_world: OltWorld,
    noc: Headers,
    secret_store: FileSecretStore,  # noqa: F811
    huawei_ssh: HuaweiSsh,
) -> None:
    drive(db, olt_world, secret_store, driver="huawei_cli", ssh=huawei_ssh)
    onu = discovered(client, olt_world, noc)
    huawei_ssh.reset(hang=["ont add"])
    assert client.post(f"/api/v1/onus/{onu}/authorise", json=CONFIG, headers=noc).status_code == 200
    job = only_job(client, onu, noc)
    assert run(db, olt_world, job, timeout=2) == "failed"
    failed = client.get(f"/api/v1/onu_provisioning_jobs/{job['id']}", headers=noc).json()
    assert failed["error_kind"] == "timeout" and "ont add" in failed["error"]
    assert client.get(f"/api/v1/onus/{onu}", headers=noc).json()["status"] == "auth_failed"


def test_bad_input_is_a_4xx_naming_the_field_and_writes_nothing(
    client: TestClient,
    db: Database,
    olt_world: OltWorld,
    noc: Headers,
    auth: TokenFor,
    secret_store: FileSecretStore,  # noqa: F811
    admin: psycopg.Connection[Any],
) -> None:
    admin_h = auth("isp-a", "tenant_admin")
    r = client.patch(f"/api/v1/olts/{olt_world.olt}", json={"driver": "zte_magic"}, headers=admin_h)
    assert r.status_code == 422 and "driver" in r.text, r.text
    drive(db, olt_world, secret_store, driver="huawei_cli")
    with db.tenant(olt_world.tenant) as s:  # an OLT without a management address
        s.execute(text("update devices set management_ip = null, primary_ip = null"))
    onu = discovered(client, olt_world, noc)
    r = client.post(f"/api/v1/onus/{onu}/authorise", json=CONFIG, headers=noc)
    assert r.status_code == 422, r.text
    assert r.json()["field"] == "management_ip"
    row = client.get(f"/api/v1/onus/{onu}", headers=noc).json()
    assert (row["status"], row["onu_id"]) == ("discovered", None)  # nothing half-written
    assert admin.execute("select count(*) from onu_provisioning_jobs").fetchone() == (0,)
    assert client.post(f"/api/v1/olts/{olt_world.olt}/discover", headers=admin_h).status_code == 422
    with db.tenant(olt_world.tenant) as s:
        s.execute(text("update olts set driver = null"))
    r = client.post(f"/api/v1/olts/{olt_world.olt}/poll", headers=admin_h)
    assert r.status_code == 422 and r.json()["field"] == "driver", r.text


def test_another_tenants_jobs_and_olts_are_not_found(
    client: TestClient, db: Database, olt_world: OltWorld, other_world: OltWorld, noc: Headers, auth: TokenFor
) -> None:
    with db.tenant(olt_world.tenant) as s:
        s.execute(text("update olts set driver = 'lab'"))
    assert (
        client.post(f"/api/v1/olts/{olt_world.olt}/discover", headers=auth("isp-a", "tenant_admin")).status_code == 202
    )
    onu = discovered(client, olt_world, noc)
    job = client.get(f"/api/v1/olts/{olt_world.olt}/provisioning-jobs", headers=noc).json()[0]
    b_admin = auth("isp-b", "tenant_admin")
    assert client.get(f"/api/v1/onu_provisioning_jobs/{job['id']}", headers=b_admin).status_code == 404
    assert client.get(f"/api/v1/onus/{onu}/provisioning-jobs", headers=b_admin).status_code == 404
    assert client.get(f"/api/v1/olts/{olt_world.olt}/provisioning-jobs", headers=b_admin).status_code == 404
    assert client.post(f"/api/v1/olts/{olt_world.olt}/poll", headers=b_admin).status_code == 404
    assert client.get(f"/api/v1/onu_provisioning_jobs/{uuid.uuid4()}", headers=noc).status_code == 404
    assert jobs.run_job(db, other_world.tenant, job_id=job["id"]) == "missing"  # and workers cannot cross either


def test_lab_driver_discovers_and_authorises(
    client: TestClient, db: Database, olt_world: OltWorld, noc: Headers, auth: TokenFor
) -> None:
    with db.tenant(olt_world.tenant) as s:
        s.execute(text("update olts set driver = 'lab'"))
    r = client.post(f"/api/v1/olts/{olt_world.olt}/discover", headers=auth("isp-a", "tenant_admin"))
    assert r.status_code == 202, r.text
    assert run(db, olt_world, r.json()) == "succeeded"
    found = client.get(f"/api/v1/olts/{olt_world.olt}/unconfigured", headers=noc).json()
    assert len(found) == 2 and all(o["serial_number"].startswith("LABO") for o in found)
    onu = found[0]["id"]
    assert client.post(f"/api/v1/onus/{onu}/authorise", json=CONFIG, headers=noc).status_code == 200
    job = only_job(client, onu, noc)
    assert run(db, olt_world, job) == "succeeded"
    done = client.get(f"/api/v1/onu_provisioning_jobs/{job['id']}", headers=noc).json()
    assert all(s["output"].startswith("lab: ") for s in done["steps"])


def test_polling_and_discovery_over_snmp(
    client: TestClient,
    db: Database,
    olt_world: OltWorld,
    noc: Headers,
    auth: TokenFor,
    secret_store: FileSecretStore,  # noqa: F811
    huawei_agent: HuaweiAgent,
    huawei_ssh: HuaweiSsh,
) -> None:
    drive(db, olt_world, secret_store, driver="huawei_ma5800", ssh=huawei_ssh, snmp_port=huawei_agent.port)
    onu = discovered(client, olt_world, noc, "HWTC00000001")
    assert client.post(f"/api/v1/onus/{onu}/authorise", json=CONFIG, headers=noc).status_code == 200
    assert run(db, olt_world, only_job(client, onu, noc)) == "succeeded"
    huawei_agent.serve(
        OltWalk(
            onus=[FakeOnu(1, 3, 0, "HWTC00000001", rx_dbm=-21.37, tx_dbm=2.2, olt_rx_dbm=-23.5, distance_m=2400)],
            autofind=[FakeAutofind(1, 3, 1, "HWTC0000BEEF")],
        )
    )
    admin_h = auth("isp-a", "tenant_admin")
    poll = client.post(f"/api/v1/olts/{olt_world.olt}/poll", headers=admin_h).json()
    assert run(db, olt_world, poll) == "succeeded"
    row = client.get(f"/api/v1/onus/{onu}", headers=noc).json()
    assert (row["status"], float(row["rx_power_dbm"]), row["distance_meters"]) == ("online", -21.37, 2400)
    polled = client.get(f"/api/v1/onu_provisioning_jobs/{poll['id']}", headers=noc).json()
    assert polled["result"]["readings"] == 1

    huawei_agent.serve(OltWalk(onus=[FakeOnu(1, 3, 0, "HWTC00000001", online=False, last_down_cause=13)]))
    assert jobs.poll_tenant(db, olt_world.tenant)[str(olt_world.olt)]["status_changes"] == 1
    row = client.get(f"/api/v1/onus/{onu}", headers=noc).json()
    assert (row["status"], row["last_down_cause"]) == ("offline", "dying_gasp")
    raised = client.get("/api/v1/ftth/alarms", params={"onu_id": onu}, headers=noc).json()["items"]
    assert [a["kind"] for a in raised] == ["dying_gasp"]  # the poll reconciles the link alarms

    huawei_agent.serve(OltWalk(autofind=[FakeAutofind(1, 3, 1, "HWTC0000BEEF")]))
    assert jobs.discover_tenant(db, olt_world.tenant)[str(olt_world.olt)] == {"discovered": 1}
    found = client.get(f"/api/v1/olts/{olt_world.olt}/unconfigured", headers=noc).json()
    assert [o["serial_number"] for o in found] == ["HWTC0000BEEF"]


def test_move_and_replace_drive_both_places(
    client: TestClient,
    db: Database,
    olt_world: OltWorld,
    noc: Headers,
    secret_store: FileSecretStore,  # noqa: F811
    huawei_ssh: HuaweiSsh,
) -> None:
    drive(db, olt_world, secret_store, driver="huawei_cli", ssh=huawei_ssh)
    onu = discovered(client, olt_world, noc)
    assert client.post(f"/api/v1/onus/{onu}/authorise", json=CONFIG, headers=noc).status_code == 200
    assert run(db, olt_world, only_job(client, onu, noc)) == "succeeded"

    with db.tenant(olt_world.tenant) as s:
        s.execute(
            text("insert into olt_pon_ports (tenant_id, olt_id, frame, slot, port) values (:t, :o, 0, 2, 0)"),
            {"t": olt_world.tenant, "o": olt_world.olt},
        )
    r = client.post(f"/api/v1/onus/{onu}/move", json={"frame": 0, "slot": 2, "port": 0}, headers=noc)
    assert r.status_code == 200, r.text
    moved = only_job(client, onu, noc)
    assert (moved["action"], run(db, olt_world, moved)) == ("move", "succeeded")
    assert [(o["fsp"], o["id"]) for o in huawei_ssh.state()["onts"]] == [("0/2/0", 0)]
    assert [sp["fsp"] for sp in huawei_ssh.state()["service_ports"]] == ["0/2/0"]

    r = client.post(f"/api/v1/onus/{onu}/replace", json={"serial_number": "HWTC99990000"}, headers=noc)
    assert r.status_code == 200, r.text
    assert run(db, olt_world, only_job(client, onu, noc)) == "succeeded"
    assert [(o["fsp"], o["id"], o["sn"]) for o in huawei_ssh.state()["onts"]] == [("0/2/0", 0, "HWTC99990000")]
    assert client.get(f"/api/v1/onus/{onu}", headers=noc).json()["status"] == "authorised"


def test_a_move_to_another_olt_leaves_the_old_one(
    client: TestClient, db: Database, olt_world: OltWorld, noc: Headers, admin: psycopg.Connection[Any]
) -> None:
    with db.tenant(olt_world.tenant) as s:
        s.execute(text("update olts set driver = 'lab'"))
        device = s.execute(
            text("insert into devices (tenant_id, name, device_type) values (:t, 'olt-2', 'olt') returning id"),
            {"t": olt_world.tenant},
        ).scalar_one()
        other = s.execute(
            text("insert into olts (tenant_id, device_id, driver) values (:t, :d, 'lab') returning id"),
            {"t": olt_world.tenant, "d": device},
        ).scalar_one()
        s.execute(
            text("insert into olt_pon_ports (tenant_id, olt_id, frame, slot, port) values (:t, :o, 0, 1, 0)"),
            {"t": olt_world.tenant, "o": other},
        )
    onu = discovered(client, olt_world, noc)
    assert client.post(f"/api/v1/onus/{onu}/authorise", json=CONFIG, headers=noc).status_code == 200
    assert run(db, olt_world, only_job(client, onu, noc)) == "succeeded"
    r = client.post(
        f"/api/v1/onus/{onu}/move", json={"olt_id": str(other), "frame": 0, "slot": 1, "port": 0}, headers=noc
    )
    assert r.status_code == 200, r.text
    rows = admin.execute(
        "select olt_id, onu_id, action, params->'address' from onu_provisioning_jobs where status = 'queued' "
        "order by olt_id = %s",
        (other,),
    ).fetchall()
    assert [(r[0], r[1], r[2]) for r in rows] == [(olt_world.olt, None, "deauthorise"), (other, uuid.UUID(onu), "move")]
    assert rows[0][3] == {"frame": 0, "slot": 1, "port": 3, "onu_id": 0}
    for row in admin.execute("select id from onu_provisioning_jobs where status = 'queued'").fetchall():
        assert jobs.run_job(db, olt_world.tenant, job_id=str(row[0])) == "succeeded"
    assert client.get(f"/api/v1/onus/{onu}", headers=noc).json()["status"] == "authorised"


def test_a_real_worker_runs_the_queued_job(
    client: TestClient, db: Database, olt_world: OltWorld, noc: Headers, admin: psycopg.Connection[Any]
) -> None:
    admin.execute(f"truncate {QUEUE_TABLES} restart identity cascade")
    with db.tenant(olt_world.tenant) as s:
        s.execute(text("update olts set driver = 'lab'"))
    onu = discovered(client, olt_world, noc)
    assert client.post(f"/api/v1/onus/{onu}/authorise", json=CONFIG, headers=noc).status_code == 200
    run_jobs(db, [get_spec(jobs.TASK)])
    assert [(r[0], r[1]) for r in queue(admin)] == [("ftth.run_job", "succeeded")]
    assert only_job(client, onu, noc)["status"] == "succeeded"
    assert client.get(f"/api/v1/onus/{onu}", headers=noc).json()["status"] == "authorised"


def test_an_olt_without_a_driver_is_provisioned_by_hand(
    client: TestClient, db: Database, olt_world: OltWorld, noc: Headers, admin: psycopg.Connection[Any]
) -> None:
    # olts.driver is NULL: each action completes at once, in the request's transaction, and says so.
    queued = "select count(*) from procrastinate.procrastinate_jobs where task_name = 'ftth.run_job'"
    before = admin.execute(queued).fetchone()
    onu = discovered(client, olt_world, noc)
    r = client.post(f"/api/v1/onus/{onu}/authorise", json=CONFIG, headers=noc)
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["status"], body["onu_id"], body["provisioning"], body["job_id"]) == ("authorised", 0, "manual", None)
    assert body["authorised_at"] is not None
    r = client.post(f"/api/v1/onus/{onu}/reboot", json={}, headers=noc)
    assert (r.status_code, r.json()["status"], r.json()["provisioning"]) == (200, "authorised", "manual"), r.text
    r = client.post(f"/api/v1/onus/{onu}/replace", json={"serial_number": "HWTC99999999"}, headers=noc)
    assert (r.status_code, r.json()["status"], r.json()["provisioning"]) == (200, "authorised", "manual"), r.text
    r = client.post(f"/api/v1/onus/{onu}/deauthorise", json={}, headers=noc)
    assert r.status_code == 200, r.text
    assert (r.json()["status"], r.json()["onu_id"], r.json()["provisioning"]) == ("discovered", None, "manual")
    r = client.post(f"/api/v1/onus/{onu}/retire", json={}, headers=noc)
    assert (r.status_code, r.json()["status"], r.json()["provisioning"]) == (200, "retired", None), r.text
    assert admin.execute("select count(*) from onu_provisioning_jobs").fetchone() == (0,)
    assert admin.execute(queued).fetchone() == before  # nothing queued
    done = admin.execute(
        "select changes->>'action', changes->>'provisioning' from audit_events where entity = 'onus' "
        "and entity_id = %s and action = 'action' order by id",
        (onu,),
    ).fetchall()
    assert done[-5:] == [
        ("authorise", "manual"),
        ("reboot", "manual"),
        ("replace", "manual"),
        ("deauthorise", "manual"),
        ("retire", None),
    ]
