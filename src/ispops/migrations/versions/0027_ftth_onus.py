"""FTTH, ONUs: OLT technology and optical class, PON ports, the ONU lifecycle and its ids (issue 15)

- ``olts.olt_type`` becomes ``olts.technology`` (NOT NULL, default ``gpon``); ``olts.optical_class`` (B+/C+
  for GPON, N1/N2/E1 for XGS-PON, PX20 for EPON, PR30 for 10G-EPON; NULL: the technology's default class).
- ``olt_pon_ports``: an OLT's PON ports as operators write them, ``frame/slot/port`` (``name``, generated),
  each with its number of ONU ids (``max_onus``: the technology's, per tenant, when not given) and a status;
  ``olts.active_pon_ports`` counts the active ones (a counter, as ``active_onus``).
- ``onus.pon_port_id`` (NOT NULL): the ONU's port. ``onus.pon_port`` stays, derived from it (the port's number);
  a row written with only ``pon_port`` gets the OLT's port ``0/0/<pon_port>`` (trigger ``onus_pon_port``).
  Existing ONUs move to those ports.
- ONU ids: ``onu_id`` is NULL until the ONU is authorised (discovered ONUs have none). One live ONU per
  (PON port, onu_id): ``uq_onus__pon_port_id__onu_id`` replaces ``uq_onus__olt_id__pon_port__onu_id``, which
  could not tell 0/1/3 from 0/2/3. The trigger refuses an id beyond the port's ``max_onus``.
- ONU lifecycle (``onus.status``): discovered, authorising, authorised, online, offline, auth_failed,
  deauthorising, retired (was: discovered, provisioned, active, offline, failed; provisioned becomes
  authorised, active online, failed auth_failed). ``last_down_cause`` (los, losi, lofi, dying_gasp,
  deactivated, unknown), ``last_down_at``, ``status_changed_at``, and what authorising sets: ``auth_method``
  (serial, loid), ``loid``, ``onu_type``, ``mode`` (routing, bridging), ``service_port``, ``line_profile``,
  ``speed_profile``, ``zone``, ``authorised_at``. ``olts.active_onus`` counts ``online`` ONUs (was ``active``).
- ``ftth_settings``: one row per tenant, three JSON sections (``classes``, ``alarms``, ``loss``).

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-07
"""

from __future__ import annotations

from ispops.db.ddl import (
    AUDIT_COLUMNS_NO_DELETE,
    TENANT_COLUMN,
    check,
    counter,
    create_table,
    each_tenant,
    one_of,
    run,
    tenant_fk,
    tenant_key,
    tenant_table,
)

revision = "0027"
down_revision = "0026"
branch_labels = None
depends_on = None

CLASSES = ["b_plus", "c_plus", "n1", "n2", "e1", "px20", "pr30"]
OLD_STATUSES = ["discovered", "provisioned", "active", "offline", "failed"]
STATUSES = [
    "discovered",
    "authorising",
    "authorised",
    "online",
    "offline",
    "auth_failed",
    "deauthorising",
    "retired",
]
DOWN_CAUSES = ["los", "losi", "lofi", "dying_gasp", "deactivated", "unknown"]

# The canonical texts (src/ispops/ftth/sql/onu_ports.sql) as they were at this revision.
FUNCTIONS = [
    r"""
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
$function$
""",
    r"""
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
    $function$
""",
    r"""
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
    $function$
""",
    r"""
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
    $function$
""",
]

TRIGGERS = [
    "CREATE TRIGGER olt_pon_ports_defaults BEFORE INSERT OR UPDATE OF max_onus ON olt_pon_ports "
    "FOR EACH ROW EXECUTE FUNCTION ispops_olt_pon_port_defaults()",
    "CREATE TRIGGER onus_pon_port BEFORE INSERT OR UPDATE OF olt_id, pon_port, pon_port_id, onu_id ON onus "
    "FOR EACH ROW EXECUTE FUNCTION ispops_onu_pon_port()",
]

SETTINGS = [
    create_table(
        "ftth_settings",
        [
            "tenant_id varchar(255) PRIMARY KEY REFERENCES tenants(id) ON DELETE RESTRICT",
            "classes jsonb NOT NULL DEFAULT '{}'",
            "alarms jsonb NOT NULL DEFAULT '{}'",
            "loss jsonb NOT NULL DEFAULT '{}'",
            AUDIT_COLUMNS_NO_DELETE,
            check("ftth_settings", "classes", "jsonb_typeof(classes) = 'object'"),
            check("ftth_settings", "alarms", "jsonb_typeof(alarms) = 'object'"),
            check("ftth_settings", "loss", "jsonb_typeof(loss) = 'object'"),
        ],
    ),
    *tenant_table("ftth_settings"),
]

