"""FreeRADIUS query functions: the client list, authorize, session count, post-auth and accounting.

rlm_sql runs one statement per query on autocommit connections, so each query is a call to one of these
functions. Each sets ``app.current_tenant_id`` transaction-locally (i.e. for that one statement) from the
tenant FreeRADIUS derived from the NAS, then reads or writes with RLS on and an explicit tenant filter.
They run as the caller (``ispops_radius``); the one exception is the client list read at FreeRADIUS's start
(``ispops_radius_clients``, SECURITY DEFINER: the owner's policy on ``tenants`` lists every tenant), which
still reads ``nas`` one tenant at a time with RLS on.

Accounting follows DESIGN.md: interim/stop updates carry a window on ``acctstarttime`` derived from
``Event-Timestamp - Acct-Session-Time`` so only one or two partitions are touched, and each function
falls back between UPDATE and INSERT ... ON CONFLICT DO NOTHING, so duplicates and missing Starts are
idempotent. Gigaword counters are folded into 64-bit octets.

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-24
"""

from __future__ import annotations

from ispops.db.ddl import steps

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

# How far the start time of a session may be from Event-Timestamp - Acct-Session-Time (NAS clocks,
# Acct-Delay-Time). The window decides which partitions an update touches.
WINDOW = "interval '1 day'"

# Tenants whose NAS packets get an answer at all (others' clients are not loaded: packets are dropped).
SERVED = "('active', 'trial', 'suspended', 'inactive', 'pending')"

CLIENTS = f"""
CREATE FUNCTION ispops_radius_clients()
RETURNS TABLE (id bigint, nasname text, shortname text, type text, secret text, server text)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
-- Every live NAS of every tenant that is not cancelled or deleted. The shortname carries the tenant and
-- whether Message-Authenticator is required: "<tenant>/<yes|no|auto>/<shortname>"; the tenant policy in
-- FreeRADIUS parses it. The one deliberate cross-tenant read of the RADIUS role: it runs as the owner
-- (whose tenants policy lists every tenant) and RLS stays on for nas: the loop reads one tenant at a time.
DECLARE t record;
BEGIN
  FOR t IN SELECT tn.id FROM tenants tn WHERE tn.deleted_at IS NULL AND tn.status IN {SERVED} ORDER BY tn.id LOOP
    PERFORM set_config('app.current_tenant_id', t.id, true);
    RETURN QUERY
      SELECT n.id, n.nasname, t.id || '/' || n.require_ma || '/' || n.shortname, n.type, n.secret, n.server
        FROM nas n
       WHERE n.tenant_id = t.id AND n.deleted_at IS NULL
       ORDER BY n.id;
  END LOOP;
  PERFORM set_config('app.current_tenant_id', '', true);
END $$
"""

CHECK = """
CREATE FUNCTION ispops_radius_check(p_tenant text, p_username text)
RETURNS TABLE (id bigint, username text, attribute text, value text, op text)
LANGUAGE plpgsql STABLE AS $$
-- Check items of one user of one tenant. A tenant that is not active (or on trial) gets a reject.
DECLARE st text;
BEGIN
  PERFORM set_config('app.current_tenant_id', p_tenant, true);
  SELECT tn.status INTO st FROM tenants tn WHERE tn.id = p_tenant AND tn.deleted_at IS NULL;
  IF st IS NULL OR st NOT IN ('active', 'trial') THEN
    RETURN QUERY SELECT 0::bigint, p_username, 'Auth-Type'::text, 'Reject'::text, ':='::text;
    RETURN;
  END IF;
  RETURN QUERY
    SELECT c.id, c.username, c.attribute, c.value, c.op::text
      FROM radcheck c
     WHERE c.tenant_id = p_tenant AND c.username = p_username
     ORDER BY c.id;
END $$
"""

