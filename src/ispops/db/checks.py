"""What the database's named rules (``ck_<table>__<column>``) allow, so the API can say it before it sends.

The database is the authority: CHECK constraints, and the rules some triggers enforce under the same
names (migration 0018). Two things need those rules in Python: the OpenAPI document, which advertises
``minimum``/``maximum``/``minLength``/``maxLength``/``pattern`` from them (ispops.api.schemas), and the
error a refused value gets, which states the rule in words (ispops.errors).

``RULES`` declares every *simple* rule — one column compared with constants: ``col BETWEEN a AND b``,
``col >= a``, ``length(col) BETWEEN a AND b``, ``col ~ '^…$'``, ``col !~ '[…]'``, optionally
``col IS NULL OR …`` — and ``WORDS`` says the others in words. Enumerations (``col IN (…)``) are the
StrEnums of ``ispops.models.enums.COLUMN_ENUMS``. ``parse`` reads a rule back from the database's own
text (``pg_get_constraintdef`` or a trigger's condition): tests/db/test_checks.py walks pg_catalog and
compares every named rule with these tables, so a rule is never spelled twice without that comparison.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal

from ispops.models.enums import COLUMN_ENUMS

# ---------------------------------------------------------------------------------------------------------
# The shape of a simple rule, and how to read one from PostgreSQL's text


@dataclass(frozen=True)
class Rule:
    """What one column may hold. Bounds are integers (every simple CHECK of the schema uses integers)."""

    ge: int | None = None
    gt: int | None = None
    le: int | None = None
    lt: int | None = None
    min_length: int | None = None
    max_length: int | None = None
    pattern: str | None = None  # a PostgreSQL regular expression the value must match
    forbidden: str | None = None  # one the value must not match (``col !~ '[…]'``)
    values: tuple[str, ...] | None = None  # ``col IN (…)``

    def words(self, column: str) -> str:
        """The rule as a sentence: "billing_cycle_day must be between 1 and 28"."""
        return f"{column} {self.requirement()}"

    def requirement(self) -> str:
        """The rule without its column: "must be between 1 and 28"."""
        parts: list[str] = []
        low, high = self.ge, self.le
        if low is not None and high is not None:
            parts.append(f"be between {low} and {high}")
        else:
            if low is not None:
                parts.append(f"be at least {low}")
            if high is not None:
                parts.append(f"be at most {high}")
        if self.gt is not None:
            parts.append(f"be greater than {self.gt}")
        if self.lt is not None:
            parts.append(f"be less than {self.lt}")
        if self.min_length is not None and self.max_length is not None:
            parts.append(f"be {self.min_length} to {self.max_length} characters long")
        elif self.max_length is not None:
            parts.append(f"be at most {self.max_length} characters long")
        elif self.min_length is not None:
            parts.append(f"be at least {self.min_length} characters long")
        if self.pattern is not None:
            parts.append(f"match {self.pattern}")
        if self.forbidden is not None:
            parts.append(
                "not contain control characters"
                if self.forbidden == CONTROL_CHARACTERS
                else f"not match {self.forbidden}"
            )
        if self.values is not None:
            parts.append("be one of " + ", ".join(self.values))
        return "must " + " and ".join(parts)

    def range_requirement(self) -> str | None:
        """Only the numeric bounds, in words (None without any)."""
        if self.ge is None and self.gt is None and self.le is None and self.lt is None:
            return None
        return Rule(ge=self.ge, gt=self.gt, le=self.le, lt=self.lt).requirement()

    def admits(self, value: float | int | Decimal) -> bool:
        """Whether a number is inside the numeric bounds."""
        return not (
            (self.ge is not None and value < self.ge)
            or (self.gt is not None and value <= self.gt)
            or (self.le is not None and value > self.le)
            or (self.lt is not None and value >= self.lt)
        )

    def json_pattern(self) -> str | None:
        """``pattern`` (or ``forbidden`` as its complement) as a portable regular expression for OpenAPI:
        the same in PostgreSQL, Python, Rust (pydantic) and ECMAScript."""
        if self.pattern is not None:
            return self.pattern.replace("[:space:]", r"\s")
        if self.forbidden is not None and re.fullmatch(r"\[[^\]^]+\]", self.forbidden):
            return "^[^" + self.forbidden[1:-1] + "]*$"
        return None


CONTROL_CHARACTERS = r"[\x01-\x1f\x7f]"

_LITERAL = re.compile(r"'((?:[^']|'')*)'")
_CAST = re.compile(r"::(?:character varying|double precision|timestamp with time zone|[a-z_]+)(?:\[\])?")
_TERM = re.compile(r"^(?P<left>length:(?P<lcol>\w+)|(?P<col>\w+)) (?P<op>>=|<=|>|<|=|~|!~) (?P<right>-?\d+|\$\d+)$")


def _tokenize(text: str) -> tuple[str, list[str]]:
    """The expression with its string literals replaced by ``$0``, ``$1``, … (and the literals)."""
    literals: list[str] = []

    def keep(m: re.Match[str]) -> str:
        literals.append(m.group(1).replace("''", "'"))
        return f"${len(literals) - 1}"

    return _LITERAL.sub(keep, text), literals


def parse(column: str, definition: str) -> Rule | None:
    """The simple rule ``definition`` states about ``column``, or None when it is not simple.

    ``definition`` is PostgreSQL's text of a CHECK (``CHECK ((vlan_id >= 1) AND (vlan_id <= 4094))``) or the
    condition as written (``NEW.vlan_id BETWEEN 1 AND 4094``).
    """
    text, literals = _tokenize(definition.strip())
    text = re.sub(r"^CHECK\s*", "", text)
    text = re.sub(r"\s+NOT VALID$", "", text)
    text = _CAST.sub("", text)
    # '-90'::integer: a number written as a literal, then cast
    for i, lit in enumerate(literals):
        if re.fullmatch(r"-?\d+", lit):
            text = re.sub(rf"\${i}(?!\d)", lit, text)
    text = text.replace("NEW.", "")
    text = re.sub(r"\blength\((\w+)\)", r"length:\1", text)
    if re.search(r"\w\(", text):  # any other function call: not simple
        return None
    text = re.sub(r"[()]", " ", text)
    text = re.sub(r"\s+", " ", text).strip()
    text = re.sub(rf"^{column} IS NULL OR ", "", text)
    between = re.compile(r"(length:\w+|\w+) BETWEEN (-?\d+) AND (-?\d+)")
    text = between.sub(r"\1 >= \2 AND \1 <= \3", text)
    if " OR " in text or " NOT " in f" {text} ":
        return None
    choice = re.fullmatch(rf"{column} (?:= ANY ARRAY\[(.*)\]|IN (.*))", text)
    if choice:
        listed = (choice.group(1) or choice.group(2)).split(", ")
        if not all(re.fullmatch(r"\$\d+", item) for item in listed):
            return None
        return Rule(values=tuple(literals[int(item[1:])] for item in listed))
    bounds: dict[str, int | str] = {}
    for term in text.split(" AND "):
        m = _TERM.match(term)
        if m is None or (m.group("lcol") or m.group("col")) != column:
            return None
        op, right = m.group("op"), m.group("right")
        is_length = m.group("lcol") is not None
        if right.startswith("$"):
            if is_length or op not in ("~", "!~", "="):
                return None
            key = {"~": "pattern", "!~": "forbidden", "=": "values"}[op]
            bounds[key] = literals[int(right[1:])]
            continue
        number = int(right)
        if is_length:
            key, number = {
                ">=": ("min_length", number),
                ">": ("min_length", number + 1),
                "<=": ("max_length", number),
                "<": ("max_length", number - 1),
            }.get(op, ("", 0))
        else:
            key = {">=": "ge", ">": "gt", "<=": "le", "<": "lt"}.get(op, "")
        if not key or key in bounds:
            return None
        bounds[key] = number
    values = bounds.pop("values", None)
    rule = Rule(**bounds)  # type: ignore[arg-type]
    if values is not None:
        return Rule(values=(str(values),)) if not bounds else None
    return rule


# ---------------------------------------------------------------------------------------------------------
# The rules (compared with pg_catalog by tests/db/test_checks.py)

MAC = r"^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}$"
EMAIL = r"^[^@[:space:]]+@[^@[:space:]]+$"
POLICY_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$"
ATTRIBUTE = r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$"
LATITUDE = Rule(ge=-90, le=90)
LONGITUDE = Rule(ge=-180, le=180)
RADIUS_USERNAME = Rule(min_length=1, max_length=253, forbidden=CONTROL_CHARACTERS)

RULES: dict[str, Rule] = {
    "ck_ansible_jobs__changed_tasks": Rule(ge=0),
    "ck_ansible_jobs__duration_seconds": Rule(ge=0),
    "ck_ansible_jobs__failed_tasks": Rule(ge=0),
    "ck_ansible_jobs__timeout_seconds": Rule(ge=1, le=86400),
    "ck_ansible_jobs__attempt": Rule(ge=1),
    "ck_bandwidth_profiles__burst_threshold_mbps": Rule(gt=0),
    "ck_bandwidth_profiles__burst_time_seconds": Rule(gt=0),
    "ck_bandwidth_profiles__cisco_policy_in": Rule(pattern=POLICY_NAME),
    "ck_bandwidth_profiles__cisco_policy_out": Rule(pattern=POLICY_NAME),
    "ck_bandwidth_profiles__daily_data_cap_gb": Rule(gt=0),
    "ck_bandwidth_profiles__download_mbps": Rule(gt=0),
    "ck_bandwidth_profiles__juniper_qos_profile": Rule(pattern=POLICY_NAME),
    "ck_bandwidth_profiles__monthly_data_cap_gb": Rule(gt=0),
    "ck_bandwidth_profiles__priority": Rule(ge=1, le=10),
    "ck_bandwidth_profiles__session_timeout_seconds": Rule(ge=60, le=31536000),
    "ck_bandwidth_profiles__simultaneous_use": Rule(ge=1, le=100),
    "ck_bandwidth_profiles__upload_mbps": Rule(gt=0),
    "ck_customers__email": Rule(pattern=EMAIL),
    "ck_device_interfaces__if_index": Rule(gt=0),
    "ck_device_interfaces__speed_mbps": Rule(ge=0),
    "ck_devices__location_lat": LATITUDE,
    "ck_devices__location_lng": LONGITUDE,
    "ck_devices__mac_address": Rule(pattern=MAC),
    "ck_devices__port_count": Rule(ge=0),
    "ck_devices__snmp_port": Rule(ge=1, le=65535),
    "ck_devices__sys_uptime_seconds": Rule(ge=0),
    "ck_fiber_cables__end_location_lat": LATITUDE,
    "ck_fiber_cables__end_location_lng": LONGITUDE,
    "ck_fiber_cables__fiber_count": Rule(ge=1, le=6912),
    "ck_fiber_cables__length_meters": Rule(ge=0),
    "ck_fiber_cables__start_location_lat": LATITUDE,
    "ck_fiber_cables__start_location_lng": LONGITUDE,
    "ck_fiber_closures__capacity_splices": Rule(gt=0),
    "ck_fiber_closures__location_lat": LATITUDE,
    "ck_fiber_closures__location_lng": LONGITUDE,
    "ck_fiber_connectors__loss_db": Rule(ge=0, le=10),
    "ck_fiber_links__seq": Rule(ge=1),
    "ck_fiber_splices__loss_db": Rule(ge=0, le=10),
    "ck_fiber_strands__strand_number": Rule(ge=1),
    "ck_fiber_strands__tube_number": Rule(ge=1),
    "ck_ip_allocations__mac_address": Rule(pattern=MAC),  # a rule of ipam_allocation_guard
    "ck_ip_pools__default_lease_seconds": Rule(gt=0),  # rules of ipam_pool_guard (migrations 0010, 0018)
    "ck_ip_pools__total_ips": Rule(ge=0),
    "ck_ip_pools__vlan_id": Rule(ge=1, le=4094),
    "ck_ip_pools__warning_threshold_percent": Rule(ge=1, le=100),
    "ck_nas__coa_port": Rule(ge=1, le=65535),
    "ck_nas__coa_secret": Rule(min_length=8, max_length=128),
    "ck_nas__server": Rule(values=("ispops",)),
    "ck_nas__shortname": Rule(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$"),
    "ck_olt_pon_ports__frame": Rule(ge=0, le=255),
    "ck_olt_pon_ports__max_onus": Rule(ge=1, le=1024),
    "ck_olt_pon_ports__port": Rule(ge=0, le=255),
    "ck_olt_pon_ports__slot": Rule(ge=0, le=255),
    "ck_olts__active_onus": Rule(ge=0),
    "ck_olts__max_pon_ports": Rule(gt=0),
    "ck_olts__total_onu_capacity": Rule(gt=0),
    "ck_onus__distance_meters": Rule(ge=0),
    "ck_onus__onu_id": Rule(ge=0, le=1023),
    "ck_onus__pon_port": Rule(ge=0, le=255),
    "ck_onus__rx_power_dbm": Rule(ge=-50, le=10),
    "ck_onus__service_port": Rule(ge=0),
    "ck_olts__driver_port": Rule(ge=1, le=65535),
    "ck_onu_provisioning_jobs__steps_done": Rule(ge=0),
    "ck_onu_provisioning_jobs__attempts": Rule(ge=0),
    "ck_onus__splitter_port": Rule(ge=1),
    "ck_onus__tx_power_dbm": Rule(ge=-20, le=20),
    "ck_onus__uptime_seconds": Rule(ge=0),
    "ck_onus__vlan_id": Rule(ge=1, le=4094),
    "ck_platform_operators__email": Rule(pattern=EMAIL),
    "ck_radacct__acctsessiontime": Rule(ge=0),
    "ck_radcheck__attribute": Rule(pattern=ATTRIBUTE),
    "ck_radcheck__username": RADIUS_USERNAME,
    "ck_radcheck__value": Rule(max_length=253),
    "ck_radius_coa_attempts__attempt": Rule(ge=1, le=10),
    "ck_radius_coa_queue__attempts": Rule(ge=0, le=10),
    "ck_radreply__attribute": Rule(pattern=ATTRIBUTE),
    "ck_radreply__username": RADIUS_USERNAME,
    "ck_radreply__value": Rule(max_length=253),
    "ck_service_activations__duration_seconds": Rule(ge=0),
    "ck_service_activations__retry_count": Rule(ge=0),
    "ck_splitters__location_lat": LATITUDE,
    "ck_splitters__location_lng": LONGITUDE,
    "ck_subscribers__billing_cycle_day": Rule(ge=1, le=28),
    "ck_subscribers__mac_address": Rule(pattern=MAC),
    "ck_subscribers__monthly_data_usage_gb": Rule(ge=0),
    "ck_subscribers__pppoe_username": Rule(forbidden=CONTROL_CHARACTERS),
    "ck_subscribers__service_location_lat": LATITUDE,
    "ck_subscribers__service_location_lng": LONGITUDE,
    "ck_subscribers__vlan_id": Rule(ge=1, le=4094),
    "ck_tenants__id": Rule(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$"),
    "ck_tenants__radius_interim_interval": Rule(ge=60, le=86400),
    "ck_tenants__radius_session_timeout": Rule(ge=60, le=31536000),
    "ck_tenants__radius_stale_after_intervals": Rule(ge=2, le=100),
    "ck_tenants__radius_walled_garden_list": Rule(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"),
    "ck_tenants__slug": Rule(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$"),
    "ck_users__email": Rule(pattern=EMAIL),
    "ck_vpn_tunnels__persistent_keepalive": Rule(ge=0, le=65535),
    "ck_vpn_tunnels__server_public_key": Rule(pattern=r"^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw480]=$"),
    "ck_wireless_sectors__azimuth": Rule(ge=0, le=359),
    "ck_wireless_sectors__cable_loss_db": Rule(ge=0),
    "ck_wireless_sectors__oversubscription_ratio": Rule(ge=1),
    "ck_wireless_sectors__radio_mac": Rule(pattern=MAC),
    "ck_wireless_sectors__spatial_streams": Rule(ge=1, le=8),
    "ck_wireless_subscribers__cpe_height_m": Rule(gt=0),
    "ck_wireless_settings__required_fade_margin_db": Rule(ge=0),
    "ck_wireless_settings__noise_figure_db": Rule(ge=0),
    "ck_wireless_settings__default_channel_width_mhz": Rule(gt=0),
    "ck_wireless_settings__default_cpe_height_m": Rule(gt=0),
    "ck_wireless_settings__default_tower_height_m": Rule(gt=0),
    "ck_wireless_settings__mac_efficiency": Rule(gt=0),
    "ck_wireless_settings__oversubscription_ratio": Rule(ge=1),
    "ck_wireless_settings__utilisation_warning_percent": Rule(ge=1, le=100),
    "ck_wireless_settings__k_factor": Rule(gt=0),
    "ck_wireless_settings__portal_checks_per_hour": Rule(ge=0),
    "ck_wireless_leads__latitude": LATITUDE,
    "ck_wireless_leads__longitude": LONGITUDE,
    "ck_wireless_leads__cpe_height_m": Rule(gt=0),
    "ck_wireless_sectors__beamwidth_degrees": Rule(ge=1, le=360),
    "ck_wireless_sectors__channel_width_mhz": Rule(gt=0),
    "ck_wireless_sectors__downtilt_degrees": Rule(ge=-90, le=90),
    "ck_wireless_sectors__frequency_mhz": Rule(ge=1, le=100000),
    "ck_wireless_sectors__max_range_km": Rule(gt=0),
    "ck_wireless_sectors__max_subscribers": Rule(ge=0),
    "ck_wireless_subscribers__cpe_mac": Rule(pattern=MAC),
    "ck_wireless_subscribers__distance_km": Rule(ge=0),
    "ck_wireless_subscribers__install_latitude": LATITUDE,
    "ck_wireless_subscribers__install_longitude": LONGITUDE,
    "ck_wireless_subscribers__signal_quality_percent": Rule(ge=0, le=100),
    "ck_wireless_subscribers__signal_strength_dbm": Rule(ge=-120, le=0),
    "ck_wireless_towers__height_meters": Rule(gt=0),
    "ck_wireless_towers__latitude": LATITUDE,
    "ck_wireless_towers__longitude": LONGITUDE,
    "ck_billing_cycles__billing_day": Rule(ge=1, le=28),
    "ck_billing_settings__close_after_hours": Rule(ge=0, le=720),
    "ck_event_outbox__event_type": Rule(pattern=r"^[a-z][a-z0-9_]*([.][a-z][a-z0-9_]*)+$"),
    "ck_webhook_deliveries__attempts": Rule(ge=0),
    "ck_webhook_deliveries__replays": Rule(ge=0),
    "ck_webhook_delivery_attempts__attempt": Rule(ge=1),
}

# The rules that are not simple, in words (the column leads, as in RULES' words).
WORDS: dict[str, str] = {
    "ck_audit_events__changes": "changes must be a JSON object",
    "ck_bandwidth_profiles__download_burst_mbps": "download_burst_mbps must be at least download_mbps",
    "ck_bandwidth_profiles__fup_download_mbps": (
        "fup_download_mbps and fup_upload_mbps must be given together, both greater than 0"
    ),
    "ck_bandwidth_profiles__radius_attributes": "radius_attributes must be a JSON object",
    "ck_bandwidth_profiles__upload_burst_mbps": "upload_burst_mbps must be at least upload_mbps",
    "ck_device_interfaces__in_errors": "in_errors and out_errors must be at least 0",
    "ck_device_interfaces__in_octets": "in_octets and out_octets must be at least 0",
    "ck_devices__ports_used": "ports_used must be at least 0 and at most port_count",
    "ck_fiber_cables__geojson_path": "geojson_path must be a GeoJSON LineString with a coordinates array",
    "ck_fiber_cables__end_splitter_id": "end_device_id, end_splitter_id and end_closure_id: at most one of them",
    "ck_fiber_cables__start_splitter_id": (
        "start_device_id, start_splitter_id and start_closure_id: at most one of them"
    ),
    "ck_fiber_links__splitter_id": (
        "splitter_id (the hop into that splitter) or onu_id (the ONU's drop) must be given"
    ),
    "ck_fiber_splices__strand_b_id": "strand_b_id must not be strand_a_id",
    "ck_onus__splitter_id": "splitter_id and splitter_port must be given together",
    "ck_ip_allocations__lease_end": "lease_end must be after lease_start",
    "ck_ip_allocations__released_at": "released_at must be set when, and only when, status is released",
    "ck_ip_pools__allocated_ips": "allocated_ips must be at least 0 and at most total_ips (the pool is full)",
    "ck_ip_pools__delegated_prefix_length": (
        "start_ip and end_ip must be host addresses, or prefixes of delegated_prefix_length (at most /64, "
        "inside an IPv6 network)"
    ),
    "ck_ip_pools__end_ip": "end_ip must be inside network_cidr and not before start_ip",
    "ck_ip_pools__gateway": "gateway must be inside network_cidr",
    "ck_ip_pools__start_ip": "start_ip must be inside network_cidr",
    "ck_nas__nasname": "nasname must be one host address (IPv4 or IPv6), not a name or a network",
    "ck_nas__secret": (
        "secret must be 8 to 128 characters, without control characters, a backslash before a quote or a "
        "trailing backslash"
    ),
    "ck_ftth_settings__alarms": "alarms must be a JSON object",
    "ck_ftth_settings__classes": "classes must be a JSON object",
    "ck_ftth_settings__loss": "loss must be a JSON object",
    "ck_olts__active_pon_ports": "active_pon_ports must be at least 0 and at most max_pon_ports",
    "ck_onus__acs_password_vault_path": "acs_password_vault_path must be under tenants/<the ONU's tenant>/",
    "ck_onus__wifi_password_vault_path": "wifi_password_vault_path must be under tenants/<the ONU's tenant>/",
    "ck_onus__loid": "loid must be 1 to 64 characters",
    "ck_radacct__acctinputoctets": "acctinputoctets and acctoutputoctets must be at least 0",
    "ck_radius_coa_queue__subscriber_id": "subscriber_id, username or radacctid must be given",
    "ck_service_activations__steps_completed": "steps_completed must be a JSON array",
    "ck_splitters__parent_output_port": (
        "parent_output_port must be given (1 or more) with parent_splitter_id, and only with it"
    ),
    "ck_splitters__parent_splitter_id": "parent_splitter_id must not be the splitter itself",
    "ck_splitters__pon_port_id": (
        "pon_port_id and parent_splitter_id exclude each other: a splitter is fed from a PON port or from a "
        "parent splitter"
    ),
    "ck_splitters__ports_used": "ports_used must be at least 0 and at most output_ports",
    "ck_subscriber_usage_daily__input_octets": "input_octets and output_octets must be at least 0",
    "ck_subscribers__pppoe_password": ("pppoe_password is not stored here: the credential lives in the secret store"),
    "ck_tenants__current_subscribers": "usage counters must be at least 0",
    "ck_tenants__max_subscribers": "limits must be at least 0",
    "ck_tenants__radius_walled_garden_download_kbps": (
        "radius_walled_garden_download_kbps and radius_walled_garden_upload_kbps must be between 8 and 10000000"
    ),
    "ck_tenants__settings": "settings and features must be JSON objects",
    "ck_users__mfa_recovery_codes": "mfa_recovery_codes must be a JSON array",
    "ck_users__roles": "roles must be a list of tenant_admin, noc_engineer, support_agent, field_tech",
    "ck_vpn_tunnels__data_rx_bytes": "data_rx_bytes and data_tx_bytes must be at least 0",
    "ck_vpn_tunnels__public_key": "public_key must be a WireGuard key (44 characters of base64)",
    "ck_wireless_sectors__coverage_area_geojson": "coverage_area_geojson must be a GeoJSON Polygon or MultiPolygon",
    "ck_wireless_sectors__current_subscribers": (
        "current_subscribers must be at least 0 and at most max_subscribers (the sector is full)"
    ),
    "ck_subscriber_plan_history__valid_to": "valid_to must be after valid_from",
    "ck_billing_settings__endpoint_vault_path": "endpoint_vault_path must be under tenants/<the row's tenant>/",
    "ck_billing_cycles__cycle": "cycle must be the first day of a month",
    "ck_billing_cycles__ends_at": "ends_at must be after starts_at",
    "ck_webhook_endpoints__event_types": "event_types must be a JSON array",
    "ck_webhook_endpoints__secret_vault_path": "secret_vault_path must be under tenants/<the row's tenant>/",
    "ck_webhook_endpoints__previous_secret_vault_path": (
        "previous_secret_vault_path must be under tenants/<the row's tenant>/"
    ),
}

_NAME = re.compile(r"^ck_(?P<table>[a-z0-9_]+?)__(?P<column>[a-z0-9_]+)$")


def rule_for(table: str, column: str) -> Rule | None:
    return RULES.get(f"ck_{table}__{column}")


def words(constraint: str) -> str | None:
    """The rule a named constraint enforces, in words, or None for a name that is not ours."""
    if constraint in WORDS:
        return WORDS[constraint]
    m = _NAME.match(constraint)
    if m is None:
        return None
    rule = RULES.get(constraint)
    if rule is not None:
        return rule.words(m.group("column"))
    enum = COLUMN_ENUMS.get((m.group("table"), m.group("column")))
    if enum is not None:
        return Rule(values=tuple(str(v) for v in enum)).words(m.group("column"))
    return None
