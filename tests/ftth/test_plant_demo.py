"""The demo's fibre plant: traced end to end, one ONU 5 dB below its budget (ispops.demo.ftth_plant)."""

from __future__ import annotations

from typing import Any

import psycopg
from sqlalchemy import text

from ispops.db.session import Database
from ispops.demo.seed import seed_demo
from ispops.ftth import budget, trace

TENANT = "lakeside-fibre"


def test_the_demo_plant_is_traced_end_to_end_with_one_onu_5_db_down(
    db: Database, admin: psycopg.Connection[Any]
) -> None:
    seed_demo(db)
    with db.tenant(TENANT, enforce_status=False) as s:
        onus = s.execute(text("select id from onus where tenant_id = :t and splitter_id is not null"), {"t": TENANT})
        traces = [trace.trace_onu(s, TENANT, row.id) for row in onus]
        assert traces and all(t["complete"] for t in traces)
        for t in traces:
            kinds = [h["feeds"]["kind"] for h in t["hops"]]
            assert kinds == ["splitter", "splitter", "onu"]
            assert all(h["strands"] for h in t["hops"])  # every hop carried by a documented strand
        feeder = traces[0]["hops"][0]["strands"]
        assert [x["cable_name"] for x in feeder] == ["FEEDER-01", "FDH-TAIL"]
        assert feeder[0]["splices"][0]["closure_name"] == "CL-01"
        report = budget.pon_report(s, TENANT, traces[0]["pon_port"]["id"])
    flagged = [o for o in report["onus"] if o["flagged"]]
    assert len(flagged) == 1 and flagged[0]["deviation_db"] == 5.0
    assert report["suspects"] == [
        {"kind": "drop", "onu_id": flagged[0]["onu_id"], "onu_ids": [flagged[0]["onu_id"]], "deviation_db": 5.0}
    ]
    before = admin.execute("select count(*), sum(seq) from fiber_links").fetchone()
    seed_demo(db)  # idempotent
    assert admin.execute("select count(*), sum(seq) from fiber_links").fetchone() == before
