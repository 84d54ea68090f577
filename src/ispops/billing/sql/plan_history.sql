-- A subscriber's service periods for billing (ispops.billing): every change of plan
-- (bandwidth_profile_id), status or soft deletion closes the open subscriber_plan_history row at now()
-- and opens the next one. These SECURITY DEFINER functions write it within the changed row's tenant
-- (FORCE RLS applies to the owner too); the app role cannot delete history.
-- Canonical text: edit here, then `ispops db revision "..."` (docs/architecture.md).

CREATE OR REPLACE FUNCTION public.ispops_billing_plan_history_insert()
 RETURNS trigger
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public'
AS $function$
-- New subscribers (one statement, any number of rows: bulk imports): the first period starts when the
-- service was activated if that is already in the past (an imported subscriber), else now.
-- Without a tenant (the owner, a superuser) it acts for each row's tenant in turn and restores the setting;
-- a transaction acting for a tenant keeps it (RLS refuses any other tenant's rows).
DECLARE
  saved text := coalesce(current_setting('app.current_tenant_id', true), '');
  t text;
BEGIN
  FOR t IN SELECT DISTINCT n.tenant_id::text FROM new_rows n WHERE n.deleted_at IS NULL LOOP
    IF saved = '' THEN
      PERFORM set_config('app.current_tenant_id', t, true);
    END IF;
    INSERT INTO subscriber_plan_history (tenant_id, subscriber_id, bandwidth_profile_id, status, valid_from)
    SELECT n.tenant_id, n.id, n.bandwidth_profile_id, n.status, least(now(), coalesce(n.service_activated_at, now()))
      FROM new_rows n
     WHERE n.deleted_at IS NULL AND n.tenant_id::text = t;
  END LOOP;
  IF saved = '' THEN
    PERFORM set_config('app.current_tenant_id', '', true);
  END IF;
  RETURN NULL;
END
$function$;
REVOKE ALL ON FUNCTION public.ispops_billing_plan_history_insert() FROM PUBLIC;

CREATE OR REPLACE FUNCTION public.ispops_billing_plan_history_update()
 RETURNS trigger
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'public'
AS $function$
-- A change of plan, status or deletion: the open period ends now and the next begins now. Two changes in
-- one transaction share now(): the period opened earlier in the transaction is rewritten in place, so no
-- period is ever empty. A deleted subscriber gets no next period; an undeleted one starts again.
-- Without a tenant (the owner, a superuser) it acts for the row's tenant and restores the setting.
DECLARE
  open_from timestamptz;
  saved text := coalesce(current_setting('app.current_tenant_id', true), '');
BEGIN
  IF saved = '' THEN
    PERFORM set_config('app.current_tenant_id', NEW.tenant_id::text, true);
  END IF;
  SELECT valid_from INTO open_from FROM subscriber_plan_history
   WHERE tenant_id = NEW.tenant_id AND subscriber_id = NEW.id AND valid_to IS NULL
   FOR UPDATE;
  IF open_from = now() THEN
    IF NEW.deleted_at IS NULL THEN
      UPDATE subscriber_plan_history SET bandwidth_profile_id = NEW.bandwidth_profile_id, status = NEW.status
       WHERE tenant_id = NEW.tenant_id AND subscriber_id = NEW.id AND valid_to IS NULL;
    ELSE
      DELETE FROM subscriber_plan_history
       WHERE tenant_id = NEW.tenant_id AND subscriber_id = NEW.id AND valid_to IS NULL;
    END IF;
  ELSE
    UPDATE subscriber_plan_history SET valid_to = now()
     WHERE tenant_id = NEW.tenant_id AND subscriber_id = NEW.id AND valid_to IS NULL;
    IF NEW.deleted_at IS NULL THEN
      INSERT INTO subscriber_plan_history (tenant_id, subscriber_id, bandwidth_profile_id, status, valid_from)
      VALUES (NEW.tenant_id, NEW.id, NEW.bandwidth_profile_id, NEW.status, now());
    END IF;
  END IF;
  IF saved = '' THEN
    PERFORM set_config('app.current_tenant_id', '', true);
  END IF;
  RETURN NULL;
END
$function$;
REVOKE ALL ON FUNCTION public.ispops_billing_plan_history_update() FROM PUBLIC;

CREATE OR REPLACE TRIGGER subscribers_plan_history_insert
    AFTER INSERT ON subscribers
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT
    EXECUTE FUNCTION ispops_billing_plan_history_insert();

CREATE OR REPLACE TRIGGER subscribers_plan_history_update
    AFTER UPDATE OF bandwidth_profile_id, status, deleted_at ON subscribers
    FOR EACH ROW
    WHEN (OLD.bandwidth_profile_id IS DISTINCT FROM NEW.bandwidth_profile_id OR OLD.status IS DISTINCT FROM NEW.status OR (OLD.deleted_at IS NULL) <> (NEW.deleted_at IS NULL))
    EXECUTE FUNCTION ispops_billing_plan_history_update();
