"""The ORM metadata on its own, without a database: tenant columns and how each table's tenant is pinned.

What the migrations build is compared with the models in pg_catalog instead (tables, unique constraints
and tenant foreign keys in ``test_models_match_database.py``; CHECK lists and enumerations, functions and
triggers in ``tests/db/test_rules.py``), never by parsing migration files.
"""

from __future__ import annotations

import pytest
from sqlalchemy import String

from ispops.db import schema_check
from ispops.models import Base
from ispops.models.enums import COLUMN_ENUMS

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
    "olt_pon_ports",
    "onu_provisioning_jobs",
    "ftth_settings",
    "splitters",
    "fiber_cables",
    "fiber_closures",
    "fiber_strands",
    "fiber_links",
    "fiber_splices",
    "fiber_connectors",
    "wireless_towers",
    "wireless_sectors",
    "wireless_subscribers",
    "wireless_settings",
    "wireless_leads",
    "wireless_cpe_readings",
    "wireless_cpe_alarms",
    "service_activations",
    "ansible_jobs",
    "ansible_job_events",
    "automation_playbooks",
    "automation_schedules",
    "automation_endpoints",
    "netbox_mappings",
    "netbox_syncs",
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
    "onu_optical_readings",
    "onu_optical_hourly",
    "onu_optical_daily",
    "onu_optical_dirty_hours",
    "ftth_alarms",
    "subscriber_plan_history",
    "billing_settings",
    "billing_cycles",
    "billing_pushes",
    "event_outbox",
    "webhook_endpoints",
    "webhook_deliveries",
    "webhook_delivery_attempts",
    "subscriber_imports",
}
GLOBAL_TABLES = set(schema_check.GLOBAL_TABLES)


def test_every_migration_table_is_mapped() -> None:
    assert not MIGRATION_TABLES - set(Base.metadata.tables)


def tenant_parent(table: str) -> str | None:
    """The column a model names in ``__tenant_parent__`` (tenant pinned through a parent), if any."""
    model = next(m.class_ for m in Base.registry.mappers if m.local_table is Base.metadata.tables[table])
    return getattr(model, "__tenant_parent__", None)


def keys_to_tenants(table: str) -> set[str]:
    return {fk.target_fullname for fk in Base.metadata.tables[table].c["tenant_id"].foreign_keys} & {"tenants.id"}


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
        fk
        for fk in Base.metadata.tables[table].foreign_key_constraints
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
    pinned = {t for t in MIGRATION_TABLES - GLOBAL_TABLES if tenant_parent(t)}
    # and the optical readings and rollups through their ONU (migration 0029: one key check per row)
    assert pinned == {"ip_allocations", "onu_optical_readings", "onu_optical_hourly", "onu_optical_daily"}


@pytest.mark.parametrize(("table", "column"), sorted(COLUMN_ENUMS))
def test_enumerated_columns_are_strings(table: str, column: str) -> None:
    """Each enumeration's column (its values checked in tests/db/test_rules.py) is mapped as a string."""
    assert isinstance(Base.metadata.tables[table].c[column].type, String)
