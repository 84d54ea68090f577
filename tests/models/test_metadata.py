"""The ORM metadata against the migrations, without a database.

Two sources are read: the migration files as text, and the SQL their modules build (the ``CREATE TABLE``
statements), which is how enumerations generated in Python (``RATIOS``) are checked too.
"""

from __future__ import annotations

import importlib
import json
import re
from enum import StrEnum
from functools import cache
from pathlib import Path

import pytest
from sqlalchemy import String, UniqueConstraint

import ispops.models
from ispops.db import schema_check
from ispops.models import Base, automation, ftth, identity, network, radius, subscribers, tenancy, wireless
from ispops.models.enums import COLUMN_ENUMS

VERSIONS = Path(ispops.models.__file__).resolve().parents[1] / "migrations" / "versions"

MIGRATION_TABLES = {
    "tenants",
    "users",
    "customers",
    "radcheck",
    "radreply",
    "radacct",
    "radpostauth",
    "nas",
    "bandwidth_profiles",
    "subscribers",
    "ip_pools",
    "ip_allocations",
    "ip_pool_free",
    "devices",
    "device_interfaces",
    "vpn_tunnels",
    "olts",
    "onus",
    "splitters",
    "fiber_cables",
    "wireless_towers",
    "wireless_sectors",
    "wireless_subscribers",
    "service_activations",
    "ansible_jobs",
    "audit_events",
    "refresh_tokens",
    "login_failures",
    "platform_operators",
    "operator_refresh_tokens",
    "platform_audit_events",
    "ip_login_failures",
    "radius_coa_attempts",
    "subscriber_usage_daily",
    "radius_coa_queue",
}
GLOBAL_TABLES = set(schema_check.GLOBAL_TABLES)

# Each enumeration and the CHECK (column IN (...)) it mirrors: (migration file, table, column).
ENUMS: dict[type[StrEnum], tuple[str, str, str]] = {
    tenancy.TenantStatus: ("0001_core.py", "tenants", "status"),
    tenancy.PlanType: ("0001_core.py", "tenants", "plan_type"),
    tenancy.BillingCycle: ("0001_core.py", "tenants", "billing_cycle"),
    tenancy.CustomerStatus: ("0001_core.py", "customers", "status"),
    subscribers.ServiceType: ("0001_core.py", "subscribers", "service_type"),
    subscribers.ConnectionType: ("0001_core.py", "subscribers", "connection_type"),
    subscribers.SubscriberStatus: ("0001_core.py", "subscribers", "status"),
    subscribers.InstallationStatus: ("0001_core.py", "subscribers", "installation_status"),
    radius.NasType: ("0002_radius.py", "nas", "type"),
    radius.NasRequireMa: ("0002_radius.py", "nas", "require_ma"),
    radius.RadiusOperator: ("0002_radius.py", "radcheck", "op"),
    network.IpPoolType: ("0004_network.py", "ip_pools", "pool_type"),
    network.IpAllocationStatus: ("0004_network.py", "ip_allocations", "status"),
    network.DeviceType: ("0004_network.py", "devices", "device_type"),
    network.DeviceStatus: ("0004_network.py", "devices", "status"),
    network.DeviceOperationalStatus: ("0004_network.py", "devices", "operational_status"),
    network.SnmpVersion: ("0004_network.py", "devices", "snmp_version"),
    network.InterfaceAdminStatus: ("0011_devices.py", "device_interfaces", "admin_status"),
    network.InterfaceOperStatus: ("0011_devices.py", "device_interfaces", "oper_status"),
    network.VpnTunnelType: ("0004_network.py", "vpn_tunnels", "tunnel_type"),
    network.VpnTunnelStatus: ("0004_network.py", "vpn_tunnels", "status"),
    ftth.OltType: ("0005_ftth.py", "olts", "olt_type"),
    ftth.OltManagementProtocol: ("0005_ftth.py", "olts", "management_protocol"),
    ftth.SplitRatio: ("0005_ftth.py", "splitters", "split_ratio"),
    ftth.SplitterType: ("0005_ftth.py", "splitters", "splitter_type"),
    ftth.SplitterInstallationType: ("0005_ftth.py", "splitters", "installation_type"),
    ftth.SplitterStatus: ("0005_ftth.py", "splitters", "status"),
    ftth.OnuStatus: ("0005_ftth.py", "onus", "status"),
    ftth.OnuAdminStatus: ("0005_ftth.py", "onus", "admin_status"),
    ftth.OnuOperationalStatus: ("0005_ftth.py", "onus", "operational_status"),
    ftth.FiberCableType: ("0005_ftth.py", "fiber_cables", "cable_type"),
    ftth.FiberInstallationMethod: ("0005_ftth.py", "fiber_cables", "installation_method"),
    ftth.FiberCableStatus: ("0005_ftth.py", "fiber_cables", "status"),
    wireless.TowerType: ("0006_wireless.py", "wireless_towers", "tower_type"),
    wireless.TowerPowerType: ("0006_wireless.py", "wireless_towers", "power_type"),
    wireless.TowerStatus: ("0006_wireless.py", "wireless_towers", "status"),
    wireless.SectorStatus: ("0006_wireless.py", "wireless_sectors", "status"),
    wireless.SectorOperationalStatus: ("0006_wireless.py", "wireless_sectors", "operational_status"),
    wireless.WirelessSubscriberStatus: ("0006_wireless.py", "wireless_subscribers", "status"),
    automation.ActivationType: ("0007_automation.py", "service_activations", "activation_type"),
    automation.WorkflowStatus: ("0007_automation.py", "service_activations", "workflow_status"),
    automation.AnsibleJobType: ("0007_automation.py", "ansible_jobs", "job_type"),
    automation.AnsibleJobStatus: ("0007_automation.py", "ansible_jobs", "status"),
    automation.AnsibleTriggerSource: ("0007_automation.py", "ansible_jobs", "trigger_source"),
    identity.ActorKind: ("0008_identity_audit.py", "audit_events", "actor_kind"),
    identity.AuditAction: ("0008_identity_audit.py", "audit_events", "action"),
    identity.RevokedReason: ("0008_identity_audit.py", "refresh_tokens", "revoked_reason"),
    tenancy.RadiusPasswordType: ("0009_radius_aaa.py", "tenants", "radius_password_type"),
    tenancy.RadiusSuspendedAction: ("0009_radius_aaa.py", "tenants", "radius_suspended_action"),
    subscribers.CapAction: ("0009_radius_aaa.py", "bandwidth_profiles", "cap_action"),
    radius.CoaKind: ("0009_radius_aaa.py", "radius_coa_attempts", "kind"),
    radius.CoaReason: ("0009_radius_aaa.py", "radius_coa_attempts", "reason"),
    radius.CoaResult: ("0009_radius_aaa.py", "radius_coa_attempts", "result"),
    radius.RadacctClosedBy: ("0025_radius_stale_sessions.py", "radacct", "closed_by"),
}
# radreply shares radcheck's operator list (one helper builds both tables).
SHARED_CHECKS = {("radreply", "op"): ("radcheck", "op")}
# The CoA queue takes the CoA log's kinds and reasons (migration 0016).
SHARED_CHECKS[("radius_coa_queue", "kind")] = ("radius_coa_attempts", "kind")
SHARED_CHECKS[("radius_coa_queue", "reason")] = ("radius_coa_attempts", "reason")
# Values the migration computes in Python instead of spelling out; checked against the built SQL only.