OLTS = [
    "ALTER TABLE olts RENAME COLUMN olt_type TO technology",
    "ALTER TABLE olts RENAME CONSTRAINT ck_olts__olt_type TO ck_olts__technology",
    each_tenant("    UPDATE olts SET technology = 'gpon' WHERE technology IS NULL;"),
    "ALTER TABLE olts ALTER COLUMN technology SET DEFAULT 'gpon', ALTER COLUMN technology SET NOT NULL",
    "ALTER TABLE olts ADD COLUMN optical_class varchar(20), ADD " + one_of("olts", "optical_class", CLASSES),
]

PON_PORTS = [
    create_table(
        "olt_pon_ports",
        [
            "id uuid PRIMARY KEY DEFAULT gen_random_uuid()",
            TENANT_COLUMN,
            "olt_id uuid NOT NULL",
            "frame integer NOT NULL DEFAULT 0",
            "slot integer NOT NULL DEFAULT 0",
            "port integer NOT NULL",
            "name varchar(20) GENERATED ALWAYS AS ((frame || '/' || slot || '/' || port)) STORED",
            "max_onus integer NOT NULL",
            "status varchar(20) NOT NULL DEFAULT 'active'",
            "description varchar(255)",
            AUDIT_COLUMNS_NO_DELETE,
            tenant_key("olt_pon_ports"),
            tenant_fk("olt_pon_ports", "olt_id", "olts", on_delete="CASCADE"),
            check("olt_pon_ports", "frame", "frame BETWEEN 0 AND 255"),
            check("olt_pon_ports", "slot", "slot BETWEEN 0 AND 255"),
            check("olt_pon_ports", "port", "port BETWEEN 0 AND 255"),
            check("olt_pon_ports", "max_onus", "max_onus BETWEEN 1 AND 1024"),
            one_of("olt_pon_ports", "status", ["active", "disabled"]),
            "CONSTRAINT uq_olt_pon_ports__tenant_id__olt_id__frame__slot__port UNIQUE (tenant_id, olt_id, frame, slot, port)",
        ],
    ),
    *tenant_table("olt_pon_ports"),
    counter("olt_pon_ports", "olts", "olt_id", "active_pon_ports", "status = 'active'"),
]

ONUS = [
    # The counter follows the new status names: drop it while the statuses change, so the count stays.
    "DROP TRIGGER onus_count_active_onus ON onus",
    "ALTER TABLE onus DROP CONSTRAINT ck_onus__status",
    each_tenant(
        """
    UPDATE onus SET status = CASE status WHEN 'provisioned' THEN 'authorised' WHEN 'active' THEN 'online'
                                         WHEN 'failed' THEN 'auth_failed' ELSE status END
     WHERE status IN ('provisioned', 'active', 'failed');"""
    ),
    "ALTER TABLE onus ADD " + one_of("onus", "status", STATUSES),
    counter("onus", "olts", "olt_id", "active_onus", "deleted_at IS NULL AND status = 'online'"),
    "ALTER TABLE onus "
    "ADD COLUMN pon_port_id uuid, "
    "ADD COLUMN last_down_cause varchar(20), "
    "ADD COLUMN last_down_at timestamptz, "
    "ADD COLUMN status_changed_at timestamptz, "
    "ADD COLUMN auth_method varchar(20), "
    "ADD COLUMN loid varchar(64), "
    "ADD COLUMN onu_type varchar(100), "
    "ADD COLUMN mode varchar(20), "
    "ADD COLUMN service_port integer, "
    "ADD COLUMN line_profile varchar(100), "
    "ADD COLUMN speed_profile varchar(100), "
    "ADD COLUMN zone varchar(100), "
    "ADD COLUMN authorised_at timestamptz, "
    "ADD " + tenant_fk("onus", "pon_port_id", "olt_pon_ports", on_delete="NO ACTION") + ", "
    "ADD " + one_of("onus", "last_down_cause", DOWN_CAUSES) + ", "
    "ADD " + one_of("onus", "auth_method", ["serial", "loid"]) + ", "
    "ADD " + one_of("onus", "mode", ["routing", "bridging"]) + ", "
    "ADD " + check("onus", "service_port", "service_port IS NULL OR service_port >= 0") + ", "
    "ADD " + check("onus", "loid", "loid IS NULL OR length(loid) BETWEEN 1 AND 64"),
    # More PON ports than the OLT said it has: say it has as many as it uses.
    each_tenant(
        """
    UPDATE olts o SET max_pon_ports = u.n
      FROM (SELECT olt_id, count(DISTINCT pon_port)::integer AS n FROM onus GROUP BY olt_id) u
     WHERE o.id = u.olt_id AND o.max_pon_ports < u.n;
    UPDATE olts SET active_pon_ports = 0 WHERE active_pon_ports <> 0;"""
    ),
    *FUNCTIONS,
    *TRIGGERS,
    # Existing ONUs: their port numbers become ports 0/0/<n> of their OLTs (the trigger creates them).
    each_tenant(
        "    UPDATE onus SET pon_port_id = ispops_olt_pon_port_for(tenant_id, olt_id, 0, 0, pon_port) "
        "WHERE pon_port_id IS NULL;"
    ),
    "ALTER TABLE onus ALTER COLUMN pon_port_id SET NOT NULL, ALTER COLUMN pon_port DROP NOT NULL, "
    "ALTER COLUMN onu_id DROP NOT NULL",
    "DROP INDEX uq_onus__olt_id__pon_port__onu_id",
    "CREATE UNIQUE INDEX uq_onus__pon_port_id__onu_id ON onus (tenant_id, pon_port_id, onu_id) "
    "WHERE deleted_at IS NULL AND onu_id IS NOT NULL",
    "CREATE INDEX idx_olt_pon_ports_olt ON olt_pon_ports (tenant_id, olt_id)",
    "CREATE INDEX idx_onus_pon_port ON onus (tenant_id, pon_port_id, status)",
]


