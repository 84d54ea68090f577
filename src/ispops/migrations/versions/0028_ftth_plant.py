"""FTTH plant: splitter tree, cables, strands, splices, connectors, closures (issue 15)

- ``splitters.pon_port_id``: a root splitter is fed from an OLT PON port (one per port); a child from a
  parent splitter's output port (both given or neither); never both. ``splitters_tree`` keeps the tree a
  tree under concurrency and refuses a ratio smaller than the ports in use (``ftth/sql/splitter_tree.sql``).
- ``onus``: a splitter is given with its output port, or neither (``ports_used`` counts ports); an ONU or a
  child splitter given without a port takes the lowest free one (``ftth/sql/splitter_ports.sql``).
- ``fiber_closures``: splice closures, ODFs, cabinets, handholes.
- ``fiber_cables``: endpoints at a device, a splitter or a closure (one per end); ``length_measured``.
- ``fiber_strands``: the fibres of a cable (1..fiber_count).
- ``fiber_links``: which strand carries which hop; a hop is named by what it feeds (a splitter's input:
  ``splitter_id`` alone; an ONU's drop: ``onu_id``, with ``splitter_id`` where it leaves) and its strands are
  ordered from the OLT side (``seq``).
- ``fiber_splices`` (two strands joined, or one to a pigtail, in a closure) and ``fiber_connectors`` (a strand's end mated).

Revision ID: 0028
Revises: 0027
Create Date: 2026-12-07
"""

from __future__ import annotations

from ispops.db.ddl import (
    AUDIT_COLUMNS,
    AUDIT_COLUMNS_NO_DELETE,
    TENANT_COLUMN,
    check,
    create_table,
    geo_index,
    lat_lng_checks,
    live_index,
    one_of,
    run,
    tenant_fk,
    tenant_key,
    tenant_table,
)

revision = "0028"
down_revision = "0027"
branch_labels = None
depends_on = None

CLOSURE_TYPES = ["splice_closure", "odf", "cabinet", "handhole", "manhole", "pedestal"]
PLANT_STATUS = ["active", "inactive", "maintenance"]
STRAND_STATUS = ["available", "in_use", "reserved", "damaged"]
SPLICE_TYPES = ["fusion", "mechanical"]
CONNECTOR_TYPES = ["sc_apc", "sc_upc", "lc_apc", "lc_upc", "fc_apc", "fc_upc", "mpo"]
STRAND_ENDS = ["start", "end"]

OLD_PARENT_PORT = "parent_output_port IS NULL OR parent_output_port >= 1"
NEW_PARENT_PORT = (
    "(parent_splitter_id IS NULL AND parent_output_port IS NULL) "
    "OR (parent_splitter_id IS NOT NULL AND parent_output_port IS NOT NULL AND parent_output_port >= 1)"
)

SPLITTERS = [
    "ALTER TABLE splitters ADD COLUMN pon_port_id uuid",
    "ALTER TABLE splitters ADD " + tenant_fk("splitters", "pon_port_id", "olt_pon_ports"),
    "ALTER TABLE splitters ADD "
    + check("splitters", "pon_port_id", "pon_port_id IS NULL OR parent_splitter_id IS NULL"),
    "ALTER TABLE splitters DROP CONSTRAINT ck_splitters__parent_output_port",
    "ALTER TABLE splitters ADD " + check("splitters", "parent_output_port", NEW_PARENT_PORT),
    "CREATE UNIQUE INDEX uq_splitters__pon_port_id ON splitters (tenant_id, pon_port_id) "
    "WHERE deleted_at IS NULL AND pon_port_id IS NOT NULL",
    "ALTER TABLE onus ADD "
    + check(
        "onus",
        "splitter_id",
        "(splitter_id IS NULL AND splitter_port IS NULL) OR (splitter_id IS NOT NULL AND splitter_port IS NOT NULL)",
    ),
]

# ftth/sql/splitter_ports.sql: a port left out is the lowest free one.
PORT_FREE = [
    """
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
    $function$
""",
]
PORT_FREE_BEFORE = [
    """
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
    $function$
""",
]

SPLITTER_TREE = [
    """
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
    $function$
""",
    """
CREATE OR REPLACE TRIGGER splitters_tree
    BEFORE INSERT OR UPDATE OF parent_splitter_id, split_ratio ON splitters
    FOR EACH ROW
    EXECUTE FUNCTION ispops_splitter_tree()
""",
]

