"""Settings, read once from the environment (``ISPOPS_*``)."""

from __future__ import annotations

import ipaddress
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# Database roles (DESIGN.md, "Tenancy and security" 2). Fixed names: migrations grant to them.
OWNER_ROLE = "ispops_owner"
APP_ROLE = "ispops_app"
RADIUS_ROLE = "ispops_radius"
PLATFORM_ROLE = "ispops_platform"
LOGIN_ROLES = (APP_ROLE, RADIUS_ROLE, PLATFORM_ROLE)


IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def proxy_networks(value: str) -> tuple[IPNetwork, ...]:
    """``"127.0.0.1, 10.0.0.0/24"`` -> networks; ValueError naming an entry that is neither."""
    networks: list[IPNetwork] = []
    for entry in (part.strip() for part in value.split(",")):
        if not entry:
            continue
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            raise ValueError(f"{entry!r} is not an IP address or network (e.g. 10.0.0.5 or 10.0.0.0/24)") from None
    return tuple(networks)


class Settings(BaseSettings):
    """Everything configurable. Unset ``database_url`` means: run the embedded PostgreSQL."""

    model_config = SettingsConfigDict(env_prefix="ISPOPS_", extra="ignore")

    database_url: str | None = Field(
        default=None,
        description="Admin/migrator URL of an existing PostgreSQL 15+ (superuser, or a role that is a "
        "member of ispops_owner with CREATEROLE). Unset: embedded PostgreSQL.",
    )
    database_name: str = Field(default="ispops", description="Database name used on the embedded server.")
    app_database_url: str | None = Field(
        default=None, description="URL for the application role; derived from database_url if unset."
    )
    platform_database_url: str | None = Field(
        default=None, description="URL for the platform-operator role; derived if unset."
    )
    db_role_password: str | None = Field(
        default=None,
        description="Password given to the login roles (app, radius, platform) when they are created "
        "or upgraded; needed when the server does not trust local connections.",
    )
    data_dir: Path = Field(default=Path(".ispops-data"), description="Where embedded data lives.")
    jwt_secret: str | None = Field(
        default=None,
        description="HMAC key for access tokens. Unset with the embedded database: generated once and kept "
        "in the data directory. Required with ISPOPS_DATABASE_URL.",
    )
    access_token_ttl_seconds: int = Field(default=900, ge=60, le=86400)
    refresh_token_ttl_seconds: int = Field(default=30 * 86400, ge=3600)
    api_host: str = Field(default="127.0.0.1")
    api_port: int = Field(default=8000, ge=1, le=65535)
    api_workers: int = Field(default=1, ge=1, le=64)
    trusted_proxies: str = Field(
        default="",
        description="Reverse proxies whose X-Forwarded-For / X-Forwarded-Proto headers are believed: "
        "comma-separated addresses or networks (e.g. 127.0.0.1,10.0.0.0/24). Unset: none, the client "
        "address used for login throttling and the audit trail is always the TCP peer.",
    )
    db_pool_size: int = Field(
        default=32,
        ge=1,
        le=500,
        description="Database connections kept per API process; size it to the requests in flight per process "
        "(connections above it are opened and closed per request, which is slow).",
    )
    login_failures_per_account_per_hour: int = Field(
        default=100,
        ge=1,
        description="Failed sign-ins per account per hour from clients without a device token of that user; "
        "past it, such clients are refused for the hour (a client that signed in before is not).",
    )
    login_failures_per_device_per_hour: int = Field(
        default=10,
        ge=1,
        description="Failed sign-ins per hour presented with one valid device token; past it, sign-ins "
        "presenting that token are refused for the hour (other clients of the user are not affected).",
    )
    login_failures_per_ip_per_minute: int = Field(default=30, ge=1)
    radacct_months_ahead: int = Field(default=3, ge=1, le=24)
    radacct_retention_months: int = Field(default=24, ge=1, le=240)
    device_backup_dir: Path | None = Field(
        default=None,
        description="Where device configuration backups are written (<dir>/<tenant>/<device>/<UTC time>.cfg "
        "and .diff). Unset: <data_dir>/backups.",
    )
    snmp_timeout_seconds: float = Field(default=2.0, gt=0, le=60, description="Per SNMP request.")
    snmp_retries: int = Field(default=1, ge=0, le=5, description="Retransmissions per SNMP request.")
    snmp_device_deadline_seconds: float = Field(
        default=30.0, gt=0, le=600, description="Upper bound on one device's whole poll (system group and walk)."
    )
    snmp_concurrency: int = Field(default=32, ge=1, le=1024, description="Devices polled at once per tenant poll.")
    backup_concurrency: int = Field(default=4, ge=1, le=64, description="Devices backed up at once (SSH).")
    backup_timeout_seconds: float = Field(default=60.0, gt=0, le=3600, description="Per device backup (SSH).")
    genieacs_nbi_url: str | None = Field(
        default=None,
        description="GenieACS northbound API (TR-069 CPE management, docs/ftth.md), e.g. http://acs:7557. A "
        "device is a tenant's only when it carries the GenieACS tag ispops-<tenant id>. Unset: no TR-069.",
    )
    genieacs_timeout_seconds: float = Field(default=10.0, gt=0, le=120, description="Per GenieACS request.")
    olt_timeout_seconds: float = Field(default=30.0, gt=0, le=600, description="Per OLT command (SSH, NBI).")
    backup_accept_new_host_keys: bool = Field(
        default=True,
        description="Back up a device whose credentials pin no SSH host key, and pin the key it presents "
        "(trust on first use). Off: such a device fails until ssh_host_key is set.",
    )
    automation_playbook_roots: str = Field(
        default="",
        description="Directories (separated by ':') under which tenants may register playbook directories "
        "and file:// git repositories. Empty: only git URLs over https/ssh, and the shipped playbooks.",
    )
    automation_run_dir: Path | None = Field(
        default=None,
        description="Where each Ansible run gets its private directory (mode 0700, removed after the run). "
        "Unset: <data_dir>/automation.",
    )
    automation_concurrency_per_tenant: int = Field(
        default=2, ge=1, le=100, description="Ansible runs of one tenant at the same time; others wait."
    )
    automation_timeout_seconds: int = Field(
        default=3600, ge=1, le=86400, description="Default time limit of an Ansible run (a job may set less)."
    )
    automation_python_interpreter: str = Field(
        default="auto_silent",
        description="Python on managed Linux hosts (Ansible's interpreter_python): auto_silent discovers it.",
    )
    automation_radius_address: str = Field(
        default="127.0.0.1",
        description="The address routers reach this platform's FreeRADIUS on (the MikroTik playbook's RADIUS server).",
    )
    secret_backend: Literal["file", "vault"] = Field(
        default="file", description="Secret store: encrypted files in the data directory, or Vault KV v2."
    )
    secret_key: str | None = Field(
        default=None,
        description="File secret store key: 32 bytes, base64. Unset: generated once in <data_dir>/secret-key "
        "(mode 0600). Back it up: without it the stored secrets cannot be read.",
    )
    secret_dir: Path | None = Field(default=None, description="File secret store directory (<data_dir>/secrets).")
    vault_url: str | None = Field(default=None, description="Vault address, e.g. https://vault:8200.")
    vault_token: str | None = Field(default=None, description="Vault token (falls back to VAULT_TOKEN).")
    vault_mount: str = Field(default="secret", description="Mount point of the KV v2 secrets engine.")
    vault_namespace: str | None = Field(default=None, description="Vault Enterprise namespace, if any.")
    vault_timeout_seconds: int = Field(default=10, ge=1, le=300)

    @field_validator("trusted_proxies")
    @classmethod
    def _check_trusted_proxies(cls, value: str) -> str:
        proxy_networks(value)  # raises ValueError naming the entry that is not an address or network
        return value

    @property
    def trusted_proxy_networks(self) -> tuple[IPNetwork, ...]:
        return proxy_networks(self.trusted_proxies)

    @property
    def embedded(self) -> bool:
        return self.database_url is None

    @property
    def pg_data_dir(self) -> Path:
        return (self.data_dir / "postgres").resolve()

    @property
    def backup_dir(self) -> Path:
        return (self.device_backup_dir or self.data_dir / "backups").resolve()

    @property
    def automation_dir(self) -> Path:
        return (self.automation_run_dir or self.data_dir / "automation").resolve()


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
