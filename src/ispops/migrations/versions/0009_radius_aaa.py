"""RADIUS AAA: per-tenant RADIUS policy, plan enforcement columns, CoA log, daily usage.

- tenants: password storage (cleartext for CHAP, or NT hash), suspended-service behaviour (reject or
  walled garden), interim interval and default session timeout.
- bandwidth_profiles: session timeout, simultaneous use, what a cap does (throttle to the FUP rate or
  suspend), vendor policy names (Cisco QoS policies, Juniper QoS profile).
- nas: CoA/Disconnect port and secret; ``UNIQUE (tenant_id, id)`` so tenant tables can point at it.
- subscribers: ``pppoe_password`` is moved into radcheck (the only place FreeRADIUS needs it) and is
  NULL from now on; ``throttled_until`` records a cap's throttle.
- radacct: what the usage roll-up has already counted of each session.
- radius_coa_attempts, subscriber_usage_daily: new tenant tables.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-24
"""

from __future__ import annotations

from ispops.db.ddl import TENANT_COLUMN, check, create_table, each_tenant, one_of, run, tenant_fk, tenant_table

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

TENANT_COLUMNS = [
    "ALTER TABLE tenants ADD COLUMN radius_password_type text NOT NULL DEFAULT 'cleartext'",
    "ALTER TABLE tenants ADD COLUMN radius_suspended_action text NOT NULL DEFAULT 'reject'",
    "ALTER TABLE tenants ADD COLUMN radius_walled_garden_download_kbps integer NOT NULL DEFAULT 256",
    "ALTER TABLE tenants ADD COLUMN radius_walled_garden_upload_kbps integer NOT NULL DEFAULT 256",
    "ALTER TABLE tenants ADD COLUMN radius_walled_garden_list text NOT NULL DEFAULT 'ispops-suspended'",
    "ALTER TABLE tenants ADD COLUMN radius_interim_interval integer NOT NULL DEFAULT 300",
    "ALTER TABLE tenants ADD COLUMN radius_session_timeout integer",
    "ALTER TABLE tenants ADD " + one_of("tenants", "radius_password_type", ["cleartext", "nt_password"]),
    "ALTER TABLE tenants ADD " + one_of("tenants", "radius_suspended_action", ["reject", "walled_garden"]),
    "ALTER TABLE tenants ADD "
    + check(
        "tenants",
        "radius_walled_garden_download_kbps",
        "radius_walled_garden_download_kbps BETWEEN 8 AND 10000000 "
        "AND radius_walled_garden_upload_kbps BETWEEN 8 AND 10000000",
    ),
    "ALTER TABLE tenants ADD "
    + check(
        "tenants",
        "radius_walled_garden_list",
        "radius_walled_garden_list ~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$'",
    ),
    "ALTER TABLE tenants ADD "
    + check("tenants", "radius_interim_interval", "radius_interim_interval BETWEEN 60 AND 86400"),
    "ALTER TABLE tenants ADD "
    + check("tenants", "radius_session_timeout", "radius_session_timeout BETWEEN 60 AND 31536000"),
    # Tenant admins choose their RADIUS policy themselves (PATCH /api/v1/tenant).
    "GRANT UPDATE (radius_password_type, radius_suspended_action, radius_walled_garden_download_kbps, "
    "radius_walled_garden_upload_kbps, radius_walled_garden_list, radius_interim_interval, "
    "radius_session_timeout) ON tenants TO ispops_app",
    # FreeRADIUS rejects requests from a suspended tenant's NAS: it reads the status and nothing else.
    "GRANT SELECT (id, status, deleted_at) ON tenants TO ispops_radius",
]

