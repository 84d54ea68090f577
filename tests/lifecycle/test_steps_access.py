"""The access steps (ONU authorisation, wireless CPE record, CPE configuration) run and undone directly:
an OLT provisioned by hand completes at once, the lab driver's job is run like a worker would, GenieACS
is a local HTTP double following its documented API."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from sqlalchemy import select, text

from ispops.config import get_settings
from ispops.db.session import Database
from ispops.ftth import jobs as ftth_jobs
from ispops.lifecycle import plans
from ispops.lifecycle.steps import Done, StepFailed, Wait
from ispops.lifecycle.steps_access import AuthoriseOnu, ConfigureCpe, RegisterCpe, ReleaseAccess
from ispops.lifecycle.steps_network import AllocateIp, ProvisionRadius
from ispops.models import OnuProvisioningJob
from tests.ftth.doubles.genieacs import cpe, genieacs
from tests.lifecycle.step_world import World, build, compensate_step, context, effects, run_step, serial, subscriber

PROFILES = {"line_profile": "10", "service_profile": "FTTH"}


@pytest.fixture
def world(db: Database) -> World:
    return build(db, "acc-a")


def _start(db: Database, world: World, sub: uuid.UUID, **params: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    with db.tenant(world.tenant) as s:
        normal = plans.validate(
            s,
            tenant_id=world.tenant,
            activation_type="new_service",
            subscriber_id=sub,
            params={"bandwidth_profile_id": str(world.plan), **params},
        )
    state: dict[str, Any] = {}
    run_step(db, world, sub, plans.Validate("new_service"), params=normal, state=state, order_id=uuid.uuid4())
    return normal, state


def _run_driver_jobs(db: Database, world: World) -> list[str]:
    with db.tenant(world.tenant) as s:
        queued = [str(j) for j in s.scalars(select(OnuProvisioningJob.id).where(OnuProvisioningJob.status == "queued"))]
    return [ftth_jobs.run_job(db, world.tenant, job_id=j) for j in queued]


def test_an_onu_on_an_olt_without_driver_is_authorised_at_once_and_undone(
    db: Database, world: World, admin: psycopg.Connection[Any]
) -> None:
    sub = subscriber(db, world)
    sn = serial()
    params, state = _start(db, world, sub, olt_id=str(world.olt), pon_port_id=str(world.port), serial_number=sn)
    order = uuid.uuid4()
    done = run_step(db, world, sub, AuthoriseOnu(), params=params, state=state, order_id=order)
    assert isinstance(done, Done) and done.result["status"] == "authorised" and done.result["onu_id"] == 0
    assert run_step(db, world, sub, AuthoriseOnu(), params=params, state=state, order_id=order) == done
    assert effects(admin, world.tenant, sub)["onu_ids"] == 1
    for _ in range(2):
        compensate_step(db, world, sub, AuthoriseOnu(), params=params, state=state, order_id=order)
    row = admin.execute("select status, onu_id from onus where serial_number = %s", (sn,)).fetchone()
    assert row == ("discovered", None)


def test_an_onu_behind_a_driver_waits_for_the_job_and_is_deauthorised_by_a_job(
    db: Database, world: World, admin: psycopg.Connection[Any]
) -> None:
    sub = subscriber(db, world)
    params, state = _start(
        db, world, sub, olt_id=str(world.lab_olt), pon_port_id=str(world.lab_port), serial_number=serial(), **PROFILES
    )
    order = uuid.uuid4()
    first = run_step(db, world, sub, AuthoriseOnu(), params=params, state=state, order_id=order)
    assert isinstance(first, Wait)
    again = run_step(db, world, sub, AuthoriseOnu(), params=params, state=state, order_id=order)
    assert isinstance(again, Wait)  # the same reservation, still waiting: no second job
    assert effects(admin, world.tenant, sub)["authorise_jobs"] == 1
    assert _run_driver_jobs(db, world) == ["succeeded"]
    done = run_step(db, world, sub, AuthoriseOnu(), params=params, state=state, order_id=order)
    assert isinstance(done, Done) and done.result["provisioning"] == "driver"
    compensate_step(db, world, sub, AuthoriseOnu(), params=params, state=state, order_id=order)
    assert _run_driver_jobs(db, world) == ["succeeded"]
    compensate_step(db, world, sub, AuthoriseOnu(), params=params, state=state, order_id=order)
    assert effects(admin, world.tenant, sub)["onu_ids"] == 0
    assert admin.execute("select count(*) from onu_provisioning_jobs").fetchone() == (2,)


def test_an_onu_still_being_authorised_is_not_undone_under_the_driver(db: Database, world: World) -> None:
    sub = subscriber(db, world)
    params, state = _start(
        db, world, sub, olt_id=str(world.lab_olt), pon_port_id=str(world.lab_port), serial_number=serial(), **PROFILES
    )
    order = uuid.uuid4()
    assert isinstance(run_step(db, world, sub, AuthoriseOnu(), params=params, state=state, order_id=order), Wait)
    with pytest.raises(StepFailed) as caught:
        compensate_step(db, world, sub, AuthoriseOnu(), params=params, state=state, order_id=order)
    assert caught.value.retryable


def test_a_failed_authorisation_fails_the_step_and_its_undo_frees_the_id(
    db: Database, world: World, admin: psycopg.Connection[Any]
) -> None:
    sub = subscriber(db, world)
    sn = serial()
    params, state = _start(db, world, sub, olt_id=str(world.lab_olt), pon_port_id=str(world.lab_port), serial_number=sn)
    order = uuid.uuid4()
    assert isinstance(run_step(db, world, sub, AuthoriseOnu(), params=params, state=state, order_id=order), Wait)
    assert _run_driver_jobs(db, world) == ["failed"]  # no line profile: the driver refuses
    with pytest.raises(StepFailed, match="did not authorise"):
        run_step(db, world, sub, AuthoriseOnu(), params=params, state=state, order_id=order)
    compensate_step(db, world, sub, AuthoriseOnu(), params=params, state=state, order_id=order)
    assert admin.execute("select status, onu_id from onus where serial_number = %s", (sn,)).fetchone() == (
        "retired",
        None,
    )


def test_no_onu_and_no_cpe_are_skipped(db: Database, world: World) -> None:
    sub = subscriber(db, world)
    params, state = _start(db, world, sub)
    order = uuid.uuid4()
    for step in (AuthoriseOnu(), RegisterCpe(), ConfigureCpe()):
        result = run_step(db, world, sub, step, params=params, state=state, order_id=order)
        assert isinstance(result, Done) and "skipped" in result.result


def test_a_wireless_cpe_is_registered_once_and_removed_by_the_undo(
    db: Database, world: World, admin: psycopg.Connection[Any]
) -> None:
    sub = subscriber(db, world, service_type="wireless")
    params, state = _start(
        db,
        world,
        sub,
        sector_id=str(world.sector),
        cpe_mac="AA:BB:CC:00:00:01",
        install_latitude=-1.30,
        install_longitude=36.83,
    )
    order = uuid.uuid4()
    done = run_step(db, world, sub, RegisterCpe(), params=params, state=state, order_id=order)
    assert isinstance(done, Done) and done.result["predicted_signal_dbm"] is not None
    assert run_step(db, world, sub, RegisterCpe(), params=params, state=state, order_id=order) == done
    assert effects(admin, world.tenant, sub)["all_cpes"] == 1
    for _ in range(2):
        compensate_step(db, world, sub, RegisterCpe(), params=params, state=state, order_id=order)
    assert effects(admin, world.tenant, sub)["all_cpes"] == 0


@pytest.fixture
def fresh_settings() -> Iterator[None]:
    yield
    get_settings.cache_clear()


@pytest.mark.usefixtures("fresh_settings")
def test_tr069_sets_the_cpe_pppoe_and_an_unknown_cpe_fails_the_step(
    db: Database, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    sn = serial()
    with genieacs(cpe(sn, tenant=world.tenant)) as acs:
        monkeypatch.setenv("ISPOPS_GENIEACS_NBI_URL", acs.url)
        get_settings.cache_clear()  # settings are read once per process
        sub = subscriber(db, world)
        params, state = _start(
            db, world, sub, olt_id=str(world.olt), pon_port_id=str(world.port), serial_number=sn, pppoe_username="tr"
        )
        assert params["configure"] == "tr069", params
        order = uuid.uuid4()
        for step in (AllocateIp(), ProvisionRadius(), AuthoriseOnu()):
            run_step(db, world, sub, step, params=params, state=state, order_id=order)
        done = run_step(db, world, sub, ConfigureCpe(), params=params, state=state, order_id=order)
        assert isinstance(done, Done) and done.result["tr069"] == "done"
        ppp = "InternetGatewayDevice.WANDevice.1.WANConnectionDevice.1.WANPPPConnection.1."
        assert acs.value(sn, ppp + "Username") == "tr"

        other = subscriber(db, world)
        params, state = _start(
            db, world, other, olt_id=str(world.olt), pon_port_id=str(world.port), serial_number=serial()
        )
        for step in (AllocateIp(), ProvisionRadius(), AuthoriseOnu()):
            run_step(db, world, other, step, params=params, state=state, order_id=order)
        with pytest.raises(StepFailed, match="no CPE") as caught:
            run_step(db, world, other, ConfigureCpe(), params=params, state=state, order_id=order)
        assert not caught.value.retryable


def test_termination_takes_every_onu_off_its_olt_and_removes_the_cpe_records(
    db: Database, world: World, admin: psycopg.Connection[Any]
) -> None:
    sub = subscriber(db, world)
    params, state = _start(db, world, sub, olt_id=str(world.olt), pon_port_id=str(world.port), serial_number=serial())
    order = uuid.uuid4()
    run_step(db, world, sub, AuthoriseOnu(), params=params, state=state, order_id=order)
    with db.tenant(world.tenant) as s:
        s.execute(
            text(
                "insert into wireless_subscribers (tenant_id, subscriber_id, sector_id, cpe_mac, install_latitude, "
                "install_longitude) values (:t, :s, :sec, 'AA:BB:CC:00:00:09', -1.3, 36.81)"
            ),
            {"t": world.tenant, "s": sub, "sec": world.sector},
        )
    done = run_step(db, world, sub, ReleaseAccess(), params={}, state={}, order_id=order, order_type="terminate")
    assert isinstance(done, Done) and len(done.result["onus"]) == 1 and done.result["cpes"] == ["AA:BB:CC:00:00:09"]
    again = run_step(db, world, sub, ReleaseAccess(), params={}, state={}, order_id=order, order_type="terminate")
    assert again == Done({"onus": [], "cpes": []})
    after = effects(admin, world.tenant, sub)
    assert (after["onu_ids"], after["live_cpes"]) == (0, 0)


def test_an_ansible_configuration_is_launched_once_waited_for_and_cancelled_by_the_undo(
    db: Database, world: World, admin: psycopg.Connection[Any]
) -> None:
    sub = subscriber(db, world)
    params, state = _start(db, world, sub, playbook_name="facts.yml", extra_vars={"site": "hill"})
    assert params["configure"] == "ansible"
    order = uuid.uuid4()
    for _ in range(2):  # launched once, then waited for
        assert isinstance(run_step(db, world, sub, ConfigureCpe(), params=params, state=state, order_id=order), Wait)
    jobs = admin.execute(
        "select id, trigger_source, extra_vars->>'site', extra_vars->>'subscriber_id' from ansible_jobs "
        "where lifecycle_order_id = %s",
        (order,),
    ).fetchall()
    assert len(jobs) == 1 and jobs[0][1:] == ("lifecycle", "hill", str(sub))
    compensate_step(db, world, sub, ConfigureCpe(), params=params, state=state, order_id=order)
    assert admin.execute("select status from ansible_jobs where id = %s", (jobs[0][0],)).fetchone() == ("cancelled",)
    with pytest.raises(StepFailed, match="ended cancelled"):
        run_step(db, world, sub, ConfigureCpe(), params=params, state=state, order_id=order)

    other = uuid.uuid4()
    assert isinstance(run_step(db, world, sub, ConfigureCpe(), params=params, state=state, order_id=other), Wait)
    admin.execute("update ansible_jobs set status = 'success' where lifecycle_order_id = %s", (other,))
    done = run_step(db, world, sub, ConfigureCpe(), params=params, state=state, order_id=other)
    assert isinstance(done, Done) and done.result["status"] == "success"


def test_concurrent_authorisations_of_new_onus_on_one_port_queue_instead_of_deadlocking(
    db: Database, world: World, admin: psycopg.Connection[Any]
) -> None:
    n = 4
    subs = [subscriber(db, world) for _ in range(n)]
    starts = [
        _start(db, world, sub, olt_id=str(world.olt), pon_port_id=str(world.port), serial_number=serial())
        for sub in subs
    ]
    barrier = threading.Barrier(n)
    errors: list[BaseException] = []

    def authorise(sub: uuid.UUID, params: dict[str, Any], state: dict[str, Any]) -> None:
        try:
            with db.tenant(world.tenant) as s:
                barrier.wait(10)
                AuthoriseOnu().run(
                    context(s, world, sub, AuthoriseOnu(), params=params, state=state, order_id=uuid.uuid4())
                )
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=authorise, args=(sub, *start)) for sub, start in zip(subs, starts, strict=True)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    ids = admin.execute(
        "select onu_id from onus where pon_port_id = %s and onu_id is not null order by onu_id", (world.port,)
    ).fetchall()
    assert [i[0] for i in ids] == list(range(n))


def test_termination_waits_for_an_onu_still_being_authorised_then_takes_it_off(
    db: Database, world: World, admin: psycopg.Connection[Any]
) -> None:
    sub = subscriber(db, world)
    params, state = _start(
        db, world, sub, olt_id=str(world.lab_olt), pon_port_id=str(world.lab_port), serial_number=serial(), **PROFILES
    )
    order = uuid.uuid4()
    assert isinstance(run_step(db, world, sub, AuthoriseOnu(), params=params, state=state, order_id=order), Wait)
    waiting = run_step(db, world, sub, ReleaseAccess(), params={}, state={}, order_id=order, order_type="terminate")
    assert isinstance(waiting, Wait) and "still being authorised" in waiting.reason
    assert _run_driver_jobs(db, world) == ["succeeded"]
    done = run_step(db, world, sub, ReleaseAccess(), params={}, state={}, order_id=order, order_type="terminate")
    assert isinstance(done, Done) and len(done.result["onus"]) == 1
    assert _run_driver_jobs(db, world) == ["succeeded"]
    assert effects(admin, world.tenant, sub)["onu_ids"] == 0
