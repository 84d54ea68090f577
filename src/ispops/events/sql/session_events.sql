-- session.started / session.stopped into the transactional outbox (docs/events.md), written by triggers on
-- radacct in the accounting write's own transaction: a Start (or an Interim-Update or Stop that opens a
-- session never seen to start) inserts a row; a Stop, Accounting-Off or a platform close sets acctstoptime.
-- radacct is a declaratively partitioned table: row triggers on it are cloned to every partition, those
-- created later by ispops_radacct_ensure_partition included, so the accounting router's direct updates of a
-- month's partition fire them too. The function runs as the owner (the RADIUS role has no right on the
-- outbox) within the row's tenant: FORCE RLS applies to the owner too.
-- Delivery: no events.dispatch job is queued from here; events.sweep (every minute) fans them out.
-- Canonical text: edit here, then `ispops db revision "..."` (docs/architecture.md).

CREATE OR REPLACE FUNCTION public.ispops_events_radacct_session()
 RETURNS trigger
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public'
 SET "TimeZone" TO 'UTC'
AS $function$
-- The payload and dedupe keys (radacct:UNIQUEID:start and radacct:UNIQUEID:stop, unique per tenant) are
-- those of the events.session_events job this replaced; a duplicate key (a replayed packet) writes nothing.
-- Without a tenant (the owner, a superuser) it acts for the row's tenant and restores the setting;
-- a transaction acting for a tenant keeps it (RLS refuses any other tenant's rows).
DECLARE
  saved text := coalesce(current_setting('app.current_tenant_id', true), '');
  session jsonb;
  subject text := CASE WHEN NEW.subscriber_id IS NOT NULL THEN 'subscribers/' || NEW.subscriber_id::text END;
BEGIN
  IF saved = '' THEN
    PERFORM set_config('app.current_tenant_id', NEW.tenant_id, true);
  END IF;
  session := jsonb_build_object(
    'acct_unique_id', NEW.acctuniqueid,
    'acct_session_id', NEW.acctsessionid,
    'username', NEW.username,
    'subscriber_id', NEW.subscriber_id,
    'nas_ip', NEW.nasipaddress::text,
    'framed_ip', NEW.framedipaddress::text,
    'started_at', NEW.acctstarttime);
  IF TG_OP = 'INSERT' THEN
    INSERT INTO event_outbox (tenant_id, event_type, subject, payload, dedupe_key)
    VALUES (NEW.tenant_id, 'session.started', subject, session, format('radacct:%s:start', NEW.acctuniqueid))
    ON CONFLICT (tenant_id, dedupe_key) DO NOTHING;
  END IF;
  IF NEW.acctstoptime IS NOT NULL AND (TG_OP = 'INSERT' OR OLD.acctstoptime IS NULL) THEN
    INSERT INTO event_outbox (tenant_id, event_type, subject, payload, dedupe_key)
    VALUES (NEW.tenant_id, 'session.stopped', subject,
            session || jsonb_build_object(
              'stopped_at', NEW.acctstoptime,
              'terminate_cause', NEW.acctterminatecause,
              'session_time', NEW.acctsessiontime,
              'input_octets', NEW.acctinputoctets,
              'output_octets', NEW.acctoutputoctets),
            format('radacct:%s:stop', NEW.acctuniqueid))
    ON CONFLICT (tenant_id, dedupe_key) DO NOTHING;
  END IF;
  IF saved = '' THEN
    PERFORM set_config('app.current_tenant_id', '', true);
  END IF;
  RETURN NULL;
END
$function$;
REVOKE ALL ON FUNCTION public.ispops_events_radacct_session() FROM PUBLIC;

-- Every new session: one session.started (and a session.stopped when the row arrives already stopped).
CREATE OR REPLACE TRIGGER radacct_session_started
  AFTER INSERT ON public.radacct
  FOR EACH ROW EXECUTE FUNCTION ispops_events_radacct_session();

-- A session that stops. Only statements that set acctstoptime are considered at all (the Interim-Update
-- branches of the accounting router do not), and for those the WHEN check is all an interim costs.
CREATE OR REPLACE TRIGGER radacct_session_stopped
  AFTER UPDATE OF acctstoptime ON public.radacct
  FOR EACH ROW WHEN (OLD.acctstoptime IS NULL AND NEW.acctstoptime IS NOT NULL)
  EXECUTE FUNCTION ispops_events_radacct_session();
