"""Loss budget and fault finding: what each ONU should receive, what it does, and where the loss is.

Expected loss on an ONU's traced path = the splitters' insertion loss (by type and ratio) + fibre (the
hop cables' lengths x dB/km at the downstream wavelength of the OLT's technology) + connectors + splices
(each its measured ``loss_db``, else the tenant's default). Expected Rx = OLT Tx (by optical class) - loss;
the deviation is expected - measured (``onus.rx_power_dbm``): positive means less light than budget.

Fault finding, on the ONUs flagged (deviation over the threshold): when every measured ONU under a splitter
is flagged — at least two of them — and their deviations agree (within ``alike_tolerance_db``), the fault
is upstream of that splitter (the highest such splitter: its input hop); a flagged ONU in no such group
points at its own drop.

One SQL statement computes the components for a PON port, or for the whole tenant, set-wise (a recursive
walk of the tree, then joins and grouped sums: no query per ONU); the arithmetic and the grouping are here.
"""

from __future__ import annotations

import json
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from ispops.errors import NotFound
from ispops.ftth.loss_settings import LossSettings, load_loss_settings

# The budget of every traced ONU. {pon} narrows the roots to one PON port; {hops} says how the hops' strands,
# cables, connectors and splices are summed: probing indexes for one port, hashing whole tables for all.
_TREE = """
WITH RECURSIVE tree AS (
    SELECT s.id, s.pon_port_id, ARRAY[s.id] AS path,
           coalesce((CAST(:splitter_db AS jsonb) ->> (s.splitter_type || ':' || s.split_ratio))::numeric, 0)
               AS splitter_db
      FROM splitters s
     WHERE s.tenant_id = :t AND s.deleted_at IS NULL AND s.pon_port_id IS NOT NULL {pon}
    UNION ALL
    SELECT c.id, tree.pon_port_id, tree.path || c.id,
           tree.splitter_db
             + coalesce((CAST(:splitter_db AS jsonb) ->> (c.splitter_type || ':' || c.split_ratio))::numeric, 0)
      FROM splitters c JOIN tree ON c.parent_splitter_id = tree.id
     WHERE c.tenant_id = :t AND c.deleted_at IS NULL AND cardinality(tree.path) < 16
),
onu AS (
    SELECT o.id, o.serial_number, o.splitter_id, o.splitter_port, o.rx_power_dbm, tree.path, tree.splitter_db,
           tree.pon_port_id
      FROM tree JOIN onus o ON o.tenant_id = :t AND o.splitter_id = tree.id AND o.deleted_at IS NULL
),
{hops},
node AS (
    SELECT t.id, sum(h.fibre_m) AS fibre_m, sum(h.connectors) AS connectors, sum(h.connectors_db) AS connectors_db,
           sum(h.splices) AS splices, sum(h.splices_db) AS splices_db
      FROM tree t CROSS JOIN LATERAL unnest(t.path) AS p(id) LEFT JOIN hop h ON h.hop = p.id
     GROUP BY t.id
),
parts AS (
    SELECT onu.id, onu.serial_number, onu.splitter_id, onu.splitter_port, onu.pon_port_id, onu.path,
           onu.rx_power_dbm, onu.splitter_db,
           coalesce(n.fibre_m, 0) + coalesce(h.fibre_m, 0) AS fibre_m,
           coalesce(n.connectors, 0) + coalesce(h.connectors, 0) AS connectors,
           coalesce(n.connectors_db, 0) + coalesce(h.connectors_db, 0) AS connectors_db,
           coalesce(n.splices, 0) + coalesce(h.splices, 0) AS splices,
           coalesce(n.splices_db, 0) + coalesce(h.splices_db, 0) AS splices_db,
           (CAST(:wavelength AS jsonb) ->> o.technology)::integer AS wavelength_nm,
           (CAST(:per_km AS jsonb) ->> o.technology)::numeric AS per_km,
           (CAST(:tx AS jsonb) ->> coalesce(o.optical_class, CAST(:default_class AS jsonb) ->> o.technology))::numeric
               AS tx
      FROM onu
      JOIN node n ON n.id = onu.splitter_id
      LEFT JOIN hop h ON h.hop = onu.id
      JOIN olt_pon_ports pp ON pp.tenant_id = :t AND pp.id = onu.pon_port_id
      JOIN olts o ON o.tenant_id = :t AND o.id = pp.olt_id
),
loss AS (
    SELECT parts.*, parts.fibre_m / 1000 * parts.per_km AS fibre_db,
           parts.splitter_db + parts.fibre_m / 1000 * parts.per_km + parts.connectors_db + parts.splices_db AS loss
      FROM parts
)
-- ids as text and figures as float8: what the report hands out, without a Python conversion per value
SELECT id::text, serial_number, splitter_id::text, splitter_port, pon_port_id::text, path::text[], wavelength_nm,
       tx::float8, rx_power_dbm::float8, round(splitter_db, 2)::float8 AS splitter_db,
       round(fibre_m, 2)::float8 AS fibre_m, round(fibre_db, 2)::float8 AS fibre_db, connectors::integer,
       round(connectors_db, 2)::float8 AS connectors_db, splices::integer, round(splices_db, 2)::float8 AS splices_db,
       round(loss, 2)::float8 AS loss, round(tx - loss, 2)::float8 AS expected_rx,
       round(tx - loss - rx_power_dbm, 2)::float8 AS deviation
  FROM loss
"""
# One PON port: the planner cannot tell that a port has a few dozen hops, so each lookup is fenced into an
# index probe (OFFSET 0 and the aggregates keep the lateral subqueries from being flattened into hash joins).
_HOPS_PROBED = """
hop_strand AS (
    SELECT tree.id AS hop, l.strand_id FROM tree CROSS JOIN LATERAL (
        SELECT l.strand_id FROM fiber_links l
         WHERE l.tenant_id = :t AND l.splitter_id = tree.id AND l.onu_id IS NULL OFFSET 0) l
    UNION ALL
    SELECT onu.id, l.strand_id FROM onu CROSS JOIN LATERAL (
        SELECT l.strand_id FROM fiber_links l WHERE l.tenant_id = :t AND l.onu_id = onu.id OFFSET 0) l
),
hop AS (
    SELECT hs.hop, sum(f.m) AS fibre_m, sum(k.n) AS connectors, sum(k.db) AS connectors_db,
           sum(x.n) AS splices, sum(x.db) AS splices_db
      FROM hop_strand hs
      CROSS JOIN LATERAL (
          SELECT coalesce(sum(c.length_meters), 0) AS m
            FROM fiber_strands st JOIN fiber_cables c ON c.tenant_id = :t AND c.id = st.cable_id
           WHERE st.tenant_id = :t AND st.id = hs.strand_id) f
      CROSS JOIN LATERAL (
          SELECT count(*) AS n, coalesce(sum(coalesce(fk.loss_db, CAST(:connector_db AS numeric))), 0) AS db
            FROM fiber_connectors fk WHERE fk.tenant_id = :t AND fk.strand_id = hs.strand_id) k
      CROSS JOIN LATERAL (
          SELECT count(*) AS n, coalesce(sum(coalesce(fx.loss_db, CAST(:splice_db AS numeric))), 0) AS db
            FROM fiber_splices fx WHERE fx.tenant_id = :t AND fx.strand_a_id = hs.strand_id) x
     GROUP BY hs.hop
)"""
# The whole tenant: every link, connector and splice once, hashed.
_HOPS_HASHED = """
hop_strand AS (
    SELECT CASE WHEN l.onu_id IS NULL THEN l.splitter_id ELSE l.onu_id END AS hop, l.strand_id
      FROM fiber_links l WHERE l.tenant_id = :t
),
strand_connectors AS (
    SELECT strand_id, count(*) AS n, sum(coalesce(loss_db, CAST(:connector_db AS numeric))) AS db
      FROM fiber_connectors WHERE tenant_id = :t GROUP BY strand_id
),
strand_splices AS (
    SELECT strand_a_id AS strand_id, count(*) AS n, sum(coalesce(loss_db, CAST(:splice_db AS numeric))) AS db
      FROM fiber_splices WHERE tenant_id = :t GROUP BY strand_a_id
),
hop AS (
    SELECT hs.hop, sum(coalesce(c.length_meters, 0)) AS fibre_m,
           sum(coalesce(k.n, 0)) AS connectors, sum(coalesce(k.db, 0)) AS connectors_db,
           sum(coalesce(x.n, 0)) AS splices, sum(coalesce(x.db, 0)) AS splices_db
      FROM hop_strand hs
      JOIN fiber_strands st ON st.tenant_id = :t AND st.id = hs.strand_id
      JOIN fiber_cables c ON c.tenant_id = :t AND c.id = st.cable_id
      LEFT JOIN strand_connectors k ON k.strand_id = hs.strand_id
      LEFT JOIN strand_splices x ON x.strand_id = hs.strand_id
     GROUP BY hs.hop
)"""
BUDGET_PON = text(_TREE.format(pon="AND s.pon_port_id = :pon", hops=_HOPS_PROBED.strip()))
BUDGET_ALL = text(_TREE.format(pon="", hops=_HOPS_HASHED.strip()))