def upgrade() -> None:
    run(SETTINGS + OLTS + PON_PORTS + ONUS)


def downgrade() -> None:
    run(
        [
            "DROP TRIGGER onus_pon_port ON onus",
            "DROP TRIGGER onus_count_active_onus ON onus",
            "DROP INDEX idx_onus_pon_port",
            "DROP INDEX uq_onus__pon_port_id__onu_id",
            "ALTER TABLE onus DROP CONSTRAINT ck_onus__status",
            # Rows the older schema cannot hold: ONUs without an id are taken out of the live set.
            each_tenant(
                """
    UPDATE onus SET deleted_at = COALESCE(deleted_at, now()), onu_id = 0 WHERE onu_id IS NULL;
    UPDATE onus SET status = CASE status WHEN 'authorising' THEN 'provisioned' WHEN 'authorised' THEN 'provisioned'
                                         WHEN 'deauthorising' THEN 'provisioned' WHEN 'online' THEN 'active'
                                         WHEN 'auth_failed' THEN 'failed' WHEN 'retired' THEN 'offline'
                                         ELSE status END
     WHERE status NOT IN ('discovered', 'offline');"""
            ),
            "ALTER TABLE onus ADD " + one_of("onus", "status", OLD_STATUSES),
            counter("onus", "olts", "olt_id", "active_onus", "deleted_at IS NULL AND status = 'active'"),
            "ALTER TABLE onus ALTER COLUMN pon_port SET NOT NULL, ALTER COLUMN onu_id SET NOT NULL",
            "CREATE UNIQUE INDEX uq_onus__olt_id__pon_port__onu_id ON onus (tenant_id, olt_id, pon_port, onu_id) "
            "WHERE deleted_at IS NULL",
            "ALTER TABLE onus "
            + ", ".join(
                f"DROP COLUMN {c}"
                for c in (
                    "pon_port_id",
                    "last_down_cause",
                    "last_down_at",
                    "status_changed_at",
                    "auth_method",
                    "loid",
                    "onu_type",
                    "mode",
                    "service_port",
                    "line_profile",
                    "speed_profile",
                    "zone",
                    "authorised_at",
                )
            ),
            "DROP TABLE olt_pon_ports",
            "DROP FUNCTION ispops_onu_pon_port()",
            "DROP FUNCTION ispops_olt_pon_port_for(text, uuid, integer, integer, integer)",
            "DROP FUNCTION ispops_olt_pon_port_defaults()",
            "DROP FUNCTION ispops_ftth_onu_ids_per_port(text, text)",
            "ALTER TABLE olts DROP COLUMN optical_class",
            "ALTER TABLE olts ALTER COLUMN technology DROP NOT NULL, ALTER COLUMN technology DROP DEFAULT",
            "ALTER TABLE olts RENAME CONSTRAINT ck_olts__technology TO ck_olts__olt_type",
            "ALTER TABLE olts RENAME COLUMN technology TO olt_type",
            "DROP TABLE ftth_settings",
        ]
    )
