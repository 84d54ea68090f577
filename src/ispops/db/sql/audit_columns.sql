-- created_by / updated_by / updated_at on every managed table (trigger <table>_audit, made per table by
-- ispops.db.ddl.tenant_table; those per-table triggers are not listed here).
-- Canonical text: edit here, then `ispops db revision "..."` (docs/architecture.md).

CREATE OR REPLACE FUNCTION public.ispops_audit_columns()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$
    DECLARE
        actor text := NULLIF(current_setting('app.current_user_id', true), '');
    BEGIN
        IF TG_OP = 'INSERT' THEN
            -- The acting user and the clock win over values supplied by the INSERT; without an acting
            -- user (jobs, imports) a supplied created_by is kept.
            NEW.created_at := now();
            NEW.updated_at := NEW.created_at;
            NEW.created_by := COALESCE(actor, NEW.created_by);
            NEW.updated_by := COALESCE(NEW.updated_by, NEW.created_by);
        ELSIF pg_trigger_depth() = 1 THEN
            NEW.created_at := OLD.created_at;
            NEW.created_by := OLD.created_by;
            NEW.updated_at := now();
            NEW.updated_by := COALESCE(actor, NULLIF(NEW.updated_by, OLD.updated_by));
        END IF;
        RETURN NEW;
    END
    $function$;
