"""Loss budget per ONU and per PON port, and where a deviation points (ispops.ftth.budget)."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from ispops.db.session import Database
from ispops.ftth import budget
from tests.api.conftest import TokenFor
from tests.ftth.plant_world import EXPECTED_LOSS, EXPECTED_RX, World, build, set_rx


@pytest.fixture
def world(db: Database) -> World:
    return build(db, "isp-a")


def _report(db: Database, world: World) -> dict[str, Any]:
    with db.tenant(world.tenant) as s:
        return budget.pon_report(s, world.tenant, world.ids["pon"])  # type: ignore[arg-type]


def _by_serial(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {o["serial_number"]: o for o in report["onus"]}


def test_expected_loss_adds_splitters_fibre_connectors_and_splices(world: World, db: Database) -> None:
    report = _report(db, world)
    assert len(report["onus"]) == 5
    a1 = next(o for o in report["onus"] if o["onu_id"] == world.ids["A1"])
    assert a1["splitter_db"] == 17.7  # PLC 1x4 7.2 + 1x8 10.5
    assert a1["fibre_m"] == 3600 and a1["wavelength_nm"] == 1490 and a1["fibre_db"] == 0.9
    assert (a1["connectors"], a1["connectors_db"]) == (6, 3.0)
    assert (a1["splices"], a1["splices_db"]) == (1, 0.15)
    assert a1["expected_loss_db"] == EXPECTED_LOSS and a1["olt_tx_dbm"] == 3.0
    assert a1["expected_rx_dbm"] == EXPECTED_RX and a1["deviation_db"] == 0
    assert a1["path"] == [world.ids["R"], world.ids["L1"]]
    assert report["flagged"] == 0 and report["suspects"] == []


def test_several_onus_under_one_splitter_point_upstream_and_a_lone_one_at_its_drop(world: World, db: Database) -> None:
    # A1-A3 (all of L1) lose about 5 dB alike; B2 alone loses 5 dB; B1 is on budget.
    set_rx(db, world, A1=EXPECTED_RX - 5, A2=EXPECTED_RX - 5.4, A3=EXPECTED_RX - 4.6, B2=EXPECTED_RX - 5)
    report = _report(db, world)
    assert report["flagged"] == 4
    upstream, drop = report["suspects"]
    assert upstream["kind"] == "upstream_of_splitter" and upstream["splitter_id"] == world.ids["L1"]
    assert upstream["splitter_name"] == "L1"
    assert sorted(upstream["onu_ids"]) == sorted(world.ids[n] for n in ("A1", "A2", "A3"))
    assert upstream["deviation_db"] == 5.0
    assert drop == {"kind": "drop", "onu_id": world.ids["B2"], "onu_ids": [world.ids["B2"]], "deviation_db": 5.0}
    onus = {o["onu_id"]: o for o in report["onus"]}
    assert not onus[world.ids["B1"]]["flagged"] and onus[world.ids["B1"]]["suspect"] is None


def test_the_whole_pon_deviating_alike_points_above_the_root_splitter(world: World, db: Database) -> None:
    set_rx(db, world, **dict.fromkeys(("A1", "A2", "A3", "B1", "B2"), EXPECTED_RX - 6))
    (suspect,) = _report(db, world)["suspects"]
    assert suspect["kind"] == "upstream_of_splitter" and suspect["splitter_id"] == world.ids["R"]
    assert len(suspect["onu_ids"]) == 5


def test_unlike_deviations_under_one_splitter_are_separate_drops(world: World, db: Database) -> None:
    set_rx(db, world, A1=EXPECTED_RX - 4, A2=EXPECTED_RX - 9)
    suspects = _report(db, world)["suspects"]
    assert [(s["kind"], s["onu_id"]) for s in suspects] == [("drop", world.ids["A2"]), ("drop", world.ids["A1"])]


def test_the_threshold_is_over_three_db_and_an_unmeasured_onu_is_not_judged(world: World, db: Database) -> None:
    set_rx(db, world, A1=EXPECTED_RX - 3, A2=EXPECTED_RX - 3.01, A3=None)
    onus = {o["onu_id"]: o for o in _report(db, world)["onus"]}
    assert not onus[world.ids["A1"]]["flagged"]
    assert onus[world.ids["A2"]]["flagged"]
    assert onus[world.ids["A3"]]["deviation_db"] is None and not onus[world.ids["A3"]]["flagged"]


def test_the_whole_tenant_in_one_statement_matches_the_per_pon_report(world: World, db: Database) -> None:
    set_rx(db, world, B2=EXPECTED_RX - 5)
    with db.tenant(world.tenant) as s:
        everything, suspects = budget.compute(s, world.tenant)
    per_pon = _report(db, world)
    assert [b.as_dict() for b in everything] == per_pon["onus"]
    assert [x["onu_id"] for x in suspects if x["kind"] == "drop"] == [world.ids["B2"]]


def test_onu_budget_over_the_api_and_other_tenants_get_404(
    world: World, db: Database, client: TestClient, auth: TokenFor
) -> None:
    other = build(db, "isp-b", serial_prefix="ZTEG")
    set_rx(db, world, A1=EXPECTED_RX - 5)
    mine = auth("isp-a", "field_tech")
    body = client.get(f"/api/v1/onus/{world.ids['A1']}/loss-budget", headers=mine).json()
    assert body["traced"] is True
    assert body["budget"]["expected_rx_dbm"] == EXPECTED_RX and body["budget"]["flagged"] is True
    assert body["budget"]["suspect"]["kind"] == "drop"
    report = client.get(f"/api/v1/olt_pon_ports/{world.ids['pon']}/loss-report", headers=mine)
    assert report.status_code == 200 and report.json()["flagged"] == 1
    for path in (
        f"/api/v1/onus/{other.ids['A1']}/loss-budget",
        f"/api/v1/olt_pon_ports/{other.ids['pon']}/loss-report",
    ):
        response = client.get(path, headers=mine)
        assert response.status_code == 404, response.text


def test_an_onu_without_a_traced_path_has_no_budget(world: World, db: Database) -> None:
    with db.tenant(world.tenant) as s:
        s.execute(
            text("update splitters set pon_port_id = null where tenant_id = :t and name = 'R'"),
            {"t": world.tenant},
        )
        result = budget.onu_budget(s, world.tenant, world.ids["A1"])  # type: ignore[arg-type]
    assert result == {"onu_id": world.ids["A1"], "traced": False, "budget": None}


def test_the_loss_model_is_the_tenants_own(world: World, db: Database, client: TestClient, auth: TokenFor) -> None:
    admin = auth("isp-a", "tenant_admin")
    defaults = client.get("/api/v1/ftth/settings/loss", headers=admin).json()
    assert defaults["splitter_db"]["plc"]["1x32"] == 17.2 and defaults["fibre_db_per_km"]["1310"] == 0.35
    assert defaults["connector_db"] == 0.5 and defaults["splice_db"] == 0.15
    assert defaults["deviation_threshold_db"] == 3.0
    changed = client.put(
        "/api/v1/ftth/settings/loss", json={"connector_db": 0.3, "splitter_db": {"plc": {"1x8": 10.0}}}, headers=admin
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["splitter_db"]["plc"]["1x4"] == 7.2  # the rest of the table keeps its defaults
    a1 = next(o for o in _report(db, world)["onus"] if o["onu_id"] == world.ids["A1"])
    assert a1["expected_loss_db"] == round(EXPECTED_LOSS - 6 * 0.2 - 0.5, 2)
    # another tenant still has the defaults
    build(db, "isp-b", serial_prefix="ZTEG")
    other = client.get("/api/v1/ftth/settings/loss", headers=auth("isp-b", "noc_engineer")).json()
    assert other["connector_db"] == 0.5


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"connector_db": -1}, "connector_db"),
        ({"splitter_db": {"plc": {"1x3": 5}}}, "splitter_db"),
        ({"deviation_threshold_db": 0}, "deviation_threshold_db"),
        ({"fibre_db_per_km": {"1625": 0.3}}, "fibre_db_per_km"),
        ({"surprise": 1}, "surprise"),
    ],
)
def test_a_bad_loss_model_is_422_naming_the_field_and_changes_nothing(
    body: dict[str, Any], field: str, world: World, client: TestClient, auth: TokenFor
) -> None:
    admin = auth("isp-a", "tenant_admin")
    before = client.get("/api/v1/ftth/settings/loss", headers=admin).json()
    response = client.put("/api/v1/ftth/settings/loss", json=body, headers=admin)
    assert response.status_code == 422
    assert field in response.text
    assert client.get("/api/v1/ftth/settings/loss", headers=admin).json() == before


def test_only_admins_and_noc_change_the_loss_model(world: World, client: TestClient, auth: TokenFor) -> None:
    for role, status in (("support_agent", 403), ("field_tech", 403), ("noc_engineer", 200)):
        response = client.put("/api/v1/ftth/settings/loss", json={}, headers=auth("isp-a", role))
        assert response.status_code == status, (role, response.text)