CLOSURES = [
    create_table(
        "fiber_closures",
        [
            "id uuid PRIMARY KEY DEFAULT gen_random_uuid()",
            TENANT_COLUMN,
            "name varchar(100) NOT NULL",
            "closure_type varchar(50) NOT NULL DEFAULT 'splice_closure'",
            "location_name varchar(100)",
            "location_address text",
            "location_lat numeric(10,8)",
            "location_lng numeric(11,8)",
            "capacity_splices integer",
            "status varchar(50) NOT NULL DEFAULT 'active'",
            "notes text",
            AUDIT_COLUMNS,
            tenant_key("fiber_closures"),
            one_of("fiber_closures", "closure_type", CLOSURE_TYPES),
            one_of("fiber_closures", "status", PLANT_STATUS),
            check("fiber_closures", "capacity_splices", "capacity_splices IS NULL OR capacity_splices > 0"),
            *lat_lng_checks("fiber_closures", "location_lat", "location_lng"),
        ],
    ),
    live_index("uq_fiber_closures__tenant_id__name", "fiber_closures", "tenant_id, name", unique=True),
    geo_index("idx_fiber_closures_location", "fiber_closures", "location_lng", "location_lat"),
    *tenant_table("fiber_closures"),
]

CABLE_ENDS = [
    "ALTER TABLE fiber_cables ADD COLUMN start_splitter_id uuid, ADD COLUMN end_splitter_id uuid, "
    "ADD COLUMN start_closure_id uuid, ADD COLUMN end_closure_id uuid, "
    "ADD COLUMN length_measured boolean NOT NULL DEFAULT false",
    *(
        "ALTER TABLE fiber_cables ADD " + tenant_fk("fiber_cables", f"{end}_{kind}_id", target)
        for end in ("start", "end")
        for kind, target in (("splitter", "splitters"), ("closure", "fiber_closures"))
    ),
    *(
        "ALTER TABLE fiber_cables ADD "
        + check(
            "fiber_cables",
            f"{end}_splitter_id",
            f"num_nonnulls({end}_device_id, {end}_splitter_id, {end}_closure_id) <= 1",
        )
        for end in ("start", "end")
    ),
    "CREATE INDEX idx_fiber_cables_start_splitter ON fiber_cables (tenant_id, start_splitter_id)",
    "CREATE INDEX idx_fiber_cables_end_splitter ON fiber_cables (tenant_id, end_splitter_id)",
    "CREATE INDEX idx_fiber_cables_start_closure ON fiber_cables (tenant_id, start_closure_id)",
    "CREATE INDEX idx_fiber_cables_end_closure ON fiber_cables (tenant_id, end_closure_id)",
]

STRANDS = [
    create_table(
        "fiber_strands",
        [
            "id uuid PRIMARY KEY DEFAULT gen_random_uuid()",
            TENANT_COLUMN,
            "cable_id uuid NOT NULL",
            "strand_number integer NOT NULL",
            "tube_number integer",
            "color varchar(20)",
            "status varchar(20) NOT NULL DEFAULT 'available'",
            "notes text",
            AUDIT_COLUMNS_NO_DELETE,
            tenant_key("fiber_strands"),
            tenant_fk("fiber_strands", "cable_id", "fiber_cables", on_delete="CASCADE"),
            "CONSTRAINT uq_fiber_strands__cable_id__strand_number UNIQUE (tenant_id, cable_id, strand_number)",
            one_of("fiber_strands", "status", STRAND_STATUS),
            check("fiber_strands", "strand_number", "strand_number >= 1"),
            check("fiber_strands", "tube_number", "tube_number IS NULL OR tube_number >= 1"),
        ],
    ),
    *tenant_table("fiber_strands"),
]

LINKS = [
    create_table(
        "fiber_links",
        [
            "id uuid PRIMARY KEY DEFAULT gen_random_uuid()",
            TENANT_COLUMN,
            "strand_id uuid NOT NULL",
            "splitter_id uuid",
            "onu_id uuid",
            "seq integer NOT NULL DEFAULT 1",
            "notes text",
            AUDIT_COLUMNS_NO_DELETE,
            tenant_key("fiber_links"),
            tenant_fk("fiber_links", "strand_id", "fiber_strands", on_delete="CASCADE"),
            tenant_fk("fiber_links", "splitter_id", "splitters", on_delete="CASCADE"),
            tenant_fk("fiber_links", "onu_id", "onus", on_delete="CASCADE"),
            "CONSTRAINT uq_fiber_links__strand_id UNIQUE (tenant_id, strand_id)",
            check("fiber_links", "splitter_id", "num_nonnulls(splitter_id, onu_id) >= 1"),
            check("fiber_links", "seq", "seq >= 1"),
        ],
    ),
    "CREATE UNIQUE INDEX uq_fiber_links__splitter_id__seq ON fiber_links (tenant_id, splitter_id, seq) "
    "WHERE onu_id IS NULL",
    "CREATE UNIQUE INDEX uq_fiber_links__onu_id__seq ON fiber_links (tenant_id, onu_id, seq) WHERE onu_id IS NOT NULL",
    *tenant_table("fiber_links"),
]

