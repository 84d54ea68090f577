-- A splitter output port holds one thing: an ONU or a child splitter, never two, and exists (<= output_ports).
-- Given without a port, an ONU or child splitter takes the lowest free one (409 when none is free).
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
        splitter_name text;
    BEGIN
        IF TG_TABLE_NAME = 'onus' THEN
            splitter := NEW.splitter_id; port := NEW.splitter_port; port_col := 'splitter_port';
        ELSE
            splitter := NEW.parent_splitter_id; port := NEW.parent_output_port; port_col := 'parent_output_port';
        END IF;
        IF splitter IS NULL OR NEW.deleted_at IS NOT NULL THEN
            RETURN NEW;
        END IF;
        -- Locked: two claims on one splitter's ports are decided one after the other.
        SELECT output_ports, name INTO ports, splitter_name FROM public.splitters
            WHERE tenant_id = NEW.tenant_id AND id = splitter FOR UPDATE;
        -- Not a splitter of this tenant: what its foreign key would say, naming the column (a row written
        -- for another tenant is left to the row-level security policy, which refuses it).
        IF NOT FOUND AND NEW.tenant_id = current_setting('app.current_tenant_id', true) THEN
            RAISE EXCEPTION '%: the splitter does not exist', TG_TABLE_NAME
                USING ERRCODE = 'foreign_key_violation', TABLE = TG_TABLE_NAME,
                      CONSTRAINT = 'fk_' || TG_TABLE_NAME || '__'
                                   || CASE WHEN TG_TABLE_NAME = 'onus' THEN 'splitter_id' ELSE 'parent_splitter_id' END;
        END IF;
        IF port IS NULL AND ports IS NOT NULL THEN
            SELECT min(p) INTO port FROM generate_series(1, ports) AS p
             WHERE NOT EXISTS (SELECT 1 FROM public.onus o WHERE o.tenant_id = NEW.tenant_id
                               AND o.splitter_id = splitter AND o.splitter_port = p AND o.deleted_at IS NULL
                               AND o.id <> NEW.id)
               AND NOT EXISTS (SELECT 1 FROM public.splitters s WHERE s.tenant_id = NEW.tenant_id
                               AND s.parent_splitter_id = splitter AND s.parent_output_port = p
                               AND s.deleted_at IS NULL AND s.id <> NEW.id);
            IF port IS NULL THEN
                RAISE EXCEPTION '%: splitter % has no free output port (all % in use)', TG_TABLE_NAME, splitter_name, ports
                    USING ERRCODE = 'ISCFL', TABLE = TG_TABLE_NAME, COLUMN = port_col;
            END IF;
            IF TG_TABLE_NAME = 'onus' THEN
                NEW.splitter_port := port;
            ELSE
                NEW.parent_output_port := port;
            END IF;
            RETURN NEW;
        END IF;
        IF port IS NULL THEN
            RETURN NEW;
        END IF;
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
