-- A splitter output port feeds one ONU or one child splitter, never two.
-- Canonical text: edit here, then `ispops db revision "..."` (docs/architecture.md).

CREATE OR REPLACE FUNCTION public.ispops_splitter_port_free()
 RETURNS trigger
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'public'
AS $function$
    DECLARE
        splitter uuid;
        port integer;
        port_col text;
        ports integer;
    BEGIN
        IF TG_TABLE_NAME = 'onus' THEN
            splitter := NEW.splitter_id; port := NEW.splitter_port; port_col := 'splitter_port';
        ELSE
            splitter := NEW.parent_splitter_id; port := NEW.parent_output_port; port_col := 'parent_output_port';
        END IF;
        IF splitter IS NULL OR port IS NULL OR NEW.deleted_at IS NOT NULL THEN
            RETURN NEW;
        END IF;
        SELECT output_ports INTO ports FROM public.splitters
            WHERE tenant_id = NEW.tenant_id AND id = splitter FOR UPDATE;
        IF ports IS NOT NULL AND port > ports THEN
            RAISE EXCEPTION 'port % does not exist on a splitter with % outputs', port, ports
                USING ERRCODE = 'check_violation', TABLE = TG_TABLE_NAME, COLUMN = port_col,
                      CONSTRAINT = 'ck_' || TG_TABLE_NAME || '__' || port_col;
        END IF;
        IF (TG_TABLE_NAME <> 'onus' AND EXISTS (
                SELECT 1 FROM public.onus o WHERE o.tenant_id = NEW.tenant_id AND o.splitter_id = splitter
                AND o.splitter_port = port AND o.deleted_at IS NULL))
           OR (TG_TABLE_NAME = 'onus' AND EXISTS (
                SELECT 1 FROM public.splitters s WHERE s.tenant_id = NEW.tenant_id
                AND s.parent_splitter_id = splitter AND s.parent_output_port = port AND s.deleted_at IS NULL)) THEN
            RAISE EXCEPTION 'splitter port % is already in use', port
                USING ERRCODE = 'unique_violation', TABLE = TG_TABLE_NAME, COLUMN = port_col,
                      CONSTRAINT = 'uq_' || TG_TABLE_NAME || '__' || port_col;
        END IF;
        RETURN NEW;
    END
    $function$;

CREATE OR REPLACE TRIGGER onus_splitter_port
    BEFORE INSERT OR UPDATE OF splitter_id, splitter_port, deleted_at ON onus
    FOR EACH ROW
    EXECUTE FUNCTION ispops_splitter_port_free();

CREATE OR REPLACE TRIGGER splitters_parent_port
    BEFORE INSERT OR UPDATE OF parent_splitter_id, parent_output_port, deleted_at ON splitters
    FOR EACH ROW
    EXECUTE FUNCTION ispops_splitter_port_free();
