"""Trace the optical path: from an ONU up to its OLT PON port, or from a PON port down to every ONU.

The logical path is the splitter tree (``splitters.pon_port_id`` at the root, ``parent_splitter_id`` /
``parent_output_port`` below, ``onus.splitter_id`` / ``splitter_port`` at the leaves). Each step of it is a
*hop*, named by what it feeds (a splitter's input, an ONU's drop); ``fiber_links`` say which strands of which
cables carry the hop, in order from the OLT side, and the hop lists every splice and connector on those
strands. A few statements per trace, whatever the size of the tree (no query per hop).
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from ispops.errors import NotFound

MAX_DEPTH = 16  # deeper than any real splitter cascade; a guard, not a rule

UP = text(
    """
WITH RECURSIVE up AS (
    SELECT s.id, s.name, s.split_ratio, s.splitter_type, s.parent_splitter_id, s.parent_output_port,
           s.pon_port_id, 1 AS depth
      FROM splitters s
     WHERE s.tenant_id = :t AND s.id = :splitter AND s.deleted_at IS NULL
    UNION ALL
    SELECT p.id, p.name, p.split_ratio, p.splitter_type, p.parent_splitter_id, p.parent_output_port,
           p.pon_port_id, up.depth + 1
      FROM splitters p JOIN up ON p.id = up.parent_splitter_id
     WHERE p.tenant_id = :t AND p.deleted_at IS NULL AND up.depth < :max_depth
)
SELECT id, name, split_ratio, splitter_type, parent_splitter_id, parent_output_port, pon_port_id
  FROM up ORDER BY depth DESC
"""
)

DOWN = text(
    """
WITH RECURSIVE down AS (
    SELECT s.id, s.name, s.split_ratio, s.splitter_type, s.parent_splitter_id, s.parent_output_port,
           s.ports_used, 1 AS depth
      FROM splitters s
     WHERE s.tenant_id = :t AND s.pon_port_id = :pon AND s.deleted_at IS NULL
    UNION ALL
    SELECT c.id, c.name, c.split_ratio, c.splitter_type, c.parent_splitter_id, c.parent_output_port,
           c.ports_used, down.depth + 1
      FROM splitters c JOIN down ON c.parent_splitter_id = down.id
     WHERE c.tenant_id = :t AND c.deleted_at IS NULL AND down.depth < :max_depth
)
SELECT id, name, split_ratio, splitter_type, parent_splitter_id, parent_output_port, ports_used, depth
  FROM down ORDER BY depth, parent_output_port NULLS FIRST, name
"""
)

PON_PORT = text(
    """
SELECT p.id, p.name, p.olt_id, d.name AS olt_name, o.technology, o.optical_class
  FROM olt_pon_ports p
  JOIN olts o ON o.tenant_id = p.tenant_id AND o.id = p.olt_id
  JOIN devices d ON d.tenant_id = o.tenant_id AND d.id = o.device_id
 WHERE p.tenant_id = :t AND p.id = :pon AND o.deleted_at IS NULL
"""
)

ONU = text(
    """
SELECT o.id, o.serial_number, o.splitter_id, o.splitter_port, o.pon_port_id, o.rx_power_dbm
  FROM onus o WHERE o.tenant_id = :t AND o.id = :onu AND o.deleted_at IS NULL
"""
)

ONUS_UNDER = text(
    """
SELECT o.id, o.serial_number, o.splitter_id, o.splitter_port, o.pon_port_id, o.rx_power_dbm
  FROM onus o
 WHERE o.tenant_id = :t AND o.splitter_id = ANY(:splitters) AND o.deleted_at IS NULL
 ORDER BY o.splitter_id, o.splitter_port
"""
)

LINKS = text(
    """
