-- The splitter tree stays a tree, and a splitter never shrinks below the ports in use.
-- Canonical text: edit here, then `ispops db revision "..."` (docs/architecture.md).
--
-- Two concurrent moves (A under B, B under A) would each miss the other's loop if they only looked: a
-- move takes the tenant's tree lock (a transaction advisory lock) first, and the walk up from the new
-- parent then runs on a snapshot that sees every move committed before it (READ COMMITTED: a new
-- snapshot per statement). Refusals are ISCFL: a 409 naming the column (ispops.errors).

CREATE OR REPLACE FUNCTION public.ispops_splitter_tree()
 RETURNS trigger
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'public'
AS $function$
    DECLARE
        outputs integer;
    BEGIN
        IF NEW.parent_splitter_id IS NOT NULL
           AND (TG_OP = 'INSERT' OR NEW.parent_splitter_id IS DISTINCT FROM OLD.parent_splitter_id) THEN
            PERFORM pg_advisory_xact_lock(hashtext('ispops_splitter_tree'), hashtext(NEW.tenant_id));
            IF EXISTS (
                WITH RECURSIVE up(id) AS (
                    SELECT NEW.parent_splitter_id
                    UNION
                    SELECT s.parent_splitter_id FROM public.splitters s JOIN up ON s.id = up.id
                    WHERE s.tenant_id = NEW.tenant_id AND s.parent_splitter_id IS NOT NULL
                )
                SELECT 1 FROM up WHERE up.id = NEW.id
            ) THEN
                RAISE EXCEPTION 'splitters: % cannot hang off its own descendant', NEW.name
                    USING ERRCODE = 'ISCFL', TABLE = 'splitters', COLUMN = 'parent_splitter_id';
            END IF;
        END IF;
        IF TG_OP = 'UPDATE' AND NEW.split_ratio IS DISTINCT FROM OLD.split_ratio THEN
            outputs := split_part(NEW.split_ratio, 'x', 2)::integer;
            IF EXISTS (SELECT 1 FROM public.onus o WHERE o.tenant_id = NEW.tenant_id AND o.splitter_id = NEW.id
                       AND o.deleted_at IS NULL AND o.splitter_port > outputs)
               OR EXISTS (SELECT 1 FROM public.splitters c WHERE c.tenant_id = NEW.tenant_id
                       AND c.parent_splitter_id = NEW.id AND c.deleted_at IS NULL AND c.parent_output_port > outputs) THEN
                RAISE EXCEPTION 'splitters: % has ports in use beyond output %', NEW.name, outputs
                    USING ERRCODE = 'ISCFL', TABLE = 'splitters', COLUMN = 'split_ratio';
            END IF;
        END IF;
        RETURN NEW;
    END
    $function$;

CREATE OR REPLACE TRIGGER splitters_tree
    BEFORE INSERT OR UPDATE OF parent_splitter_id, split_ratio ON splitters
    FOR EACH ROW
    EXECUTE FUNCTION ispops_splitter_tree();
