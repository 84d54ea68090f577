"""Accounting updates go straight to the month's partition, with a plan cached per connection.

Issue 4's Interim-Update target (ours on partitioned radacct at least as fast as FreeRADIUS's stock query
on an unpartitioned one) was missed by the 0014 ``ispops_radius_acct``: every call planned its UPDATE
against the partitioned parent (pruning 18+ partitions at plan time, ``force_custom_plan``), which cost
more server time than the stock UPDATE's whole execution (docs/benchmarks-radius.md).

``ispops_radius_acct`` and ``ispops_radacct_route`` are generated from the monthly partitions: one branch
per partition whose month contains the whole window, each a static statement on that partition, so
PL/pgSQL plans it once per connection and reuses the plan. The accounting function holds the hot update
(an Interim-Update and a Stop statement per partition); the route function holds the probes (is there a
session, is it stopped) and serves a window that no single monthly partition holds through the parent
with ``EXECUTE`` (planned with the values, so it still prunes). The accounting function also computes the
session's unique id (an MD5 the FreeRADIUS policy used to compute). ``ispops_radacct_build_router()``
regenerates both; ``ispops_radacct_ensure_partition`` calls it when it creates a partition and
``ispops_radacct_maintain`` (and ``ispops db maintain``) after dropping any. A partition created or dropped by
hand is served by the fallback (correct, slower) or fails its own branch until the next ``ispops db maintain``.

``ispops_radius`` now has SELECT and UPDATE on the monthly partitions (granted by the builder). Each
partition has RLS + FORCE and its own tenant policy (0003), so the direct path is still tenant-confined.

The post-auth log (``ispops_radius_postauth``) commits with ``synchronous_commit = off`` for its own
transaction: waiting for the WAL flush was about 40 % of the database's work per Access-Request. A
PostgreSQL crash can lose the last fraction of a second of auth-log rows (never accounting, credentials or
any other state: every other statement keeps the server's setting). docs/radius.md says so.

Partitions also get ``fillfactor = 85``: a session row is rewritten by every Interim-Update, and with room
left on its page the new version is a HOT update (no entry in any of radacct's indexes); on a full page
every interim wrote into all of them. Existing partitions keep their full pages (new rows get the room).

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-25
"""

from __future__ import annotations

import importlib

from ispops.db.ddl import steps

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

_v0003 = importlib.import_module("ispops.migrations.versions.0003_radacct_partitions")
_v0014 = importlib.import_module("ispops.migrations.versions.0014_radius_server")
_v0015 = importlib.import_module("ispops.migrations.versions.0015_jobs")

# Room left on each radacct page for the next version of its sessions' rows (HOT updates).
FILLFACTOR = 85


def _each_partition(statement: str) -> str:
    """A DO block running ``statement`` (``%I`` = the partition) for every partition of radacct."""
    return f"""
    DO $$
    DECLARE part text;
    BEGIN
      FOR part IN SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
                   WHERE i.inhparent = 'public.radacct'::regclass LOOP
        EXECUTE format('{statement}', part);
      END LOOP;
    END $$
    """


# ispops_radacct_route's arguments, by position ($n in the statements below):
#   $1 op ('interim' | 'stop' update the open session; 'exists' / 'stopped' probe), $2 tenant, $3 unique id,
#   $4 / $5 the window on acctstarttime, $6 event time, $7 session time, $8 / $9 input / output octets,
#   $10 terminate cause, $11 connect info, $12..$15 framed IPv4, IPv6, IPv6 prefix, delegated prefix.
ROUTE_SIGNATURE = (
    "text, text, text, timestamptz, timestamptz, timestamptz, bigint, bigint, bigint, text, text, text, text, "
    "text, text"
)
ROUTE_ARGS = """p_op text, p_tenant text, p_uniqueid text, p_lo timestamptz, p_hi timestamptz,
  p_ev timestamptz, p_sessiontime bigint, p_in bigint, p_out bigint, p_terminatecause text,
  p_connectinfo text, p_framedip text, p_framedipv6 text, p_framedipv6prefix text, p_delegatedprefix text"""
USING = "USING $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15"

