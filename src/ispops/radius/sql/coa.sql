-- CoA/Disconnect outbox: a change that matters to a live session queues a request (radius_coa_queue).
-- Canonical text: edit here, then `ispops db revision "..."` (docs/architecture.md).

CREATE OR REPLACE FUNCTION public.ispops_coa_on_subscriber()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$
    DECLARE
      v_kind text;
      v_reason text;
    BEGIN
      IF NEW.deleted_at IS NOT NULL THEN
        IF OLD.deleted_at IS NOT NULL THEN
          RETURN NULL;
        END IF;
        v_kind := 'disconnect'; v_reason := 'terminate';
      ELSIF NEW.status IS DISTINCT FROM OLD.status THEN
        IF NEW.status = 'terminated' THEN
          v_kind := 'disconnect'; v_reason := 'terminate';
        ELSIF NEW.status = 'suspended' THEN
          v_reason := 'suspend';
          SELECT CASE t.radius_suspended_action WHEN 'walled_garden' THEN 'coa' ELSE 'disconnect' END
            INTO v_kind FROM tenants t WHERE t.id = NEW.tenant_id;
          v_kind := coalesce(v_kind, 'disconnect');
        ELSIF NEW.status = 'active' THEN
          v_kind := 'coa'; v_reason := 'resume';
        ELSE
          v_kind := 'disconnect'; v_reason := 'suspend';
        END IF;
      ELSIF NEW.status <> 'active' THEN
        RETURN NULL;  -- a suspended subscriber's plan or throttle: the walled garden stays as it is
      ELSIF NEW.bandwidth_profile_id IS DISTINCT FROM OLD.bandwidth_profile_id THEN
        v_kind := 'coa'; v_reason := 'plan_change';
      ELSIF (NEW.throttled_until IS NULL) <> (OLD.throttled_until IS NULL) THEN
        v_kind := 'coa';
        v_reason := CASE WHEN NEW.throttled_until IS NULL THEN 'unthrottle' ELSE 'throttle' END;
      ELSE
        RETURN NULL;
      END IF;
      IF NOT ispops_coa_has_open_session(NEW.tenant_id, NEW.id, coalesce(NEW.pppoe_username, OLD.pppoe_username))
         OR ispops_coa_pending(NEW.tenant_id, NEW.id) IS NOT DISTINCT FROM v_kind || '/' || v_reason THEN
        RETURN NULL;
      END IF;
      INSERT INTO radius_coa_queue (tenant_id, subscriber_id, username, kind, reason)
      VALUES (NEW.tenant_id, NEW.id, coalesce(NEW.pppoe_username, OLD.pppoe_username), v_kind, v_reason);
      PERFORM pg_notify('ispops_radius_coa', NEW.tenant_id);
      RETURN NULL;
    END $function$;

CREATE OR REPLACE FUNCTION public.ispops_coa_on_profile()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$
    BEGIN
      INSERT INTO radius_coa_queue (tenant_id, subscriber_id, username, kind, reason)
      SELECT s.tenant_id, s.id, s.pppoe_username, 'coa', 'plan_change'
        FROM subscribers s
       WHERE s.tenant_id = NEW.tenant_id AND s.bandwidth_profile_id = NEW.id
         AND s.deleted_at IS NULL AND s.status = 'active'
         AND ispops_coa_has_open_session(s.tenant_id, s.id, s.pppoe_username)
         AND ispops_coa_pending(s.tenant_id, s.id) IS DISTINCT FROM 'coa/plan_change';
      IF FOUND THEN
        PERFORM pg_notify('ispops_radius_coa', NEW.tenant_id);
      END IF;
      RETURN NULL;
    END $function$;

CREATE OR REPLACE FUNCTION public.ispops_coa_pending(p_tenant text, p_subscriber uuid)
 RETURNS text
 LANGUAGE sql
 STABLE
AS $function$
      SELECT q.kind || '/' || q.reason FROM radius_coa_queue q
       WHERE q.tenant_id = p_tenant AND q.subscriber_id = p_subscriber
         AND q.radacctid IS NULL AND q.attempts = 0
       ORDER BY q.id DESC LIMIT 1
    $function$;

CREATE OR REPLACE FUNCTION public.ispops_coa_has_open_session(p_tenant text, p_subscriber uuid, p_username text)
 RETURNS boolean
 LANGUAGE sql
 STABLE
AS $function$
      SELECT EXISTS (SELECT 1 FROM radacct r
                      WHERE r.tenant_id = p_tenant AND r.acctstoptime IS NULL AND r.subscriber_id = p_subscriber)
          OR EXISTS (SELECT 1 FROM radacct r
                      WHERE r.tenant_id = p_tenant AND r.acctstoptime IS NULL AND r.subscriber_id IS NULL
                        AND r.username = p_username)
    $function$;

CREATE OR REPLACE TRIGGER bandwidth_profiles_coa
    AFTER UPDATE ON bandwidth_profiles
    FOR EACH ROW
    WHEN (ROW(OLD.download_mbps, OLD.upload_mbps, OLD.download_burst_mbps, OLD.upload_burst_mbps,
        OLD.burst_threshold_mbps, OLD.burst_time_seconds, OLD.priority, OLD.radius_attributes,
        OLD.session_timeout_seconds, OLD.fup_download_mbps, OLD.fup_upload_mbps, OLD.cisco_policy_in,
        OLD.cisco_policy_out, OLD.juniper_qos_profile)
        IS DISTINCT FROM ROW(NEW.download_mbps, NEW.upload_mbps, NEW.download_burst_mbps,
            NEW.upload_burst_mbps, NEW.burst_threshold_mbps, NEW.burst_time_seconds, NEW.priority,
            NEW.radius_attributes, NEW.session_timeout_seconds, NEW.fup_download_mbps, NEW.fup_upload_mbps,
            NEW.cisco_policy_in, NEW.cisco_policy_out, NEW.juniper_qos_profile))
    EXECUTE FUNCTION ispops_coa_on_profile();

CREATE OR REPLACE TRIGGER subscribers_coa
    AFTER UPDATE ON subscribers
    FOR EACH ROW
    WHEN (ROW(OLD.status, OLD.bandwidth_profile_id, OLD.throttled_until, OLD.deleted_at)
        IS DISTINCT FROM ROW(NEW.status, NEW.bandwidth_profile_id, NEW.throttled_until, NEW.deleted_at))
    EXECUTE FUNCTION ispops_coa_on_subscriber();
