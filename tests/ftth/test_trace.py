"""Trace: from an ONU up to its OLT PON port, and from a PON port down to every ONU (ispops.ftth.trace)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from ispops.db.session import Database
from tests.api.conftest import TokenFor
from tests.ftth.plant_world import World, build


@pytest.fixture
def world(db: Database) -> World:
    return build(db, "isp-a")


def test_an_onu_traces_up_to_its_pon_port_through_every_cable_strand_splice_and_connector(
    world: World, client: TestClient, auth: TokenFor
) -> None:
    response = client.get(f"/api/v1/onus/{world.ids['A2']}/trace", headers=auth("isp-a", "field_tech"))
    assert response.status_code == 200, response.text
    trace = response.json()
    assert trace["complete"] is True
    assert trace["pon_port"]["id"] == world.ids["pon"] and trace["pon_port"]["name"] == "0/1/0"
    assert trace["pon_port"]["olt_name"] == "olt-1"
    hops = trace["hops"]
    assert [(h["feeds"]["kind"], h["feeds"].get("name") or h["feeds"]["serial_number"]) for h in hops] == [
        ("splitter", "R"),
        ("splitter", "L1"),
        ("onu", "HWTC00000001"),
    ]
    assert [(h["from"]["kind"], h["from"]["name"], h["from"]["port"]) for h in hops] == [
        ("pon_port", "0/1/0", None),
        ("splitter", "R", 1),
        ("splitter", "L1", 2),
    ]
    feeder, distribution = hops[0]["strands"]
    assert (feeder["cable_name"], feeder["strand_number"], feeder["color"], feeder["length_m"]) == (
        "F",
        1,
        "blue",
        2000,
    )
    assert distribution["cable_name"] == "D"
    assert [c["strand_end"] for c in feeder["connectors"]] == ["start"]
    assert [c["strand_end"] for c in distribution["connectors"]] == ["end"]
    (splice,) = feeder["splices"]
    assert splice["closure_name"] == "CL" and splice["strand_b_id"] == world.strands["D"]
    assert distribution["splices"] == []  # listed once, on the strand that comes first
    assert [s["cable_name"] for s in hops[1]["strands"]] == ["D2"]
    (drop,) = hops[2]["strands"]
    assert drop["cable_name"] == "drop-A2" and len(drop["connectors"]) == 2


def test_a_pon_port_traces_down_to_every_onu(world: World, client: TestClient, auth: TokenFor) -> None:
    response = client.get(f"/api/v1/olt_pon_ports/{world.ids['pon']}/trace", headers=auth("isp-a", "support_agent"))
    assert response.status_code == 200, response.text
    tree = response.json()
    assert [(s["name"], s["depth"], s["ports_used"]) for s in tree["splitters"]] == [
        ("R", 1, 2),
        ("L1", 2, 3),
        ("L2", 2, 2),
    ]
    assert [s["cable_name"] for s in tree["splitters"][0]["hop"]] == ["F", "D"]
    onus = {o["id"]: o for o in tree["onus"]}
    assert set(onus) == {world.ids[n] for n in ("A1", "A2", "A3", "B1", "B2")}
    assert [s["cable_name"] for s in onus[world.ids["B2"]]["hop"]] == ["drop-B2"]
    assert onus[world.ids["B2"]]["splitter_id"] == world.ids["L2"]


def test_an_onu_off_the_tree_traces_incomplete(world: World, db: Database, client: TestClient, auth: TokenFor) -> None:
    with db.tenant("isp-a") as s:
        s.execute(text("update splitters set pon_port_id = null where name = 'R' and tenant_id = 'isp-a'"))
    trace = client.get(f"/api/v1/onus/{world.ids['B1']}/trace", headers=auth("isp-a", "tenant_admin")).json()
    assert trace["complete"] is False and trace["pon_port"] is None
    assert [h["feeds"]["kind"] for h in trace["hops"]] == ["splitter", "splitter", "onu"]
    assert trace["hops"][0]["from"] is None


def test_another_tenants_onu_or_pon_port_is_404(world: World, db: Database, client: TestClient, auth: TokenFor) -> None:
    other = build(db, "isp-b", serial_prefix="ZTEG")
    mine = auth("isp-a", "tenant_admin")
    for path in (f"/api/v1/onus/{other.ids['A1']}/trace", f"/api/v1/olt_pon_ports/{other.ids['pon']}/trace"):
        response = client.get(path, headers=mine)
        assert response.status_code == 404, response.text
        assert response.headers["content-type"] == "application/problem+json"