KEY = "a.tenant_id = $2 AND a.acctuniqueid = $3 AND a.acctstarttime >= $4 AND a.acctstarttime <= $5"
# A late interim never reopens a stopped session (written so that no acctstoptime index is preferred to the key).
OPEN = "coalesce(a.acctstoptime, 'infinity') = 'infinity'"
# What an Interim-Update changes (acctinterval is NULL when there was no earlier update: ev - NULL).
INTERIM_SET = """acctupdatetime = $6,
      acctinterval = extract(epoch FROM $6 - a.acctupdatetime)::bigint,
      acctsessiontime = greatest(coalesce($7, a.acctsessiontime), coalesce(a.acctsessiontime, 0)),
      acctinputoctets = greatest($8, a.acctinputoctets),
      acctoutputoctets = greatest($9, a.acctoutputoctets),
      framedipaddress = coalesce(nullif($12, '')::inet, a.framedipaddress),
      framedipv6address = coalesce(nullif($13, '')::inet, a.framedipv6address),
      framedipv6prefix = coalesce(nullif($14, '')::inet, a.framedipv6prefix),
      delegatedipv6prefix = coalesce(nullif($15, '')::inet, a.delegatedipv6prefix)"""
# A Stop changes that and closes the session.
STOP_SET = (
    INTERIM_SET
    + """,
      acctstoptime = $6,
      acctterminatecause = nullif($10, ''),
      connectinfo_stop = nullif($11, '')"""
)
# Either, chosen by $1 (the parent's fallback statement serves both).
SET = """acctupdatetime = $6,
      acctstoptime = CASE WHEN $1 = 'stop' THEN $6 ELSE a.acctstoptime END,
      acctinterval = extract(epoch FROM $6 - a.acctupdatetime)::bigint,
      acctsessiontime = greatest(coalesce($7, a.acctsessiontime), coalesce(a.acctsessiontime, 0)),
      acctinputoctets = greatest($8, a.acctinputoctets),
      acctoutputoctets = greatest($9, a.acctoutputoctets),
      acctterminatecause = CASE WHEN $1 = 'stop' THEN nullif($10, '') ELSE a.acctterminatecause END,
      connectinfo_stop = CASE WHEN $1 = 'stop' THEN nullif($11, '') ELSE a.connectinfo_stop END,
      framedipaddress = coalesce(nullif($12, '')::inet, a.framedipaddress),
      framedipv6address = coalesce(nullif($13, '')::inet, a.framedipv6address),
      framedipv6prefix = coalesce(nullif($14, '')::inet, a.framedipv6prefix),
      delegatedipv6prefix = coalesce(nullif($15, '')::inet, a.delegatedipv6prefix)"""

# ispops_radius_acct's variables for the route's positional arguments (the hot update is inlined there).
_ACCT_VARIABLES = {
    "$15": "p_delegatedprefix",
    "$14": "p_framedipv6prefix",
    "$13": "p_framedipv6",
    "$12": "p_framedip",
    "$11": "p_connectinfo",
    "$10": "p_terminatecause",
    "$9": "outoct",
    "$8": "inoct",
    "$7": "p_sessiontime",
    "$6": "ev",
    "$5": "hi",
    "$4": "lo",
    "$3": "uid",
    "$2": "p_tenant",
    "$1": "p_kind",
}


def _in_acct(sql: str) -> str:
    for position, variable in _ACCT_VARIABLES.items():  # $15 before $1
        sql = sql.replace(position, variable)
    return sql


# One monthly partition inside ispops_radius_acct: %1$I its name, %2$L / %3$L the start of its month and of
# the next. The Interim-Update (most packets) and the Stop each have their own statement and cached plan.
ACCT_BRANCH = _in_acct(f"""
    ELSIF $4 >= %2$L AND $5 < %3$L THEN
      IF $1 = 'stop' THEN
        UPDATE public.%1$I a SET
          {STOP_SET}
        WHERE {KEY} AND {OPEN};
      ELSE
        UPDATE public.%1$I a SET
          {INTERIM_SET}
        WHERE {KEY} AND {OPEN};
      END IF;
      GET DIAGNOSTICS n = ROW_COUNT;""")

# One monthly partition in ispops_radacct_route (probes, and the update for other callers).
BRANCH = f"""
  ELSIF $4 >= %2$L AND $5 < %3$L THEN
    IF $1 = 'exists' THEN
      PERFORM 1 FROM public.%1$I a WHERE {KEY};
      RETURN CASE WHEN FOUND THEN 1 ELSE 0 END;
    ELSIF $1 = 'stopped' THEN
      PERFORM 1 FROM public.%1$I a WHERE {KEY} AND a.acctstoptime IS NOT NULL;
      RETURN CASE WHEN FOUND THEN 1 ELSE 0 END;
    END IF;
    UPDATE public.%1$I a SET
      {SET}
    WHERE {KEY} AND {OPEN};"""