NAMES = text("SELECT id, name FROM splitters WHERE tenant_id = :t AND id = ANY(:ids)")
PON_EXISTS = text("SELECT 1 FROM olt_pon_ports WHERE tenant_id = :t AND id = :pon")
# The PON port at the root of the ONU's splitter chain (NULL: the chain reaches none).
ONU_ROOT = text(
    """
WITH RECURSIVE up AS (
    SELECT s.id, s.parent_splitter_id, s.pon_port_id, 1 AS depth
      FROM onus o JOIN splitters s ON s.tenant_id = o.tenant_id AND s.id = o.splitter_id AND s.deleted_at IS NULL
     WHERE o.tenant_id = :t AND o.id = :onu
    UNION ALL
    SELECT p.id, p.parent_splitter_id, p.pon_port_id, up.depth + 1
      FROM splitters p JOIN up ON p.id = up.parent_splitter_id
     WHERE p.tenant_id = :t AND p.deleted_at IS NULL AND up.depth < 16
)
SELECT (SELECT pon_port_id FROM up ORDER BY depth DESC LIMIT 1) AS pon,
       EXISTS (SELECT 1 FROM onus WHERE tenant_id = :t AND id = :onu AND deleted_at IS NULL) AS found
"""
)


@dataclass
class OnuBudget:
    onu_id: str
    serial_number: str
    pon_port_id: str
    splitter_id: str
    splitter_port: int | None
    path: list[str]  # splitter ids, root first
    olt_tx_dbm: float
    wavelength_nm: int
    splitter_db: float
    fibre_m: float
    fibre_db: float
    connectors: int
    connectors_db: float
    splices: int
    splices_db: float
    expected_loss_db: float
    expected_rx_dbm: float
    measured_rx_dbm: float | None
    deviation_db: float | None
    flagged: bool
    suspect: dict[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _params(settings: LossSettings, tenant_id: str) -> dict[str, Any]:
    technologies = ("gpon", "xgspon", "epon", "xgepon")
    wavelength = {tech: settings.wavelength_nm(tech) for tech in technologies}
    return {
        "t": tenant_id,
        "splitter_db": json.dumps(settings.splitter_table()),
        "connector_db": settings.connector_db,
        "splice_db": settings.splice_db,
        "wavelength": json.dumps(wavelength),
        "per_km": json.dumps({tech: settings.fibre_db_per_km_at(nm) for tech, nm in wavelength.items()}),
        "tx": json.dumps(settings.olt_tx_dbm),
        "default_class": json.dumps(settings.default_class),
    }


def _budget(row: Any, threshold: float) -> OnuBudget:
    deviation = row.deviation
    return OnuBudget(
        onu_id=row.id,
        serial_number=row.serial_number,
        pon_port_id=row.pon_port_id,
        splitter_id=row.splitter_id,
        splitter_port=row.splitter_port,
        path=row.path,
        olt_tx_dbm=row.tx,
        wavelength_nm=row.wavelength_nm,
        splitter_db=row.splitter_db,
        fibre_m=row.fibre_m,
        fibre_db=row.fibre_db,
        connectors=row.connectors,
        connectors_db=row.connectors_db,
        splices=row.splices,
        splices_db=row.splices_db,
        expected_loss_db=row.loss,
        expected_rx_dbm=row.expected_rx,
        measured_rx_dbm=row.rx_power_dbm,
        deviation_db=deviation,
        flagged=deviation is not None and deviation > threshold,
    )


def locate(budgets: Sequence[OnuBudget], settings: LossSettings) -> list[dict[str, Any]]:
    """Where the flagged ONUs' loss is: groups under a splitter (its input hop) and lone drops. Sets each
    flagged budget's ``suspect``; returns the suspects, largest group first. One pass over the ONUs' paths
    to count, per splitter, the measured ONUs under it, the flagged ones and their deviations' range."""
    measured: dict[str, int] = defaultdict(int)
    flagged: dict[str, int] = defaultdict(int)
    low: dict[str, float] = {}
    high: dict[str, float] = {}
    for b in budgets:
        if b.deviation_db is None:
            continue
        for splitter in b.path:
            measured[splitter] += 1
            if b.flagged:
                flagged[splitter] += 1
                low[splitter] = min(low.get(splitter, b.deviation_db), b.deviation_db)
                high[splitter] = max(high.get(splitter, b.deviation_db), b.deviation_db)

    def alike(splitter: str) -> bool:
        n = measured[splitter]
        return n >= 2 and flagged[splitter] == n and high[splitter] - low[splitter] <= settings.alike_tolerance_db

    groups: dict[str, list[OnuBudget]] = defaultdict(list)
    suspects: list[dict[str, Any]] = []
    for b in budgets:
        if not b.flagged:
            continue
        top = next((s for s in b.path if alike(s)), None)  # the path is root first: the highest group
        if top is not None:
            groups[top].append(b)
        else:
            b.suspect = {"kind": "drop", "onu_id": b.onu_id, "onu_ids": [b.onu_id], "deviation_db": b.deviation_db}
            suspects.append(b.suspect)
    for top, group in groups.items():
        suspect = {
            "kind": "upstream_of_splitter",
            "splitter_id": top,
            "onu_ids": [g.onu_id for g in group],
            "deviation_db": round(sum(g.deviation_db or 0 for g in group) / len(group), 2),
        }
        for g in group:
            g.suspect = suspect
        suspects.append(suspect)
    return sorted(suspects, key=lambda s: (-len(s["onu_ids"]), -(s["deviation_db"] or 0)))


def compute(
    session: Session, tenant_id: str, *, pon_port_id: uuid.UUID | None = None, settings: LossSettings | None = None
) -> tuple[list[OnuBudget], list[dict[str, Any]]]:
    """Budgets of every traced ONU of the PON port (or of the tenant), and the suspects."""
    settings = settings or load_loss_settings(session, tenant_id)
    params = _params(settings, tenant_id)
    if pon_port_id is None:
        rows = session.execute(BUDGET_ALL, params).all()
    else:
        rows = session.execute(BUDGET_PON, {**params, "pon": pon_port_id}).all()
    budgets = [_budget(r, settings.deviation_threshold_db) for r in rows]
    budgets.sort(key=lambda b: (b.path, b.splitter_port or 0))
    return budgets, locate(budgets, settings)


def _named(session: Session, tenant_id: str, suspects: list[dict[str, Any]]) -> None:
    ids = [uuid.UUID(s["splitter_id"]) for s in suspects if s["kind"] == "upstream_of_splitter"]
    if not ids:
        return
    names = {str(r.id): r.name for r in session.execute(NAMES, {"t": tenant_id, "ids": ids})}
    for s in suspects:
        if s["kind"] == "upstream_of_splitter":
            s["splitter_name"] = names.get(s["splitter_id"])


def pon_report(session: Session, tenant_id: str, pon_port_id: uuid.UUID) -> dict[str, Any]:
    """The per-PON report: every traced ONU's budget, the flagged ones, and where their loss is."""
    if session.execute(PON_EXISTS, {"t": tenant_id, "pon": pon_port_id}).first() is None:
        raise NotFound("olt_pon_ports: no such record", table="olt_pon_ports")
    settings = load_loss_settings(session, tenant_id)
    budgets, suspects = compute(session, tenant_id, pon_port_id=pon_port_id, settings=settings)
    _named(session, tenant_id, suspects)
    return {
        "pon_port_id": str(pon_port_id),
        "deviation_threshold_db": settings.deviation_threshold_db,
        "onus": [b.as_dict() for b in budgets],
        "flagged": sum(1 for b in budgets if b.flagged),
        "suspects": suspects,
    }


def onu_budget(session: Session, tenant_id: str, onu_id: uuid.UUID) -> dict[str, Any]:
    """One ONU's budget, judged with the rest of its PON (a fault shared with its neighbours points
    upstream). ``traced`` is false, and no figures are given, when its path does not reach a PON port."""
    root = session.execute(ONU_ROOT, {"t": tenant_id, "onu": onu_id}).one()
    if not root.found:
        raise NotFound("onus: no such record", table="onus")
    if root.pon is None:
        return {"onu_id": str(onu_id), "traced": False, "budget": None}
    pon = root.pon
    settings = load_loss_settings(session, tenant_id)
    budgets, suspects = compute(session, tenant_id, pon_port_id=pon, settings=settings)
    _named(session, tenant_id, suspects)
    mine = next((b for b in budgets if b.onu_id == str(onu_id)), None)
    if mine is None:
        return {"onu_id": str(onu_id), "traced": False, "budget": None}
    return {"onu_id": str(onu_id), "traced": True, "budget": mine.as_dict()}