CREATE = re.compile(r"\s*CREATE TABLE (\w+) \(")
ALTER_ADD = re.compile(r"\s*ALTER TABLE (\w+) ADD (CONSTRAINT .*)", re.DOTALL)
ONE_OF = re.compile(r"CONSTRAINT ck_(\w+?)__(\w+) CHECK \((\w+) IN \(([^)]*)\)\)")
# Lists a later migration changed, where the rule lives now: (table, column) -> (migration module, its SQL).
AMENDED = {("ip_pools", "pool_type"): ("ispops.migrations.versions.0023_ipam_vpn_pools", "GUARD")}
QUOTED = re.compile(r"'((?:[^']|'')*)'")
TENANT_FK = re.compile(
    r"CONSTRAINT (fk_\w+) FOREIGN KEY \(tenant_id, (\w+)\)\s+"
    r"REFERENCES (\w+) \(tenant_id, id\)\s+ON DELETE ([A-Z ]+)"
)
UNIQUE = re.compile(r"CONSTRAINT (uq_\w+)\s+UNIQUE \(([\w, ]+)\)")


def migration_text(filename: str) -> str:
    return (VERSIONS / filename).read_text(encoding="utf-8")


@cache
def create_statements() -> dict[str, str]:
    """Table name -> the CREATE TABLE statement the migrations build for it.

    Constraints a later revision adds (``ALTER TABLE t ADD CONSTRAINT ...``) are appended to it.
    """
    statements: dict[str, str] = {}
    for path in sorted(VERSIONS.glob("0*.py")):
        module = importlib.import_module(f"ispops.migrations.versions.{path.stem}")
        for value in vars(module).values():
            if not isinstance(value, list):
                continue
            for item in value:
                if isinstance(item, str) and (match := CREATE.match(item)):
                    statements[match.group(1)] = item
                elif isinstance(item, str) and (match := ALTER_ADD.match(item)):
                    statements[match.group(1)] += ",\n    " + match.group(2)
    return statements


def check_lists() -> dict[tuple[str, str], list[str]]:
    """(table, column) -> the values of its ``CHECK (column IN (...))``."""
    lists: dict[tuple[str, str], list[str]] = {}
    for table, statement in create_statements().items():
        for ck_table, ck_column, column, values in ONE_OF.findall(statement):
            assert (ck_table, ck_column) == (table, column), f"misnamed CHECK on {table}.{column}"
            lists[(table, column)] = [v.replace("''", "'") for v in QUOTED.findall(values)]
    for (table, column), (module, name) in AMENDED.items():
        sql = getattr(importlib.import_module(module), name)
        (values,) = re.findall(rf"IF NOT \(NEW\.{column} IN \(([^)]*)\)\)", sql)  # the rule, as check_rule writes it
        lists[(table, column)] = QUOTED.findall(values)
    return lists