PROFILE_COLUMNS = [
    "ALTER TABLE bandwidth_profiles ADD COLUMN session_timeout_seconds integer",
    "ALTER TABLE bandwidth_profiles ADD COLUMN simultaneous_use integer NOT NULL DEFAULT 1",
    "ALTER TABLE bandwidth_profiles ADD COLUMN cap_action text NOT NULL DEFAULT 'throttle'",
    "ALTER TABLE bandwidth_profiles ADD COLUMN fup_download_mbps integer",
    "ALTER TABLE bandwidth_profiles ADD COLUMN fup_upload_mbps integer",
    "ALTER TABLE bandwidth_profiles ADD COLUMN cisco_policy_in text",
    "ALTER TABLE bandwidth_profiles ADD COLUMN cisco_policy_out text",
    "ALTER TABLE bandwidth_profiles ADD COLUMN juniper_qos_profile text",
    "ALTER TABLE bandwidth_profiles ADD "
    + check("bandwidth_profiles", "session_timeout_seconds", "session_timeout_seconds BETWEEN 60 AND 31536000"),
    "ALTER TABLE bandwidth_profiles ADD "
    + check("bandwidth_profiles", "simultaneous_use", "simultaneous_use BETWEEN 1 AND 100"),
    "ALTER TABLE bandwidth_profiles ADD " + one_of("bandwidth_profiles", "cap_action", ["throttle", "suspend"]),
    "ALTER TABLE bandwidth_profiles ADD "
    + check(
        "bandwidth_profiles",
        "fup_download_mbps",
        "(fup_download_mbps IS NULL) = (fup_upload_mbps IS NULL) "
        "AND (fup_download_mbps IS NULL OR (fup_download_mbps > 0 AND fup_upload_mbps > 0))",
    ),
    *(
        "ALTER TABLE bandwidth_profiles ADD "
        + check("bandwidth_profiles", col, f"{col} ~ '^[A-Za-z0-9][A-Za-z0-9_.:-]{{0,63}}$'")
        for col in ("cisco_policy_in", "cisco_policy_out", "juniper_qos_profile")
    ),
]

NAS_COLUMNS = [
    "ALTER TABLE nas ADD COLUMN coa_port integer NOT NULL DEFAULT 3799",
    "ALTER TABLE nas ADD COLUMN coa_secret text",
    "ALTER TABLE nas ADD " + check("nas", "coa_port", "coa_port BETWEEN 1 AND 65535"),
    "ALTER TABLE nas ADD " + check("nas", "coa_secret", "length(coa_secret) BETWEEN 8 AND 128"),
    "ALTER TABLE nas ADD CONSTRAINT uq_nas__tenant_id__id UNIQUE (tenant_id, id)",
]

MOVE_PASSWORDS = each_tenant("""
    INSERT INTO radcheck (tenant_id, subscriber_id, username, attribute, op, value)
    SELECT s.tenant_id, s.id, s.pppoe_username, 'Cleartext-Password', ':=', s.pppoe_password
      FROM subscribers s
     WHERE s.tenant_id = t.id AND s.pppoe_password IS NOT NULL AND s.pppoe_username IS NOT NULL
    ON CONFLICT (tenant_id, username, attribute) DO NOTHING;
    UPDATE subscribers SET pppoe_password = NULL WHERE tenant_id = t.id AND pppoe_password IS NOT NULL;
""")

RESTORE_PASSWORDS = each_tenant("""
    UPDATE subscribers s SET pppoe_password = left(c.value, 64)
      FROM radcheck c
     WHERE c.tenant_id = t.id AND s.tenant_id = t.id AND c.subscriber_id = s.id
       AND c.attribute = 'Cleartext-Password';
""")

SUBSCRIBER_COLUMNS = [
    MOVE_PASSWORDS,
    "ALTER TABLE subscribers ADD " + check("subscribers", "pppoe_password", "pppoe_password IS NULL"),
    "ALTER TABLE subscribers ADD COLUMN throttled_until timestamptz",
]

RADACCT_COLUMNS = [
    "ALTER TABLE radacct ADD COLUMN counted_input_octets bigint NOT NULL DEFAULT 0",
    "ALTER TABLE radacct ADD COLUMN counted_output_octets bigint NOT NULL DEFAULT 0",
]