# Mirrors ispops.radius.vendors.VENDOR_PREFIXES (a test compares them).
REPLY = """
CREATE FUNCTION ispops_radius_reply(p_tenant text, p_username text, p_nas_type text)
RETURNS TABLE (id bigint, username text, attribute text, value text, op text)
LANGUAGE plpgsql STABLE AS $$
-- Reply items for a NAS of type p_nas_type: vendor-neutral attributes plus that vendor's own.
DECLARE
  own text := CASE p_nas_type WHEN 'mikrotik' THEN 'Mikrotik-%' WHEN 'cisco' THEN 'Cisco-%'
                              WHEN 'juniper' THEN 'ERX-%' ELSE 'WISPr-%' END;
BEGIN
  PERFORM set_config('app.current_tenant_id', p_tenant, true);
  RETURN QUERY
    SELECT r.id, r.username, r.attribute, r.value, r.op::text
      FROM radreply r
     WHERE r.tenant_id = p_tenant AND r.username = p_username
       AND (r.attribute LIKE own
            OR NOT (r.attribute LIKE 'Mikrotik-%' OR r.attribute LIKE 'Cisco-%' OR r.attribute LIKE 'ERX-%'
                    OR r.attribute LIKE 'WISPr-%'))
     ORDER BY r.id;
END $$
"""

SIMUL = """
CREATE FUNCTION ispops_radius_simul_count(p_tenant text, p_username text)
RETURNS bigint LANGUAGE plpgsql STABLE AS $$
DECLARE n bigint;
BEGIN
  PERFORM set_config('app.current_tenant_id', p_tenant, true);
  SELECT count(*) INTO n FROM radacct a
   WHERE a.tenant_id = p_tenant AND a.username = p_username AND a.acctstoptime IS NULL;
  RETURN n;
END $$
"""

POSTAUTH = """
CREATE FUNCTION ispops_radius_postauth(
  p_tenant text, p_username text, p_reply text, p_nasip text, p_called text, p_calling text, p_class text
) RETURNS integer LANGUAGE plpgsql AS $$
-- The authentication log. Never a password.
BEGIN
  PERFORM set_config('app.current_tenant_id', p_tenant, true);
  INSERT INTO radpostauth (tenant_id, username, reply, nasipaddress, calledstationid, callingstationid, class)
  VALUES (p_tenant, p_username, p_reply, nullif(p_nasip, '')::inet, nullif(p_called, ''),
          nullif(p_calling, ''), nullif(p_class, ''));
  RETURN 1;
END $$
"""

# The arguments every accounting function receives, in the order the FreeRADIUS queries pass them.
ACCT_ARGS = """
  p_tenant text, p_uniqueid text, p_sessionid text, p_username text, p_realm text, p_nasip text,
  p_nasportid text, p_nasporttype text, p_event bigint, p_sessiontime bigint,
  p_in bigint, p_in_giga bigint, p_out bigint, p_out_giga bigint,
  p_authentic text, p_connectinfo text, p_called text, p_calling text, p_terminatecause text,
  p_servicetype text, p_framedprotocol text, p_framedip text, p_framedipv6 text, p_framedipv6prefix text,
  p_framedinterfaceid text, p_delegatedprefix text, p_class text"""