def test_migrations_create_exactly_the_listed_tables() -> None:
    assert set(create_statements()) == MIGRATION_TABLES


def test_every_migration_table_is_mapped() -> None:
    assert not MIGRATION_TABLES - set(Base.metadata.tables)


def tenant_parent(table: str) -> str | None:
    """The column a model names in ``__tenant_parent__`` (tenant pinned through a parent), if any."""
    model = next(m.class_ for m in Base.registry.mappers if m.local_table is Base.metadata.tables[table])
    return getattr(model, "__tenant_parent__", None)


def keys_to_tenants(table: str) -> set[str]:
    return {
        fk.target_fullname for fk in Base.metadata.tables[table].c["tenant_id"].foreign_keys
    } & {"tenants.id"}


def assert_real_tenant(table: str, seen: tuple[str, ...] = ()) -> None:
    """``tenant_id`` has a key to tenants, or is pinned through a parent that does (as ispops.db.schema_check)."""
    assert table not in seen, f"tenant pinned in a circle: {seen}"
    parent_column = tenant_parent(table)
    if parent_column is None:
        assert keys_to_tenants(table) == {"tenants.id"}, table
        return
    # ParentTenantMixin: no key of its own, a NOT NULL composite key (tenant_id, column) -> parent (tenant_id, id).
    assert keys_to_tenants(table) == set(), table
    assert Base.metadata.tables[table].c[parent_column].nullable is False, table
    (key,) = [
        fk for fk in Base.metadata.tables[table].foreign_key_constraints
        if fk.column_keys == ["tenant_id", parent_column]
    ]
    assert [e.column.name for e in key.elements] == ["tenant_id", "id"], table
    assert_real_tenant(key.referred_table.name, (*seen, table))


@pytest.mark.parametrize("table", sorted(MIGRATION_TABLES - GLOBAL_TABLES))
def test_tenant_tables_have_not_null_tenant_id(table: str) -> None:
    columns = Base.metadata.tables[table].c
    assert "tenant_id" in columns
    assert columns["tenant_id"].nullable is False
    assert_real_tenant(table)


def test_ip_allocations_tenant_is_pinned_through_its_pool() -> None:
    assert tenant_parent("ip_allocations") == "ip_pool_id"
    assert [t for t in MIGRATION_TABLES - GLOBAL_TABLES if tenant_parent(t)] == ["ip_allocations"]


@pytest.mark.parametrize("enum", list(ENUMS), ids=lambda e: e.__name__)
def test_enum_matches_check_constraint(enum: type[StrEnum]) -> None:
    _, table, column = ENUMS[enum]
    assert [v.value for v in enum] == check_lists()[(table, column)]
    mapped = Base.metadata.tables[table].c[column]
    assert isinstance(mapped.type, String)


def test_every_check_list_has_an_enum() -> None:
    covered = {(table, column) for _, table, column in ENUMS.values()}
    uncovered = set(check_lists()) - covered - set(SHARED_CHECKS)
    assert not uncovered
    for shared, source in SHARED_CHECKS.items():
        assert check_lists()[shared] == check_lists()[source]


def test_user_roles_match_migration() -> None:
    assert "USER_ROLES" in migration_text("0001_core.py")
    core = importlib.import_module("ispops.migrations.versions.0001_core")
    assert [r.value for r in tenancy.UserRole] == json.loads(core.USER_ROLES)
    for role in tenancy.UserRole:
        assert f'"{role.value}"' in migration_text("0001_core.py")


@pytest.mark.parametrize("table", sorted(MIGRATION_TABLES))
def test_unique_constraints_match_migration(table: str) -> None:
    expected = {
        name: [c.strip() for c in columns.split(",")]
        for name, columns in UNIQUE.findall(create_statements()[table])
    }
    declared = {
        str(c.name): [col.name for col in c.columns]
        for c in Base.metadata.tables[table].constraints
        if isinstance(c, UniqueConstraint)
    }
    assert declared == expected


@pytest.mark.parametrize("table", sorted(MIGRATION_TABLES))
def test_composite_tenant_foreign_keys_match_migration(table: str) -> None:
    expected = {
        name: (column, target, on_delete.strip())
        for name, column, target, on_delete in TENANT_FK.findall(create_statements()[table])
    }
    declared = {}
    for fk in Base.metadata.tables[table].foreign_key_constraints:
        if len(fk.columns) < 2:
            continue
        assert fk.column_keys[0] == "tenant_id"
        assert [e.column.name for e in fk.elements] == ["tenant_id", "id"]
        action = (fk.ondelete or "").split(" (")[0]
        declared[str(fk.name)] = (fk.column_keys[1], fk.referred_table.name, action)
    assert declared == expected


def test_column_enum_registry_matches() -> None:
    expected = {(table, column): enum for enum, (_, table, column) in ENUMS.items()}
    expected[("radreply", "op")] = radius.RadiusOperator
    expected[("radius_coa_queue", "kind")] = radius.CoaKind
    expected[("radius_coa_queue", "reason")] = radius.CoaReason
    assert expected == COLUMN_ENUMS
