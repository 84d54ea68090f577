"""Sessions never go stale: stale and platform-closed sessions (issue 13, item 4).

A radacct row stayed open (``acctstoptime IS NULL``) until the NAS's Stop or its Accounting-On arrived. A
lost Stop therefore counted against Simultaneous-Use for ever and locked the subscriber out. Now:

- ``tenants.radius_stale_after_intervals`` (N, 2..100, default 3): a session whose NAS has sent nothing for
  N x its interim interval is **stale**. ``ispops_radius_stale_at(last, acctinterval, tenant interval, N)``
  is the one place that rule is written: the moment a session last heard of at ``last`` (its
  ``acctupdatetime``, else its ``acctstarttime``) becomes stale. Its interim interval is the tenant's
  ``radius_interim_interval`` (what we send as Acct-Interim-Interval), raised to the interval the NAS was
  measured to use (``acctinterval``, the gap between its last two updates) when that is longer — a NAS
  that ignores our Acct-Interim-Interval is not closed between two of its own interims — and 300 s when
  neither is known.
- ``ispops_radius_simul_count`` (FreeRADIUS's Simultaneous-Use count) ignores stale sessions, whether the
  stale-session job has closed them yet or not. It still reads only the user's open sessions through the
  partial index on open sessions, plus the tenant's row.
- ``radacct.closed_by`` marks a session the platform closed: ``stale`` (the ``radius.close_stale_sessions``
  job), ``disconnect`` (a Disconnect-Request the NAS ACKed), ``staff`` (the API or CLI). NULL: open, or
  closed by the NAS itself.
- Accounting (the generated ``ispops_radius_acct``, ``ispops_radacct_route``) no longer ignores a packet for
  such a session: an Interim-Update or Stop that finds no open session tries ``late_interim`` /
  ``late_stop`` on a platform-closed one. Counters and session time become the greatest of old and new, the
  stop time moves forward to an interim's event time (the session lasted at least that long), and the
  NAS's Stop replaces the platform's stop time, terminate cause and ``closed_by`` (NULL: the NAS had the
  last word). The session is never reopened. Everything else (duplicates after a NAS Stop, Starts) is as
  before.

``closed_by``'s CHECK is added ``NOT VALID``: the column has just been added, every existing row is NULL,
and validating would only scan every partition of radacct under the migration's lock. New and updated rows
are checked.

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-07
"""

from __future__ import annotations

import importlib

from ispops.db.ddl import check, one_of, steps

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None

_v0014 = importlib.import_module("ispops.migrations.versions.0014_radius_server")
_v0017 = importlib.import_module("ispops.migrations.versions.0017_radacct_router")
_v0019 = importlib.import_module("ispops.migrations.versions.0019_radius_interim")

# Mirrors ispops.models.radius.RadacctClosedBy (a test compares them).
CLOSED_BY = ("stale", "disconnect", "staff")
# The interim interval assumed when neither the tenant nor the session says (seconds).
DEFAULT_INTERVAL = 300

STALE_AT = f"""
CREATE FUNCTION ispops_radius_stale_at(p_last timestamptz, p_acctinterval bigint, p_interval integer,
                                       p_intervals integer)
RETURNS timestamptz LANGUAGE sql STABLE PARALLEL SAFE AS $$
-- When a session last heard of at p_last becomes stale (migration 0025): p_intervals (the tenant's
-- radius_stale_after_intervals, default 3) times its interim interval, which is the tenant's
-- radius_interim_interval raised to the session's measured acctinterval when that is longer (a NAS that
-- reports less often than asked), else {DEFAULT_INTERVAL} s. greatest() ignores NULLs.
  SELECT p_last + make_interval(secs => coalesce(p_intervals, 3)
                                        * coalesce(greatest(p_interval::bigint, p_acctinterval), {DEFAULT_INTERVAL}))
$$
"""
STALE_AT_SIGNATURE = "ispops_radius_stale_at(timestamptz, bigint, integer, integer)"