ACCT = f"""
CREATE FUNCTION ispops_radius_acct(p_kind text, {ACCT_ARGS})
RETURNS integer LANGUAGE plpgsql
-- Plan each call with its values: a cached generic plan on the partitioned radacct would lock every
-- partition on every call; a custom plan prunes to the one or two months in the window first.
SET plan_cache_mode = force_custom_plan AS $$
-- One accounting packet: p_kind is 'start', 'interim' or 'stop'. Idempotent: a repeated packet changes
-- nothing, an interim or stop without a Start creates the session, a Start after them is ignored.
DECLARE
  ev timestamptz := to_timestamp(p_event);
  started timestamptz := to_timestamp(p_event - coalesce(p_sessiontime, 0));
  -- The window as plain values (timestamptz - interval is only stable): the planner prunes with them.
  lo timestamptz := started - {WINDOW};
  hi timestamptz := started + {WINDOW};
  ev_lo timestamptz := ev - {WINDOW};
  ev_hi timestamptz := ev + {WINDOW};
  inoct bigint := coalesce(p_in_giga, 0) * 4294967296 + coalesce(p_in, 0);
  outoct bigint := coalesce(p_out_giga, 0) * 4294967296 + coalesce(p_out, 0);
  n integer;
BEGIN
  PERFORM set_config('app.current_tenant_id', p_tenant, true);
  IF p_kind = 'start' THEN
    PERFORM 1 FROM radacct a
     WHERE a.tenant_id = p_tenant AND a.acctuniqueid = p_uniqueid
       AND a.acctstarttime >= ev_lo AND a.acctstarttime <= ev_hi;
    IF FOUND THEN
      RETURN 1;
    END IF;
  ELSE
    UPDATE radacct a SET
      acctupdatetime = ev,
      acctstoptime = CASE WHEN p_kind = 'stop' THEN ev ELSE a.acctstoptime END,
      acctinterval = CASE WHEN a.acctupdatetime IS NULL THEN NULL
                          ELSE extract(epoch FROM ev - a.acctupdatetime)::bigint END,
      acctsessiontime = greatest(coalesce(p_sessiontime, a.acctsessiontime), coalesce(a.acctsessiontime, 0)),
      acctinputoctets = greatest(inoct, a.acctinputoctets),
      acctoutputoctets = greatest(outoct, a.acctoutputoctets),
      acctterminatecause = CASE WHEN p_kind = 'stop' THEN nullif(p_terminatecause, '')
                                ELSE a.acctterminatecause END,
      connectinfo_stop = CASE WHEN p_kind = 'stop' THEN nullif(p_connectinfo, '') ELSE a.connectinfo_stop END,
      framedipaddress = coalesce(nullif(p_framedip, '')::inet, a.framedipaddress),
      framedipv6address = coalesce(nullif(p_framedipv6, '')::inet, a.framedipv6address),
      framedipv6prefix = coalesce(nullif(p_framedipv6prefix, '')::inet, a.framedipv6prefix),
      delegatedipv6prefix = coalesce(nullif(p_delegatedprefix, '')::inet, a.delegatedipv6prefix)
    WHERE a.tenant_id = p_tenant AND a.acctuniqueid = p_uniqueid
      AND a.acctstarttime >= lo AND a.acctstarttime <= hi
      -- a late interim never reopens a stopped session; written so that no index on acctstoptime (whose
      -- open-session statistics go stale between ANALYZEs) is preferred to the unique key
      AND coalesce(a.acctstoptime, 'infinity') = 'infinity';
    GET DIAGNOSTICS n = ROW_COUNT;
    IF n > 0 THEN
      RETURN n;
    END IF;
    PERFORM 1 FROM radacct a
     WHERE a.tenant_id = p_tenant AND a.acctuniqueid = p_uniqueid AND a.acctstoptime IS NOT NULL
       AND a.acctstarttime >= lo AND a.acctstarttime <= hi;
    IF FOUND THEN
      RETURN 1;  -- already stopped: a duplicate or late packet
    END IF;
  END IF;
  INSERT INTO radacct (
    tenant_id, subscriber_id, acctsessionid, acctuniqueid, username, realm, nasipaddress, nasportid,
    nasporttype, acctstarttime, acctupdatetime, acctstoptime, acctsessiontime, acctauthentic,
    connectinfo_start, connectinfo_stop, acctinputoctets, acctoutputoctets, calledstationid,
    callingstationid, acctterminatecause, servicetype, framedprotocol, framedipaddress, framedipv6address,
    framedipv6prefix, framedinterfaceid, delegatedipv6prefix, class)
  VALUES (
    p_tenant,
    (SELECT c.subscriber_id FROM radcheck c
      WHERE c.tenant_id = p_tenant AND c.username = p_username AND c.subscriber_id IS NOT NULL LIMIT 1),
    p_sessionid, p_uniqueid, p_username, nullif(p_realm, ''), p_nasip::inet, nullif(p_nasportid, ''),
    nullif(p_nasporttype, ''), started,
    CASE WHEN p_kind = 'start' THEN NULL ELSE ev END,
    CASE WHEN p_kind = 'stop' THEN ev END,
    coalesce(p_sessiontime, 0), nullif(p_authentic, ''),
    CASE WHEN p_kind = 'start' THEN nullif(p_connectinfo, '') END,
    CASE WHEN p_kind = 'stop' THEN nullif(p_connectinfo, '') END,
    inoct, outoct, nullif(p_called, ''), nullif(p_calling, ''),
    CASE WHEN p_kind = 'stop' THEN nullif(p_terminatecause, '') END,
    nullif(p_servicetype, ''), nullif(p_framedprotocol, ''), nullif(p_framedip, '')::inet,
    nullif(p_framedipv6, '')::inet, nullif(p_framedipv6prefix, '')::inet, nullif(p_framedinterfaceid, ''),
    nullif(p_delegatedprefix, '')::inet, nullif(p_class, ''))
  ON CONFLICT (tenant_id, acctuniqueid, acctstarttime) DO NOTHING;
  RETURN 1;
END $$
"""