SPLICES = [
    create_table(
        "fiber_splices",
        [
            "id uuid PRIMARY KEY DEFAULT gen_random_uuid()",
            TENANT_COLUMN,
            "closure_id uuid",
            "strand_a_id uuid NOT NULL",
            "strand_b_id uuid",
            "splice_type varchar(20) NOT NULL DEFAULT 'fusion'",
            "loss_db numeric(5,2)",
            "notes text",
            AUDIT_COLUMNS_NO_DELETE,
            tenant_key("fiber_splices"),
            tenant_fk("fiber_splices", "closure_id", "fiber_closures"),
            tenant_fk("fiber_splices", "strand_a_id", "fiber_strands", on_delete="CASCADE"),
            tenant_fk("fiber_splices", "strand_b_id", "fiber_strands", on_delete="CASCADE"),
            one_of("fiber_splices", "splice_type", SPLICE_TYPES),
            check("fiber_splices", "strand_b_id", "strand_b_id IS NULL OR strand_b_id <> strand_a_id"),
            check("fiber_splices", "loss_db", "loss_db IS NULL OR loss_db BETWEEN 0 AND 10"),
        ],
    ),
    "CREATE UNIQUE INDEX uq_fiber_splices__strand_a_id__strand_b_id ON fiber_splices "
    "(tenant_id, least(strand_a_id, strand_b_id), greatest(strand_a_id, strand_b_id)) WHERE strand_b_id IS NOT NULL",
    "CREATE INDEX idx_fiber_splices_strand_a ON fiber_splices (tenant_id, strand_a_id)",
    "CREATE INDEX idx_fiber_splices_strand_b ON fiber_splices (tenant_id, strand_b_id)",
    "CREATE INDEX idx_fiber_splices_closure ON fiber_splices (tenant_id, closure_id)",
    *tenant_table("fiber_splices"),
]

CONNECTORS = [
    create_table(
        "fiber_connectors",
        [
            "id uuid PRIMARY KEY DEFAULT gen_random_uuid()",
            TENANT_COLUMN,
            "strand_id uuid NOT NULL",
            "strand_end varchar(10) NOT NULL",
            "connector_type varchar(20) NOT NULL DEFAULT 'sc_apc'",
            "loss_db numeric(5,2)",
            "splitter_id uuid",
            "closure_id uuid",
            "device_id uuid",
            "notes text",
            AUDIT_COLUMNS_NO_DELETE,
            tenant_key("fiber_connectors"),
            tenant_fk("fiber_connectors", "strand_id", "fiber_strands", on_delete="CASCADE"),
            tenant_fk("fiber_connectors", "splitter_id", "splitters"),
            tenant_fk("fiber_connectors", "closure_id", "fiber_closures"),
            tenant_fk("fiber_connectors", "device_id", "devices"),
            "CONSTRAINT uq_fiber_connectors__strand_id__strand_end UNIQUE (tenant_id, strand_id, strand_end)",
            one_of("fiber_connectors", "strand_end", STRAND_ENDS),
            one_of("fiber_connectors", "connector_type", CONNECTOR_TYPES),
            check("fiber_connectors", "loss_db", "loss_db IS NULL OR loss_db BETWEEN 0 AND 10"),
        ],
    ),
    *tenant_table("fiber_connectors"),
]

UPGRADE = [*PORT_FREE, *SPLITTERS, *SPLITTER_TREE, *CLOSURES, *CABLE_ENDS, *STRANDS, *LINKS, *SPLICES, *CONNECTORS]

DOWNGRADE = [
    "DROP TABLE fiber_connectors",
    "DROP TABLE fiber_splices",
    "DROP TABLE fiber_links",
    "DROP TABLE fiber_strands",
    "ALTER TABLE fiber_cables DROP COLUMN start_splitter_id, DROP COLUMN end_splitter_id, "
    "DROP COLUMN start_closure_id, DROP COLUMN end_closure_id, DROP COLUMN length_measured",
    "DROP TABLE fiber_closures",
    "DROP TRIGGER splitters_tree ON splitters",
    "DROP FUNCTION ispops_splitter_tree()",
    "ALTER TABLE onus DROP CONSTRAINT ck_onus__splitter_id",
    "ALTER TABLE splitters DROP CONSTRAINT ck_splitters__parent_output_port",
    "ALTER TABLE splitters ADD " + check("splitters", "parent_output_port", OLD_PARENT_PORT),
    "ALTER TABLE splitters DROP COLUMN pon_port_id",
    *PORT_FREE_BEFORE,
]


def upgrade() -> None:
    run(UPGRADE)


def downgrade() -> None:
    run(DOWNGRADE)