# %s: the branches. No SET clause on the function: that would cost a GUC save and restore on every call.
ROUTE = f"""
CREATE OR REPLACE FUNCTION public.ispops_radacct_route({ROUTE_ARGS})
RETURNS integer LANGUAGE plpgsql AS $route$
-- Generated by ispops_radacct_build_router() (migration 0017) from radacct's monthly partitions: do not edit.
DECLARE
  n integer;
BEGIN
  IF false THEN
    NULL;%s
  ELSE
    -- No single monthly partition holds the window: the parent, planned with the values (pruned).
    IF $1 = 'exists' THEN
      EXECUTE $q$SELECT 1 FROM public.radacct a WHERE {KEY} LIMIT 1$q$ {USING};
    ELSIF $1 = 'stopped' THEN
      EXECUTE $q$SELECT 1 FROM public.radacct a WHERE {KEY} AND a.acctstoptime IS NOT NULL LIMIT 1$q$ {USING};
    ELSE
      EXECUTE $q$UPDATE public.radacct a SET
      {SET}
    WHERE {KEY} AND {OPEN}$q$ {USING};
    END IF;
  END IF;
  GET DIAGNOSTICS n = ROW_COUNT;
  RETURN n;
END
$route$"""

# 0003's partition maker, with room for HOT updates and the routing rebuilt after each new partition.
_ENSURE_0003: str = next(s for s in _v0003.RADACCT if "CREATE FUNCTION ispops_radacct_ensure_partition" in s)
_ENSURE_CREATE = "(%L) TO (%L)',"
_ENSURE_RETURN = "RETURN part;"
assert _ENSURE_0003.count(_ENSURE_CREATE) == 1 and _ENSURE_0003.count(_ENSURE_RETURN) == 1, "0003 changed shape"
ENSURE = (
    _ENSURE_0003.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1)
    .replace(_ENSURE_CREATE, f"(%L) TO (%L) WITH (fillfactor = {FILLFACTOR})',")
    .replace(_ENSURE_RETURN, "PERFORM ispops_radacct_build_router();\n        " + _ENSURE_RETURN)
)

_MAINTAIN_0015: str = _v0015.RADACCT_MAINTAIN[0]
_DROPS_LOOP_END = "        END LOOP;\n    END\n    $$"
assert _MAINTAIN_0015.count(_DROPS_LOOP_END) == 1, "0015's ispops_radacct_maintain changed shape"
MAINTAIN = _MAINTAIN_0015.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1).replace(
    _DROPS_LOOP_END, "        END LOOP;\n        PERFORM ispops_radacct_build_router();\n    END\n    $$"
)

# The accounting function of 0014 with the UPDATE and both probes going through the router, and without
# its SET plan_cache_mode clause (the one statement left on the parent, the INSERT, prunes nothing).
_ACCT_0014: str = _v0014.ACCT
_ACCT_HEAD = "RETURNS integer LANGUAGE plpgsql\n"
_ACCT_BODY_START = _ACCT_0014.index("BEGIN\n")
_ACCT_INSERT = _ACCT_0014.index("  INSERT INTO radacct (")
_ACCT_CREATE = _ACCT_0014[: _ACCT_0014.index(_ACCT_HEAD) + len(_ACCT_HEAD)]
ACCT = (
    _ACCT_CREATE.replace("CREATE FUNCTION ", "CREATE OR REPLACE FUNCTION public.", 1)
    + "AS $$\n"
    + "-- One accounting packet: p_kind is 'start', 'interim' or 'stop'. Idempotent: a repeated packet changes\n"
    + "-- nothing, an interim or stop without a Start creates the session, a Start after them is ignored.\n"
    + "-- Generated by ispops_radacct_build_router() (migration 0017): the update of an open session runs on\n"
    + "-- the month's partition (one branch per monthly partition); the rest through ispops_radacct_route.\n"
    + _ACCT_0014[_ACCT_0014.index("DECLARE\n") : _ACCT_BODY_START]
    + """  -- The session's stable id, unless FreeRADIUS was given one: computed here rather than by an MD5 in
  -- the FreeRADIUS policy (that cost FreeRADIUS more per packet than it costs here).
  uid text := coalesce(nullif(p_uniqueid, ''), md5(p_tenant || ',' || p_sessionid || ',' || p_nasip || ','
                                                   || p_nasportid || ',' || p_username));
BEGIN
  PERFORM set_config('app.current_tenant_id', p_tenant, true);
  IF p_kind = 'start' THEN
    IF ispops_radacct_route('exists', p_tenant, uid, ev_lo, ev_hi, ev, NULL, 0, 0,
                            NULL, NULL, NULL, NULL, NULL, NULL) > 0 THEN
      RETURN 1;
    END IF;
  ELSE
    IF false THEN
      NULL;%s
    ELSE
      n := ispops_radacct_route(p_kind, p_tenant, uid, lo, hi, ev, p_sessiontime, inoct, outoct,
                                p_terminatecause, p_connectinfo, p_framedip, p_framedipv6, p_framedipv6prefix,
                                p_delegatedprefix);
    END IF;
    IF n > 0 THEN
      RETURN n;
    END IF;
    IF ispops_radacct_route('stopped', p_tenant, uid, lo, hi, ev, NULL, 0, 0,
                            NULL, NULL, NULL, NULL, NULL, NULL) > 0 THEN
      RETURN 1;  -- already stopped: a duplicate or late packet
    END IF;
  END IF;
"""
    + _ACCT_0014[_ACCT_INSERT:].replace("p_uniqueid", "uid")
)
ACCT_SIGNATURE = f"ispops_radius_acct({_v0014.ACCT_SIGNATURE})"