SELECT coalesce(l.onu_id, l.splitter_id) AS hop, l.seq, st.id AS strand_id, st.strand_number, st.tube_number,
       st.color, st.status AS strand_status, c.id AS cable_id, c.cable_name, c.length_meters, c.length_measured
  FROM fiber_links l
  JOIN fiber_strands st ON st.tenant_id = l.tenant_id AND st.id = l.strand_id
  JOIN fiber_cables c ON c.tenant_id = st.tenant_id AND c.id = st.cable_id
 WHERE l.tenant_id = :t AND ((l.onu_id IS NULL AND l.splitter_id = ANY(:hops)) OR l.onu_id = ANY(:hops))
 ORDER BY 1, l.seq
"""
)

CONNECTORS = text(
    """
SELECT k.id, k.strand_id, k.strand_end, k.connector_type, k.loss_db, k.splitter_id, k.closure_id, k.device_id
  FROM fiber_connectors k
 WHERE k.tenant_id = :t AND k.strand_id = ANY(:strands)
 ORDER BY k.strand_id, k.strand_end DESC
"""
)

SPLICES = text(
    """
SELECT x.id, x.strand_a_id, x.strand_b_id, x.splice_type, x.loss_db, x.closure_id, f.name AS closure_name
  FROM fiber_splices x
  LEFT JOIN fiber_closures f ON f.tenant_id = x.tenant_id AND f.id = x.closure_id
 WHERE x.tenant_id = :t AND (x.strand_a_id = ANY(:strands) OR x.strand_b_id = ANY(:strands))