SIMUL = """
CREATE OR REPLACE FUNCTION ispops_radius_simul_count(p_tenant text, p_username text)
RETURNS bigint LANGUAGE plpgsql STABLE AS $$
-- Open sessions of the user that are not stale (migration 0025): a session the NAS has not reported on
-- for N x its interim interval does not count, whether or not the stale-session job has closed it yet.
DECLARE
  n bigint;
  iv integer;
  k integer;
BEGIN
  PERFORM set_config('app.current_tenant_id', p_tenant, true);
  SELECT tn.radius_interim_interval, tn.radius_stale_after_intervals INTO iv, k
    FROM tenants tn WHERE tn.id = p_tenant;
  SELECT count(*) INTO n FROM radacct a
   WHERE a.tenant_id = p_tenant AND a.username = p_username AND a.acctstoptime IS NULL
     AND ispops_radius_stale_at(coalesce(a.acctupdatetime, a.acctstarttime), a.acctinterval, iv, k) > now();
  RETURN n;
END $$
"""

# What a late Interim-Update or Stop does to a platform-closed session (ispops_radacct_route's positional
# arguments, 0017: $1 op, $6 event time, $7 session time, $8/$9 octets, $10 cause, $11 connect info, ...).
LATE_SET = """acctupdatetime = greatest(a.acctupdatetime, $6),
      acctstoptime = CASE WHEN $1 = 'late_stop' THEN $6 ELSE greatest(a.acctstoptime, $6) END,
      acctsessiontime = greatest(coalesce($7, a.acctsessiontime), coalesce(a.acctsessiontime, 0)),
      acctinputoctets = greatest($8, a.acctinputoctets),
      acctoutputoctets = greatest($9, a.acctoutputoctets),
      acctterminatecause = CASE WHEN $1 = 'late_stop' THEN coalesce(nullif($10, ''), a.acctterminatecause)
                                ELSE a.acctterminatecause END,
      connectinfo_stop = CASE WHEN $1 = 'late_stop' THEN coalesce(nullif($11, ''), a.connectinfo_stop)
                              ELSE a.connectinfo_stop END,
      closed_by = CASE WHEN $1 = 'late_stop' THEN NULL ELSE a.closed_by END,
      framedipaddress = coalesce(nullif($12, '')::inet, a.framedipaddress),
      framedipv6address = coalesce(nullif($13, '')::inet, a.framedipv6address),
      framedipv6prefix = coalesce(nullif($14, '')::inet, a.framedipv6prefix),
      delegatedipv6prefix = coalesce(nullif($15, '')::inet, a.delegatedipv6prefix)"""
PLATFORM_CLOSED = "a.closed_by IS NOT NULL"

# The builder of 0019, with the late path added to the route (per partition and on the parent) and to the
# accounting function. Each piece it extends must occur exactly once.
_BUILD_0019: str = _v0019.BUILD
_ROUTE_STOPPED = f"""    ELSIF $1 = 'stopped' THEN
      PERFORM 1 FROM public.%1$I a WHERE {_v0017.KEY} AND a.acctstoptime IS NOT NULL;
      RETURN CASE WHEN FOUND THEN 1 ELSE 0 END;
"""
_ROUTE_LATE = f"""    ELSIF $1 IN ('late_interim', 'late_stop') THEN
      -- a platform-closed session (migration 0025): the NAS's counters and Stop still land; never reopened
      UPDATE public.%1$I a SET
      {LATE_SET}
      WHERE {_v0017.KEY} AND {PLATFORM_CLOSED};
      GET DIAGNOSTICS n = ROW_COUNT;
      RETURN n;
"""
_PARENT_STOPPED = (
    "    ELSIF $1 = 'stopped' THEN\n"
    f"      EXECUTE $q$SELECT 1 FROM public.radacct a WHERE {_v0017.KEY} AND a.acctstoptime IS NOT NULL LIMIT 1$q$ "
    f"{_v0017.USING};\n"
)
_PARENT_LATE = f"""    ELSIF $1 IN ('late_interim', 'late_stop') THEN
      EXECUTE $q$UPDATE public.radacct a SET
      {LATE_SET}
      WHERE {_v0017.KEY} AND {PLATFORM_CLOSED}$q$ {_v0017.USING};
"""
_ACCT_STOPPED = """    IF ispops_radacct_route('stopped', p_tenant, uid, lo, hi, ev, NULL, 0, 0,
                            NULL, NULL, NULL, NULL, NULL, NULL) > 0 THEN
"""
_ACCT_LATE = """    -- A session the platform closed (stale, Disconnect ACKed, staff; migration 0025): the NAS's
    -- counters still land and its Stop replaces the platform's stop time and cause. Never reopened.
    IF ispops_radacct_route('late_' || p_kind, p_tenant, uid, lo, hi, ev, p_sessiontime, inoct, outoct,
                            p_terminatecause, p_connectinfo, p_framedip, p_framedipv6, p_framedipv6prefix,
                            p_delegatedprefix) > 0 THEN
      RETURN 1;
    END IF;
"""
for _piece in (_ROUTE_STOPPED, _PARENT_STOPPED, _ACCT_STOPPED):
    assert _BUILD_0019.count(_piece) == 1, "0019's router builder changed shape"
