"""The demo's wireless story: the WISP's towers with computed wedges and one CPE 8 dB below prediction."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from ispops.db.session import Database
from ispops.demo.seed import WISP, seed_demo


def test_the_wisp_has_wedges_and_one_drifted_cpe(db: Database, admin: Any, client: TestClient) -> None:
    seed_demo(db)
    seed_demo(db)  # idempotent: nothing doubles
    towers = admin.execute("select count(*) from wireless_towers where tenant_id = %s", (WISP,)).fetchone()
    assert towers == (2,)
    sectors = admin.execute(
        "select count(*), count(coverage_computed_at), "
        "count(*) filter (where coverage_area_geojson->>'type' = 'Polygon') from wireless_sectors where tenant_id = %s",
        (WISP,),
    ).fetchone()
    assert sectors[0] == sectors[1] == sectors[2] == 5
    drifted = admin.execute(
        "select s.signal_strength_dbm, s.predicted_signal_dbm, a.measured, a.expected from wireless_cpe_alarms a "
        "join wireless_subscribers s on s.id = a.wireless_subscriber_id "
        "where a.tenant_id = %s and a.kind = 'signal_drift' and a.cleared_at is null",
        (WISP,),
    ).fetchall()
    assert len(drifted) == 1
    signal, _predicted, measured, expected = drifted[0]
    assert float(measured) - float(expected) == pytest.approx(-8.0, abs=0.06)
    assert signal == round(float(measured))
    readings = admin.execute("select count(*) from wireless_cpe_readings where tenant_id = %s", (WISP,)).fetchone()
    assert readings[0] > 0
    page = client.post(f"/api/v1/public/wireless/{WISP}/check", json={"latitude": 40.0150, "longitude": -105.2705})
    assert page.status_code == 200 and page.json()["provider"] == "Ridgeline Wireless"