ONOFF = """
CREATE FUNCTION ispops_radius_acct_onoff(p_tenant text, p_nasip text, p_event bigint, p_cause text)
RETURNS integer LANGUAGE plpgsql SET plan_cache_mode = force_custom_plan AS $$
-- Accounting-On/Off: the NAS restarted, so every session it still has open is over.
BEGIN
  PERFORM set_config('app.current_tenant_id', p_tenant, true);
  UPDATE radacct a SET
    acctstoptime = to_timestamp(p_event),
    acctupdatetime = to_timestamp(p_event),
    acctsessiontime = greatest(0, p_event - extract(epoch FROM a.acctstarttime)::bigint),
    acctterminatecause = coalesce(nullif(p_cause, ''), 'NAS-Reboot')
  WHERE a.tenant_id = p_tenant AND a.nasipaddress = p_nasip::inet AND a.acctstoptime IS NULL
    AND a.acctstarttime <= to_timestamp(p_event);
  RETURN 1;
END $$
"""

PERIOD = """
CREATE FUNCTION ispops_billing_period_start(p_cycle_day integer, p_today date)
RETURNS date LANGUAGE sql IMMUTABLE AS $$
-- The first day of the billing period containing p_today, for a cycle starting on day p_cycle_day of each
-- month (a day past the end of a short month means its last day).
  SELECT CASE WHEN p_today >= this_month THEN this_month ELSE last_month END
    FROM (SELECT
      (date_trunc('month', p_today)::date
        + (least(p_cycle_day, extract(day FROM date_trunc('month', p_today) + interval '1 month - 1 day')::int)
           - 1)) AS this_month,
      ((date_trunc('month', p_today) - interval '1 month')::date
        + (least(p_cycle_day, extract(day FROM date_trunc('month', p_today) - interval '1 day')::int) - 1))
        AS last_month) d
$$
"""

ACCT_SIGNATURE = (
    "text, text, text, text, text, text, text, text, text, bigint, bigint, bigint, bigint, bigint, bigint, "
    "text, text, text, text, text, text, text, text, text, text, text, text, text"
)
FUNCTIONS = {
    "ispops_radius_clients()": CLIENTS,
    "ispops_radius_check(text, text)": CHECK,
    "ispops_radius_reply(text, text, text)": REPLY,
    "ispops_radius_simul_count(text, text)": SIMUL,
    "ispops_radius_postauth(text, text, text, text, text, text, text)": POSTAUTH,
    f"ispops_radius_acct({ACCT_SIGNATURE})": ACCT,
    "ispops_radius_acct_onoff(text, text, bigint, text)": ONOFF,
}

UPGRADE = [
    PERIOD,
    "GRANT EXECUTE ON FUNCTION ispops_billing_period_start(integer, date) TO ispops_app, ispops_platform",
    # The open-session index serves Simultaneous-Use, Accounting-On/Off and the active-sessions view.
    "CREATE INDEX idx_radacct_open_nas ON radacct (tenant_id, nasipaddress) WHERE acctstoptime IS NULL",
]
for _signature, _body in FUNCTIONS.items():
    UPGRADE += [
        _body,
        f"REVOKE ALL ON FUNCTION {_signature} FROM PUBLIC",
        f"GRANT EXECUTE ON FUNCTION {_signature} TO ispops_radius",
    ]

DOWNGRADE = [f"DROP FUNCTION {signature}" for signature in FUNCTIONS] + [
    "DROP FUNCTION ispops_billing_period_start(integer, date)",
    "DROP INDEX idx_radacct_open_nas",
]

upgrade, downgrade = steps(UPGRADE, DOWNGRADE)