BUILD = (
    _BUILD_0019.replace(
        "-- number of monthly partitions.",
        "-- number of monthly partitions. Late packets of platform-closed sessions: migration 0025.",
    )
    .replace(_ROUTE_STOPPED, _ROUTE_STOPPED + _ROUTE_LATE)
    .replace(_PARENT_STOPPED, _PARENT_STOPPED + _PARENT_LATE)
    .replace(_ACCT_STOPPED, _ACCT_LATE + _ACCT_STOPPED)
)
assert BUILD.count("late_stop") == 2 * LATE_SET.count("late_stop") + 2, "the builder was not extended"


UPGRADE = [
    "ALTER TABLE tenants ADD COLUMN radius_stale_after_intervals integer NOT NULL DEFAULT 3",
    "ALTER TABLE tenants ADD "
    + check("tenants", "radius_stale_after_intervals", "radius_stale_after_intervals BETWEEN 2 AND 100"),
    # Tenant admins set N themselves (the tenant settings API), like the other RADIUS policy columns.
    # (FreeRADIUS's role reads tenants already: migration 0001.)
    "GRANT UPDATE (radius_stale_after_intervals) ON tenants TO ispops_app",
    "ALTER TABLE radacct ADD COLUMN closed_by text",
    "ALTER TABLE radacct ADD " + one_of("radacct", "closed_by", CLOSED_BY) + " NOT VALID",
    STALE_AT,
    f"REVOKE ALL ON FUNCTION {STALE_AT_SIGNATURE} FROM PUBLIC",
    f"GRANT EXECUTE ON FUNCTION {STALE_AT_SIGNATURE} TO ispops_app, ispops_radius",
    SIMUL,
    # The app role asks FreeRADIUS's own count (the credentials check, POST .../test-credentials).
    "GRANT EXECUTE ON FUNCTION ispops_radius_simul_count(text, text) TO ispops_app",
    BUILD,
    "SELECT ispops_radacct_build_router()",
]

DOWNGRADE = [
    # 0019's builder, and the functions it generates, without the late path.
    _BUILD_0019,
    "SELECT ispops_radacct_build_router()",
    "REVOKE EXECUTE ON FUNCTION ispops_radius_simul_count(text, text) FROM ispops_app",
    _v0014.SIMUL.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1),
    f"DROP FUNCTION {STALE_AT_SIGNATURE}",
    "ALTER TABLE radacct DROP CONSTRAINT ck_radacct__closed_by",
    "ALTER TABLE radacct DROP COLUMN closed_by",
    "REVOKE UPDATE (radius_stale_after_intervals) ON tenants FROM ispops_app",
    "ALTER TABLE tenants DROP CONSTRAINT ck_tenants__radius_stale_after_intervals",
    "ALTER TABLE tenants DROP COLUMN radius_stale_after_intervals",
]

upgrade, downgrade = steps(UPGRADE, DOWNGRADE)
