"""session.started / session.stopped from triggers on radacct, in the accounting write's transaction (issue 18)

The ``events.session_events`` job (every minute, radacct rows of the last 10 minutes) is replaced by
``ispops_events_radacct_session()`` (SECURITY DEFINER: the RADIUS role has no right on the outbox) and two
row triggers on the partitioned ``radacct``, cloned by PostgreSQL to every partition, present and future:

- ``radacct_session_started`` AFTER INSERT: ``session.started`` (and ``session.stopped`` for a row inserted
  already stopped);
- ``radacct_session_stopped`` AFTER UPDATE OF acctstoptime WHEN it goes from NULL to a value:
  ``session.stopped``.

Same payloads and dedupe keys (``radacct:<acctuniqueid>:start|stop``) as the job, so an event the job wrote
before this migration is not written again. Canonical text: ``src/ispops/events/sql/session_events.sql``.

Revision ID: 0038
Revises: 0037
Create Date: 2026-12-08
"""

from __future__ import annotations

from ispops.db.ddl import run

revision = "0038"
down_revision = "0037"
branch_labels = None
depends_on = None

FUNCTION = r"""
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
$function$
"""

UPGRADE = [
    FUNCTION,
    "REVOKE ALL ON FUNCTION public.ispops_events_radacct_session() FROM PUBLIC",
    """
CREATE OR REPLACE TRIGGER radacct_session_started
  AFTER INSERT ON public.radacct
  FOR EACH ROW EXECUTE FUNCTION ispops_events_radacct_session()
""",
    """
CREATE OR REPLACE TRIGGER radacct_session_stopped
  AFTER UPDATE OF acctstoptime ON public.radacct
  FOR EACH ROW WHEN (OLD.acctstoptime IS NULL AND NEW.acctstoptime IS NOT NULL)
  EXECUTE FUNCTION ispops_events_radacct_session()
""",
]

DOWNGRADE = [
    "DROP TRIGGER radacct_session_stopped ON public.radacct",
    "DROP TRIGGER radacct_session_started ON public.radacct",
    "DROP FUNCTION public.ispops_events_radacct_session()",
]


def upgrade() -> None:
    run(UPGRADE)


def downgrade() -> None:
    run(DOWNGRADE)