_POSTAUTH_0014: str = _v0014.POSTAUTH
_POSTAUTH_SET_TENANT = "  PERFORM set_config('app.current_tenant_id', p_tenant, true);\n"
assert _POSTAUTH_0014.count(_POSTAUTH_SET_TENANT) == 1, "0014's ispops_radius_postauth changed shape"
POSTAUTH = _POSTAUTH_0014.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1).replace(
    _POSTAUTH_SET_TENANT,
    _POSTAUTH_SET_TENANT
    + "  -- A log line: this one transaction does not wait for the WAL flush (a crash may lose the last\n"
    + "  -- fraction of a second of them; nothing else is affected).\n"
    + "  PERFORM set_config('synchronous_commit', 'off', true);\n",
)

BUILD = f"""
CREATE FUNCTION ispops_radacct_build_router() RETURNS integer
LANGUAGE plpgsql SET search_path = pg_catalog, public AS $build$
-- (Re)generate ispops_radacct_route and ispops_radius_acct with a direct branch per monthly partition, newest
-- first, and let the RADIUS role reach those partitions (their own RLS policies still apply). Returns the
-- number of monthly partitions.
DECLARE
  part record;
  branches text := '';
  acct_branches text := '';
  lo text;
  hi text;
  made integer := 0;
BEGIN
  FOR part IN
    SELECT c.relname AS name, to_date(substr(c.relname, 10, 6), 'YYYYMM') AS month
      FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
     WHERE i.inhparent = 'public.radacct'::regclass AND c.relname ~ '^radacct_p[0-9]{{6}}$'
     ORDER BY c.relname DESC
  LOOP
    lo := part.month::text || ' 00:00:00+00';
    hi := (part.month + interval '1 month')::date::text || ' 00:00:00+00';
    branches := branches || format($tpl${BRANCH}$tpl$, part.name, lo, hi);
    acct_branches := acct_branches || format($tpl${ACCT_BRANCH}$tpl$, part.name, lo, hi);
    EXECUTE format('GRANT SELECT, UPDATE ON public.%I TO ispops_radius', part.name);
    made := made + 1;
  END LOOP;
  EXECUTE format($tpl${ROUTE}$tpl$, branches);
  EXECUTE format($tpl${ACCT}$tpl$, acct_branches);
  RETURN made;
END
$build$"""

UPGRADE = [
    _each_partition(f"ALTER TABLE public.%I SET (fillfactor = {FILLFACTOR})"),
    BUILD,
    "REVOKE ALL ON FUNCTION ispops_radacct_build_router() FROM PUBLIC",
    "SELECT ispops_radacct_build_router()",
    f"REVOKE ALL ON FUNCTION ispops_radacct_route({ROUTE_SIGNATURE}) FROM PUBLIC",
    f"GRANT EXECUTE ON FUNCTION ispops_radacct_route({ROUTE_SIGNATURE}) TO ispops_radius",
    ENSURE,
    MAINTAIN,
    POSTAUTH,
]

DOWNGRADE = [
    _POSTAUTH_0014.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1),
    # The 0014 accounting function, with its SET clause (CREATE OR REPLACE keeps grants).
    _ACCT_0014.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1),
    _MAINTAIN_0015.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1),
    _ENSURE_0003.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1),
    f"DROP FUNCTION ispops_radacct_route({ROUTE_SIGNATURE})",
    "DROP FUNCTION ispops_radacct_build_router()",
    # Back to 0003's rule: no role has anything on a partition; and to the default fillfactor.
    _each_partition("REVOKE ALL ON public.%I FROM ispops_radius"),
    _each_partition("ALTER TABLE public.%I RESET (fillfactor)"),
]

upgrade, downgrade = steps(UPGRADE, DOWNGRADE)
