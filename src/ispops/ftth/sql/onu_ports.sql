-- PON ports: an ONU always sits on one PON port (olt_pon_ports, addressed frame/slot/port) of its own OLT.
-- Canonical text: edit here, then `ispops db revision "..."` (docs/architecture.md).

-- How many ONU ids a PON port of this technology has (ids 0 .. n-1): the tenant's setting
-- (ftth_settings.classes -> technologies -> <technology> -> onu_ids_per_port) or the technology's default.
-- ispops.ftth.settings.TECHNOLOGY_DEFAULTS says the same; tests/ftth/test_settings.py compares the two.
CREATE OR REPLACE FUNCTION public.ispops_ftth_onu_ids_per_port(p_tenant text, p_technology text)
 RETURNS integer
 LANGUAGE sql
 STABLE
 SET search_path TO 'pg_catalog', 'public'
AS $function$
    SELECT COALESCE(
        (SELECT (s.classes -> 'technologies' -> p_technology ->> 'onu_ids_per_port')::integer
           FROM public.ftth_settings s WHERE s.tenant_id = p_tenant),
        CASE p_technology WHEN 'gpon' THEN 128 WHEN 'xgspon' THEN 256 WHEN 'epon' THEN 64 WHEN 'xgepon' THEN 256 END)
$function$;

-- A new PON port without max_onus gets its technology's number of ONU ids; max_onus never drops below an
-- id in use.
CREATE OR REPLACE FUNCTION public.ispops_olt_pon_port_defaults()
 RETURNS trigger
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'public'
AS $function$
    DECLARE
        tech text;
        highest integer;
    BEGIN
        IF NEW.max_onus IS NULL THEN
            SELECT o.technology INTO tech FROM public.olts o WHERE o.tenant_id = NEW.tenant_id AND o.id = NEW.olt_id;
            NEW.max_onus := public.ispops_ftth_onu_ids_per_port(NEW.tenant_id, COALESCE(tech, 'gpon'));
        END IF;
        IF TG_OP = 'UPDATE' THEN
            SELECT max(o.onu_id) INTO highest FROM public.onus o
                WHERE o.tenant_id = NEW.tenant_id AND o.pon_port_id = NEW.id AND o.deleted_at IS NULL;
            IF highest >= NEW.max_onus THEN
                RAISE EXCEPTION 'olt_pon_ports: ONU id % is in use on PON port %, so max_onus must be above it',
                    highest, NEW.frame || '/' || NEW.slot || '/' || NEW.port
                    USING ERRCODE = 'ISCFL', TABLE = 'olt_pon_ports', COLUMN = 'max_onus';
            END IF;
        END IF;
        RETURN NEW;
    END
    $function$;

-- The PON port frame/slot/port of an OLT, created when it is not recorded yet.
CREATE OR REPLACE FUNCTION public.ispops_olt_pon_port_for(p_tenant text, p_olt uuid, p_frame integer, p_slot integer, p_port integer)
 RETURNS uuid
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'public'
AS $function$
    DECLARE
        found uuid;
    BEGIN
        SELECT p.id INTO found FROM public.olt_pon_ports p
            WHERE p.tenant_id = p_tenant AND p.olt_id = p_olt AND p.frame = p_frame AND p.slot = p_slot
              AND p.port = p_port;
        IF found IS NULL THEN
            INSERT INTO public.olt_pon_ports (tenant_id, olt_id, frame, slot, port)
                VALUES (p_tenant, p_olt, p_frame, p_slot, p_port)
                ON CONFLICT (tenant_id, olt_id, frame, slot, port) DO NOTHING
                RETURNING id INTO found;
        END IF;
        IF found IS NULL THEN  -- created by a concurrent transaction that has committed since
            SELECT p.id INTO found FROM public.olt_pon_ports p
                WHERE p.tenant_id = p_tenant AND p.olt_id = p_olt AND p.frame = p_frame AND p.slot = p_slot
                  AND p.port = p_port;
        END IF;
        RETURN found;
    END
    $function$;

-- onus.pon_port_id is the ONU's port. A row written the older way, with only the port number
-- (onus.pon_port), gets the OLT's port 0/0/<pon_port>; an ONU moved to another OLT by its olt_id alone keeps
-- its frame/slot/port there. onus.pon_port is then the port's number (derived, kept for older clients).
-- The port must be on the ONU's OLT, and onu_id one of the port's ids (0 .. max_onus - 1).
CREATE OR REPLACE FUNCTION public.ispops_onu_pon_port()
 RETURNS trigger
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'public'
AS $function$
    DECLARE
        old_port record;
        p record;
    BEGIN
        IF TG_OP = 'UPDATE' AND NEW.pon_port_id IS NOT DISTINCT FROM OLD.pon_port_id THEN
            IF NEW.olt_id IS DISTINCT FROM OLD.olt_id OR NEW.pon_port IS DISTINCT FROM OLD.pon_port THEN
                SELECT x.frame, x.slot, x.port INTO old_port FROM public.olt_pon_ports x
                    WHERE x.tenant_id = OLD.tenant_id AND x.id = OLD.pon_port_id;
                NEW.pon_port_id := public.ispops_olt_pon_port_for(NEW.tenant_id, NEW.olt_id,
                    COALESCE(old_port.frame, 0), COALESCE(old_port.slot, 0), COALESCE(NEW.pon_port, old_port.port));
            END IF;
        ELSIF NEW.pon_port_id IS NULL AND NEW.pon_port IS NOT NULL AND NEW.olt_id IS NOT NULL THEN
            NEW.pon_port_id := public.ispops_olt_pon_port_for(NEW.tenant_id, NEW.olt_id, 0, 0, NEW.pon_port);
        END IF;
        IF NEW.pon_port_id IS NULL THEN
            RETURN NEW;  -- the row policy, then NOT NULL, say what is wrong
        END IF;
        SELECT x.olt_id, x.port, x.max_onus, x.name INTO p FROM public.olt_pon_ports x
            WHERE x.tenant_id = NEW.tenant_id AND x.id = NEW.pon_port_id;
        IF p.olt_id IS NULL THEN
            RETURN NEW;  -- no such port in this tenant: the foreign key says so
        END IF;
        IF p.olt_id IS DISTINCT FROM NEW.olt_id THEN
            RAISE EXCEPTION 'PON port % is on another OLT than olt_id', p.name
                USING ERRCODE = 'check_violation', TABLE = 'onus', COLUMN = 'pon_port_id',
                      CONSTRAINT = 'ck_onus__pon_port_id';
        END IF;
        NEW.pon_port := p.port;
        IF NEW.onu_id IS NOT NULL AND NEW.onu_id >= p.max_onus THEN
            RAISE EXCEPTION 'onus: onu_id % is not an id of PON port % (0 to %)', NEW.onu_id, p.name, p.max_onus - 1
                USING ERRCODE = 'ISCFL', TABLE = 'onus', COLUMN = 'onu_id';
        END IF;
        RETURN NEW;
    END
    $function$;

CREATE OR REPLACE TRIGGER olt_pon_ports_defaults
    BEFORE INSERT OR UPDATE OF max_onus ON olt_pon_ports
    FOR EACH ROW
    EXECUTE FUNCTION ispops_olt_pon_port_defaults();

CREATE OR REPLACE TRIGGER onus_pon_port
    BEFORE INSERT OR UPDATE OF olt_id, pon_port, pon_port_id, onu_id ON onus
    FOR EACH ROW
    EXECUTE FUNCTION ispops_onu_pon_port();
