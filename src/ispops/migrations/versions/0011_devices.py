"""Devices, SNMP polling, config backup (issue 5).

What a poll and a backup leave behind: the SNMP port and the system group on ``devices``, the outcome
of the last poll and backup (``last_polled_at``, ``last_poll_error``, ``last_config_backup_error``),
and one row per interface in ``device_interfaces`` (replaced on every successful walk).

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-24
"""

from __future__ import annotations

from ispops.db.ddl import (
    AUDIT_COLUMNS_NO_DELETE,
    TENANT_COLUMN,
    check,
    create_table,
    one_of,
    steps,
    tenant_fk,
    tenant_key,
    tenant_table,
)

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

# IF-MIB ifAdminStatus / ifOperStatus, by name (the poller maps the numbers).
IF_ADMIN_STATUS = ["up", "down", "testing"]
IF_OPER_STATUS = ["up", "down", "testing", "unknown", "dormant", "not_present", "lower_layer_down"]

DEVICE_COLUMNS = [
    "ALTER TABLE devices ADD COLUMN snmp_port integer NOT NULL DEFAULT 161",
    "ALTER TABLE devices ADD CONSTRAINT ck_devices__snmp_port CHECK (snmp_port BETWEEN 1 AND 65535)",
    "ALTER TABLE devices ADD COLUMN sys_name varchar(255)",
    "ALTER TABLE devices ADD COLUMN sys_descr text",
    "ALTER TABLE devices ADD COLUMN sys_uptime_seconds bigint",
    "ALTER TABLE devices ADD CONSTRAINT ck_devices__sys_uptime_seconds CHECK (sys_uptime_seconds >= 0)",
    "ALTER TABLE devices ADD COLUMN last_polled_at timestamptz",
    "ALTER TABLE devices ADD COLUMN last_poll_error text",
    "ALTER TABLE devices ADD COLUMN last_config_backup_error text",
]

# Counters are Counter64 (ifHC*) when the device has them: numeric(20,0) holds 0 .. 2^64-1.
DEVICE_INTERFACES = [
    create_table(
        "device_interfaces",
        [
            "id uuid PRIMARY KEY DEFAULT gen_random_uuid()",
            TENANT_COLUMN,
            "device_id uuid NOT NULL",
            "if_index integer NOT NULL",
            "name varchar(255)",
            "alias varchar(255)",
            "if_type integer",
            "speed_mbps bigint",
            "admin_status varchar(20)",
            "oper_status varchar(20)",
            "in_octets numeric(20,0)",
            "out_octets numeric(20,0)",
            "in_errors bigint",
            "out_errors bigint",
            "hc_counters boolean NOT NULL DEFAULT false",
            "polled_at timestamptz NOT NULL",
            AUDIT_COLUMNS_NO_DELETE,
            tenant_key("device_interfaces"),
            "CONSTRAINT uq_device_interfaces__tenant_id__device_id__if_index UNIQUE (tenant_id, device_id, if_index)",
            tenant_fk("device_interfaces", "device_id", "devices", on_delete="CASCADE"),
            one_of("device_interfaces", "admin_status", IF_ADMIN_STATUS),
            one_of("device_interfaces", "oper_status", IF_OPER_STATUS),
            check("device_interfaces", "if_index", "if_index > 0"),
            check("device_interfaces", "in_octets", "in_octets >= 0 AND out_octets >= 0"),
            check("device_interfaces", "in_errors", "in_errors >= 0 AND out_errors >= 0"),
            check("device_interfaces", "speed_mbps", "speed_mbps >= 0"),
        ],
    ),
    *tenant_table("device_interfaces"),
]

UPGRADE: list[str] = [*DEVICE_COLUMNS, *DEVICE_INTERFACES]
DOWNGRADE: list[str] = [
    "DROP TABLE device_interfaces",
    *(
        f"ALTER TABLE devices DROP COLUMN {column}"
        for column in (
            "snmp_port",
            "sys_name",
            "sys_descr",
            "sys_uptime_seconds",
            "last_polled_at",
            "last_poll_error",
            "last_config_backup_error",
        )
    ),
]

upgrade, downgrade = steps(UPGRADE, DOWNGRADE)