"""
)


def _str(value: Any) -> str | None:
    return None if value is None else str(value)


def _splitter(row: Any) -> dict[str, Any]:
    return {
        "id": str(row.id),
        "name": row.name,
        "split_ratio": row.split_ratio,
        "splitter_type": row.splitter_type,
        "parent_splitter_id": _str(row.parent_splitter_id),
        "parent_output_port": row.parent_output_port,
    }


def _onu(row: Any) -> dict[str, Any]:
    return {
        "id": str(row.id),
        "serial_number": row.serial_number,
        "splitter_id": _str(row.splitter_id),
        "splitter_port": row.splitter_port,
        "pon_port_id": _str(row.pon_port_id),
        "rx_power_dbm": None if row.rx_power_dbm is None else float(row.rx_power_dbm),
    }


def pon_port(session: Session, tenant_id: str, pon_port_id: uuid.UUID) -> dict[str, Any]:
    row = session.execute(PON_PORT, {"t": tenant_id, "pon": pon_port_id}).first()
    if row is None:
        raise NotFound("olt_pon_ports: no such record", table="olt_pon_ports")
    return {
        "id": str(row.id),
        "name": row.name,
        "olt_id": str(row.olt_id),
        "olt_name": row.olt_name,
        "technology": row.technology,
        "optical_class": row.optical_class,
    }


def hops(session: Session, tenant_id: str, keys: Iterable[uuid.UUID]) -> dict[str, list[dict[str, Any]]]:
    """For each hop key (a splitter id: its input; an ONU id: its drop), its strands in order from the OLT
    side, each with its cable, connectors and splices."""
    keys = list(keys)
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    if not keys:
        return out
    rows = session.execute(LINKS, {"t": tenant_id, "hops": keys}).all()
    strand_ids = [r.strand_id for r in rows]
    connectors: dict[str, list[dict[str, Any]]] = defaultdict(list)
    splices: dict[str, list[dict[str, Any]]] = defaultdict(list)
    if strand_ids:
        for k in session.execute(CONNECTORS, {"t": tenant_id, "strands": strand_ids}):
            connectors[str(k.strand_id)].append(
                {
                    "id": str(k.id),
                    "strand_end": k.strand_end,
                    "connector_type": k.connector_type,
                    "loss_db": None if k.loss_db is None else float(k.loss_db),
                    "splitter_id": _str(k.splitter_id),
                    "closure_id": _str(k.closure_id),
                    "device_id": _str(k.device_id),
                }
            )
        for x in session.execute(SPLICES, {"t": tenant_id, "strands": strand_ids}):
            splice = {
                "id": str(x.id),
                "splice_type": x.splice_type,
                "loss_db": None if x.loss_db is None else float(x.loss_db),
                "closure_id": _str(x.closure_id),
                "closure_name": x.closure_name,
                "strand_a_id": str(x.strand_a_id),
                "strand_b_id": str(x.strand_b_id),
            }
            # Listed once, on the strand of this hop that comes first (a splice joins two strands).
            splices[str(x.strand_a_id)].append(splice)
    seen: set[str] = set()
    for r in rows:
        strand = str(r.strand_id)
        own = [s for s in splices.get(strand, []) if s["id"] not in seen]
        seen.update(s["id"] for s in own)
        out[str(r.hop)].append(
            {
                "seq": r.seq,
                "strand_id": strand,
                "strand_number": r.strand_number,
                "tube_number": r.tube_number,
                "color": r.color,
                "strand_status": r.strand_status,
                "cable_id": str(r.cable_id),
                "cable_name": r.cable_name,
                "length_m": None if r.length_meters is None else float(r.length_meters),
                "length_measured": r.length_measured,
                "connectors": connectors.get(strand, []),
                "splices": own,
            }
        )
    return out


def trace_onu(session: Session, tenant_id: str, onu_id: uuid.UUID) -> dict[str, Any]:
    """The ONU's path up to its OLT PON port: the PON port, then each hop (the splitter it feeds, the
    strands carrying it) from the OLT down to the ONU's drop. ``complete`` is false when the splitter chain
    does not reach a PON port (the ONU has no splitter, or the root splitter is not fed from a port)."""
    onu_row = session.execute(ONU, {"t": tenant_id, "onu": onu_id}).first()
    if onu_row is None:
        raise NotFound("onus: no such record", table="onus")
    onu = _onu(onu_row)
    chain = (
        session.execute(UP, {"t": tenant_id, "splitter": onu_row.splitter_id, "max_depth": MAX_DEPTH}).all()
        if onu_row.splitter_id is not None
        else []
    )
    root_pon = chain[0].pon_port_id if chain else None
    port = pon_port(session, tenant_id, root_pon) if root_pon is not None else None
    strands = hops(session, tenant_id, [s.id for s in chain] + [onu_row.id])
    path: list[dict[str, Any]] = []
    upstream: dict[str, Any] | None = (
        {"kind": "pon_port", "id": port["id"], "name": port["name"], "port": None} if port else None
    )
    for s in chain:
        node = _splitter(s)
        path.append({"feeds": {"kind": "splitter", **node}, "from": upstream, "strands": strands.get(node["id"], [])})
        upstream = {"kind": "splitter", "id": node["id"], "name": node["name"]}
    for i in range(1, len(path)):
        path[i]["from"] = {**path[i]["from"], "port": path[i]["feeds"]["parent_output_port"]}
    drop_from = {**upstream, "port": onu["splitter_port"]} if upstream is not None else None
    path.append({"feeds": {"kind": "onu", **onu}, "from": drop_from, "strands": strands.get(onu["id"], [])})
    return {
        "onu": onu,
        "pon_port": port,
        "complete": port is not None and onu["pon_port_id"] == port["id"],
        "hops": path,
    }


def trace_pon(session: Session, tenant_id: str, pon_port_id: uuid.UUID) -> dict[str, Any]:
    """Everything the PON port feeds: its splitters (root first, by depth) and ONUs, each with the hop that
    feeds it."""
    port = pon_port(session, tenant_id, pon_port_id)
    tree = session.execute(DOWN, {"t": tenant_id, "pon": pon_port_id, "max_depth": MAX_DEPTH}).all()
    ids = [s.id for s in tree]
    onus = session.execute(ONUS_UNDER, {"t": tenant_id, "splitters": ids}).all() if ids else []
    strands = hops(session, tenant_id, ids + [o.id for o in onus])
    splitters = [
        {**_splitter(s), "depth": s.depth, "ports_used": s.ports_used, "hop": strands.get(str(s.id), [])} for s in tree
    ]
    return {
        "pon_port": port,
        "splitters": splitters,
        "onus": [{**_onu(o), "hop": strands.get(str(o.id), [])} for o in onus],
    }
