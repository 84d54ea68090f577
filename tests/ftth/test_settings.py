"""The tenant's class settings (ftth_settings.classes): defaults, overrides, the database's reading of them."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from ispops.db.session import Database
from ispops.ftth import settings
from ispops.models.ftth import OltTechnology
from tests.api.conftest import TokenFor
from tests.ftth.onu_world import OltWorld


def test_the_defaults_the_issue_names() -> None:
    defaults = settings.effective(settings.ClassOverrides())
    b_plus = defaults.profile("gpon")
    assert (b_plus.optical_class, b_plus.onu_ids_per_port, b_plus.logical_reach_km) == ("b_plus", 128, 20.0)
    assert (b_plus.thresholds.onu_rx_sensitivity_dbm, b_plus.thresholds.onu_rx_overload_dbm) == (-27.0, -8.0)
    c_plus = defaults.profile("gpon", "c_plus").thresholds
    assert (c_plus.onu_rx_sensitivity_dbm, c_plus.onu_rx_overload_dbm) == (-30.0, -8.0)
    n1 = defaults.profile("xgspon")
    assert (n1.optical_class, n1.thresholds.onu_rx_sensitivity_dbm, n1.thresholds.onu_rx_overload_dbm) == (
        "n1",
        -28.0,
        -9.0,
    )


def test_the_database_and_python_agree_on_onu_ids_per_port(db: Database, olt_world: OltWorld) -> None:
    """ispops_ftth_onu_ids_per_port (SQL) and TECHNOLOGY_DEFAULTS (Python), without and with an override."""
    sql = text("select ispops_ftth_onu_ids_per_port('isp-a', :t)")
    with db.tenant("isp-a") as s:
        for technology, profile in settings.TECHNOLOGY_DEFAULTS.items():
            assert s.execute(sql, {"t": technology}).scalar_one() == profile["onu_ids_per_port"], technology
        overrides = settings.ClassOverrides.model_validate(
            {"technologies": {t: {"onu_ids_per_port": 16 + i} for i, t in enumerate(settings.TECHNOLOGY_DEFAULTS)}}
        )
        saved = settings.save_classes(s, "isp-a", overrides)
        for technology in settings.TECHNOLOGY_DEFAULTS:
            expected = saved.technologies[OltTechnology(technology)].onu_ids_per_port
            assert s.execute(sql, {"t": technology}).scalar_one() == expected, technology


def test_get_and_put_the_class_settings(
    client: TestClient, olt_world: OltWorld, other_world: OltWorld, auth: TokenFor, admin: psycopg.Connection[Any]
) -> None:
    h = auth("isp-a", "noc_engineer")
    got = client.get("/api/v1/ftth/settings/classes", headers=h).json()
    assert got["technologies"]["gpon"]["onu_ids_per_port"] == 128 and got["overrides"] == {
        "technologies": {},
        "classes": {},
    }
    body = {"technologies": {"gpon": {"onu_ids_per_port": 64}}, "classes": {"b_plus": {"onu_rx_sensitivity_dbm": -26}}}
    r = client.put("/api/v1/ftth/settings/classes", json=body, headers=h)
    assert r.status_code == 200, r.text
    assert r.json()["classes"]["b_plus"]["onu_rx_sensitivity_dbm"] == -26
    assert r.json()["classes"]["b_plus"]["onu_rx_overload_dbm"] == -8  # the rest keeps its default
    assert admin.execute("select classes from ftth_settings where tenant_id = 'isp-a'").fetchone() == (body,)
    # A new GPON port of this tenant gets 64 ids; the OLT's profile says the new threshold.
    port = client.post("/api/v1/olt_pon_ports", json={"olt_id": str(olt_world.olt), "slot": 9, "port": 1}, headers=h)
    assert port.json()["max_onus"] == 64
    profile = client.get(f"/api/v1/olts/{olt_world.olt}/profile", headers=h).json()
    assert profile["thresholds"]["onu_rx_sensitivity_dbm"] == -26 and profile["onu_ids_per_port"] == 64
    # Another tenant still has the defaults.
    theirs = client.get("/api/v1/ftth/settings/classes", headers=auth("isp-b", "noc_engineer")).json()
    assert theirs["technologies"]["gpon"]["onu_ids_per_port"] == 128


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"classes": {"b_plus": {"onu_rx_sensitivity_dbm": -5}}}, "classes.b_plus"),  # above the overload
        ({"technologies": {"gpon": {"default_class": "n1"}}}, "technologies.gpon.default_class"),
        ({"technologies": {"gpon": {"onu_ids_per_port": 5000}}}, "onu_ids_per_port"),
        ({"classes": {"b_plus": {"loss_max_db": 5}}}, "classes.b_plus"),
        ({"classes": {"x_plus": {}}}, "x_plus"),
    ],
)
def test_inconsistent_settings_are_a_422_naming_the_field_and_write_nothing(
    client: TestClient, olt_world: OltWorld, auth: TokenFor, admin: psycopg.Connection[Any], body: Any, field: str
) -> None:
    h = auth("isp-a", "tenant_admin")
    r = client.put("/api/v1/ftth/settings/classes", json=body, headers=h)
    assert r.status_code == 422 and field in r.text, r.text
    assert admin.execute("select count(*) from ftth_settings").fetchone() == (0,)


def test_support_agents_read_but_do_not_change_them(client: TestClient, olt_world: OltWorld, auth: TokenFor) -> None:
    h = auth("isp-a", "support_agent")
    assert client.get("/api/v1/ftth/settings/classes", headers=h).status_code == 200
    assert client.put("/api/v1/ftth/settings/classes", json={}, headers=h).status_code == 403
