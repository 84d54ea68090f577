-- When a subscriber, a plan or the tenant's RADIUS policy changes, the rows are rendered again in the same transaction.
-- Canonical text: edit here, then `ispops db revision "..."` (docs/architecture.md).

CREATE OR REPLACE FUNCTION public.ispops_radius_subscribers_changed()
 RETURNS trigger
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'public'
AS $function$
DECLARE
    t record;
BEGIN
    IF TG_OP = 'INSERT' THEN
        FOR t IN SELECT n.tenant_id, array_agg(n.id) AS ids FROM new_rows n
                  WHERE n.pppoe_username IS NOT NULL GROUP BY n.tenant_id LOOP
            PERFORM ispops_radius_render(t.tenant_id, t.ids);
        END LOOP;
    ELSIF TG_OP = 'UPDATE' THEN
        FOR t IN SELECT n.tenant_id, array_agg(n.id) AS ids
                   FROM new_rows n JOIN old_rows o ON o.id = n.id
                  WHERE (o.status, o.pppoe_username, o.bandwidth_profile_id, o.static_ip_address, o.throttled_until, o.deleted_at) IS DISTINCT FROM (n.status, n.pppoe_username, n.bandwidth_profile_id, n.static_ip_address, n.throttled_until, n.deleted_at)
                  GROUP BY n.tenant_id LOOP
            PERFORM ispops_radius_render(t.tenant_id, t.ids);
        END LOOP;
    ELSE
        FOR t IN SELECT o.tenant_id, array_agg(o.id) AS ids FROM old_rows o GROUP BY o.tenant_id LOOP
            PERFORM ispops_radius_render(t.tenant_id, t.ids);
        END LOOP;
    END IF;
    RETURN NULL;
END
$function$;

CREATE OR REPLACE FUNCTION public.ispops_radius_profiles_changed()
 RETURNS trigger
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'public'
AS $function$
DECLARE
    t record;
BEGIN
    FOR t IN SELECT n.tenant_id, array_agg(n.id) AS ids
               FROM new_rows n JOIN old_rows o ON o.id = n.id
              WHERE (o.download_mbps, o.upload_mbps, o.download_burst_mbps, o.upload_burst_mbps, o.burst_threshold_mbps, o.burst_time_seconds, o.priority, o.session_timeout_seconds, o.simultaneous_use, o.fup_download_mbps, o.fup_upload_mbps, o.cisco_policy_in, o.cisco_policy_out, o.juniper_qos_profile) IS DISTINCT FROM (n.download_mbps, n.upload_mbps, n.download_burst_mbps, n.upload_burst_mbps, n.burst_threshold_mbps, n.burst_time_seconds, n.priority, n.session_timeout_seconds, n.simultaneous_use, n.fup_download_mbps, n.fup_upload_mbps, n.cisco_policy_in, n.cisco_policy_out, n.juniper_qos_profile)
              GROUP BY n.tenant_id LOOP
        PERFORM ispops_radius_render(t.tenant_id, NULL, t.ids);
    END LOOP;
    RETURN NULL;
END
$function$;

CREATE OR REPLACE FUNCTION public.ispops_radius_tenant_changed()
 RETURNS trigger
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public'
AS $function$
BEGIN
    PERFORM ispops_radius_render(NEW.id);
    RETURN NULL;
END
$function$;
REVOKE ALL ON FUNCTION public.ispops_radius_tenant_changed() FROM PUBLIC;

CREATE OR REPLACE TRIGGER bandwidth_profiles_radius_update
    AFTER UPDATE ON bandwidth_profiles
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT
    EXECUTE FUNCTION ispops_radius_profiles_changed();

CREATE OR REPLACE TRIGGER subscribers_radius_delete
    AFTER DELETE ON subscribers
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT
    EXECUTE FUNCTION ispops_radius_subscribers_changed();

-- A subscriber import renders its new subscribers' rows itself, from ispops_radius_rows (the same rows;
-- ispops.subscribers.bulk_import and tests/subscribers/test_bulk_import.py).
CREATE OR REPLACE TRIGGER subscribers_radius_insert
    AFTER INSERT ON subscribers
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT
    WHEN (current_setting('ispops.subscriber_import', true) IS DISTINCT FROM 'on')
    EXECUTE FUNCTION ispops_radius_subscribers_changed();

CREATE OR REPLACE TRIGGER subscribers_radius_update
    AFTER UPDATE ON subscribers
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT
    EXECUTE FUNCTION ispops_radius_subscribers_changed();

CREATE OR REPLACE TRIGGER tenants_radius_policy
    AFTER UPDATE OF radius_suspended_action, radius_walled_garden_download_kbps,
        radius_walled_garden_upload_kbps, radius_walled_garden_list, radius_interim_interval,
        radius_session_timeout ON tenants
    FOR EACH ROW
    WHEN ((OLD.radius_suspended_action, OLD.radius_walled_garden_download_kbps,
        OLD.radius_walled_garden_upload_kbps, OLD.radius_walled_garden_list, OLD.radius_interim_interval,
        OLD.radius_session_timeout)
        IS DISTINCT FROM (NEW.radius_suspended_action, NEW.radius_walled_garden_download_kbps,
            NEW.radius_walled_garden_upload_kbps, NEW.radius_walled_garden_list, NEW.radius_interim_interval,
            NEW.radius_session_timeout))
    EXECUTE FUNCTION ispops_radius_tenant_changed();