COA_ATTEMPTS = [
    create_table(
        "radius_coa_attempts",
        [
            "id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY",
            TENANT_COLUMN,
            "subscriber_id uuid",
            "nas_id bigint",
            "username text",
            "acctsessionid text",
            "kind text NOT NULL",
            "reason text NOT NULL",
            "attributes jsonb NOT NULL DEFAULT '{}'::jsonb",
            "attempt integer NOT NULL DEFAULT 1",
            "result text NOT NULL",
            "error_cause integer",
            "detail text",
            "created_at timestamptz NOT NULL DEFAULT now()",
            "created_by varchar(255)",
            tenant_fk("radius_coa_attempts", "subscriber_id", "subscribers"),
            tenant_fk("radius_coa_attempts", "nas_id", "nas"),
            one_of("radius_coa_attempts", "kind", ["coa", "disconnect"]),
            one_of(
                "radius_coa_attempts",
                "reason",
                ["plan_change", "throttle", "unthrottle", "suspend", "resume", "terminate", "manual"],
            ),
            one_of("radius_coa_attempts", "result", ["ack", "nak", "timeout", "error"]),
            check("radius_coa_attempts", "attempt", "attempt BETWEEN 1 AND 10"),
        ],
    ),
    "CREATE INDEX idx_radius_coa_attempts_subscriber ON radius_coa_attempts (tenant_id, subscriber_id, created_at)",
    "CREATE INDEX idx_radius_coa_attempts_created ON radius_coa_attempts (tenant_id, created_at)",
    *tenant_table("radius_coa_attempts", audit=False, app_privileges="SELECT, INSERT"),
]

USAGE_DAILY = [
    create_table(
        "subscriber_usage_daily",
        [
            "id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY",
            TENANT_COLUMN,
            "subscriber_id uuid NOT NULL",
            "day date NOT NULL",
            "input_octets bigint NOT NULL DEFAULT 0",
            "output_octets bigint NOT NULL DEFAULT 0",
            "updated_at timestamptz NOT NULL DEFAULT now()",
            "CONSTRAINT uq_subscriber_usage_daily__tenant_id__subscriber_id__day "
            "UNIQUE (tenant_id, subscriber_id, day)",
            tenant_fk("subscriber_usage_daily", "subscriber_id", "subscribers", on_delete="CASCADE"),
            check("subscriber_usage_daily", "input_octets", "input_octets >= 0 AND output_octets >= 0"),
        ],
    ),
    "CREATE INDEX idx_subscriber_usage_daily_day ON subscriber_usage_daily (tenant_id, day)",
    *tenant_table("subscriber_usage_daily", audit=False),
]


def upgrade() -> None:
    run(TENANT_COLUMNS + PROFILE_COLUMNS + NAS_COLUMNS + SUBSCRIBER_COLUMNS + RADACCT_COLUMNS)
    run(COA_ATTEMPTS + USAGE_DAILY)


def downgrade() -> None:
    run(
        [
            "DROP TABLE subscriber_usage_daily",
            "DROP TABLE radius_coa_attempts",
            "ALTER TABLE radacct DROP COLUMN counted_output_octets",
            "ALTER TABLE radacct DROP COLUMN counted_input_octets",
            "ALTER TABLE subscribers DROP COLUMN throttled_until",
            "ALTER TABLE subscribers DROP CONSTRAINT ck_subscribers__pppoe_password",
            RESTORE_PASSWORDS,
            "ALTER TABLE nas DROP CONSTRAINT uq_nas__tenant_id__id",
            "ALTER TABLE nas DROP COLUMN coa_secret",
            "ALTER TABLE nas DROP COLUMN coa_port",
            *(
                f"ALTER TABLE bandwidth_profiles DROP COLUMN {col}"
                for col in (
                    "juniper_qos_profile",
                    "cisco_policy_out",
                    "cisco_policy_in",
                    "fup_upload_mbps",
                    "fup_download_mbps",
                    "cap_action",
                    "simultaneous_use",
                    "session_timeout_seconds",
                )
            ),
            "REVOKE SELECT (id, status, deleted_at) ON tenants FROM ispops_radius",
            "REVOKE UPDATE (radius_password_type, radius_suspended_action, radius_walled_garden_download_kbps, "
            "radius_walled_garden_upload_kbps, radius_walled_garden_list, radius_interim_interval, "
            "radius_session_timeout) ON tenants FROM ispops_app",
            *(
                f"ALTER TABLE tenants DROP COLUMN {col}"
                for col in (
                    "radius_session_timeout",
                    "radius_interim_interval",
                    "radius_walled_garden_list",
                    "radius_walled_garden_upload_kbps",
                    "radius_walled_garden_download_kbps",
                    "radius_suspended_action",
                    "radius_password_type",
                )
            ),
        ]
    )
