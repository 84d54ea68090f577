"""Who may do what: the permission matrix for tenant staff roles (rendered in docs/permissions.md).

A permission is ``(resource, action)``. Actions: read, create, update, delete, and a few named ones
(``update_installation`` — a limited update —, ``suspend``, ``include_deleted``, ``disconnect`` a RADIUS
session, ``reveal_secret`` — show a write-only credential —). Tenant isolation is
not a permission: another tenant's objects are simply not found.
"""

from __future__ import annotations

from ispops.auth.principal import Principal
from ispops.errors import PermissionDenied

ADMIN, NOC, SUPPORT, FIELD = "tenant_admin", "noc_engineer", "support_agent", "field_tech"
ROLES = (ADMIN, NOC, SUPPORT, FIELD)
EVERYONE = frozenset(ROLES)


def _m(
    read: frozenset[str] | set[str] = EVERYONE,
    write: set[str] | None = None,
    delete: set[str] | None = None,
    **extra: set[str],
) -> dict[str, frozenset[str]]:
    """Admins can always write and delete; ``write`` lists who else may create and update."""
    writers = frozenset({ADMIN} | (write or set()))
    out = {
        "read": frozenset(read) | {ADMIN},
        "create": writers,
        "update": writers,
        "delete": frozenset({ADMIN} | (delete or set())),
    }
    out.update({k: frozenset({ADMIN} | v) for k, v in extra.items()})
    return out


NETWORK = {NOC}
MATRIX: dict[str, dict[str, frozenset[str]]] = {
    "users": _m(read={ADMIN}),
    "audit_events": {"read": frozenset({ADMIN})},
    "customers": _m(write={SUPPORT}),
    "subscribers": _m(
        write={NOC, SUPPORT},
        suspend={NOC, SUPPORT},
        update_installation={FIELD},
        test_credentials={NOC, SUPPORT, FIELD},
    ),
    "subscriber_usage_daily": {"read": frozenset({ADMIN, NOC, SUPPORT})},
    "bandwidth_profiles": _m(write=NETWORK),
    # reveal_secret: POST /api/v1/<name>/{id}/reveal-secret, the write-only credentials (ispops.api.reveal)
    "nas": _m(read={NOC}, write=NETWORK, delete=NETWORK, reveal_secret=NETWORK),
    "radcheck": _m(read={NOC}, write=NETWORK, delete=NETWORK),
    "radreply": _m(read={NOC}, write=NETWORK, delete=NETWORK),
    # disconnect: POST /api/v1/radius/sessions/{radacctid}/disconnect (ispops.radius.coa_api);
    # close: POST /api/v1/radius/sessions/{radacctid}/close (ispops.radius.api), nothing sent to the NAS
    "radacct": {
        "read": frozenset({ADMIN, NOC, SUPPORT}),
        "disconnect": frozenset({ADMIN, NOC, SUPPORT}),
        "close": frozenset({ADMIN, NOC, SUPPORT}),
    },
    "radius_coa_attempts": {"read": frozenset({ADMIN, NOC, SUPPORT})},
    "ip_pools": _m(read={NOC, SUPPORT}, write=NETWORK, delete=NETWORK),
    # no delete: an allocation is released and kept as history (POST .../release), never deleted
    "ip_allocations": {k: v for k, v in _m(read={NOC, SUPPORT}, write=NETWORK).items() if k != "delete"},
    "devices": _m(write=NETWORK, delete=NETWORK, reveal_secret=NETWORK),
    "vpn_tunnels": _m(read={NOC}, write=NETWORK, delete=NETWORK),
    "olts": _m(write=NETWORK, delete=NETWORK),
    "olt_pon_ports": _m(write=NETWORK, delete=NETWORK),
    # update also covers the ONU actions: POST /api/v1/onus/{id}/authorise, deauthorise, reboot, replace,
    # move, retire and POST /api/v1/onus/authorise (ispops.ftth.onus_api)
    "onus": _m(write={NOC, FIELD}, delete=NETWORK),
    "splitters": _m(write={NOC, FIELD}, delete=NETWORK),
    "fiber_cables": _m(write={NOC, FIELD}, delete=NETWORK),
    "fiber_closures": _m(write={NOC, FIELD}, delete=NETWORK),
    # made with their cable (or added to it); never deleted on their own
    "fiber_strands": {k: v for k, v in _m(write={NOC, FIELD}).items() if k != "delete"},
    "fiber_links": _m(write={NOC, FIELD}, delete={NOC, FIELD}),
    "fiber_splices": _m(write={NOC, FIELD}, delete={NOC, FIELD}),
    "fiber_connectors": _m(write={NOC, FIELD}, delete={NOC, FIELD}),
    # GET/PUT /api/v1/ftth/settings/classes: what technologies and optical classes imply (ispops.ftth.onus_api)
    "ftth_class_settings": {"read": EVERYONE, "update": frozenset({ADMIN, NOC})},
    # GET/PUT /api/v1/ftth/settings/loss: the tenant's loss model (ispops.ftth.plant_api)
    "ftth_loss_settings": {"read": EVERYONE, "update": frozenset({ADMIN, NOC})},
    "wireless_towers": _m(write=NETWORK, delete=NETWORK),
    "wireless_sectors": _m(write=NETWORK, delete=NETWORK),
    "wireless_subscribers": _m(write={NOC, FIELD}, delete=NETWORK),
    # record: POST /api/v1/wireless/leads (check an address for a caller and keep it; ispops.wireless.api)
    "wireless_leads": {"read": frozenset({ADMIN, NOC, SUPPORT}), "record": frozenset({ADMIN, NOC, SUPPORT})},
    # push: POST /api/v1/wireless/cpe-readings (a collector's token)
    "wireless_cpe_readings": {"read": EVERYONE, "push": frozenset({ADMIN, NOC})},
    "wireless_cpe_alarms": {"read": EVERYONE},
    # GET/PUT /api/v1/wireless/settings: the caller's own tenant (ispops.wireless.api)
    "wireless_settings": {"read": frozenset({ADMIN, NOC}), "update": frozenset({ADMIN})},
    # the orders' rows, read through the generic routes; they are made, cancelled and retried as "orders"
    "service_activations": {"read": frozenset({ADMIN, NOC, SUPPORT})},
    # /api/v1/orders (ispops.lifecycle.api): create = submit, cancel and retry
    "orders": {"read": frozenset({ADMIN, NOC, SUPPORT}), "create": frozenset({ADMIN, NOC, SUPPORT})},
    # create also covers POST /api/v1/ansible_jobs/{id}/cancel and /retry (ispops.automation.api)
    "ansible_jobs": {"read": frozenset({ADMIN, NOC}), "create": frozenset({ADMIN, NOC})},
    "automation_playbooks": {k: v for k, v in _m(read={NOC}).items() if k != "update"},
    "automation_schedules": _m(read={NOC}, write=NETWORK, delete=NETWORK),
    "automation_endpoints": _m(read={NOC}),
    "netbox_syncs": {"read": frozenset({ADMIN, NOC}), "create": frozenset({ADMIN, NOC})},
    "netbox_mappings": {"read": frozenset({ADMIN, NOC})},
    # Billing hand-off (ispops.billing.api). read also covers the cycle exports (usage, plan-history) and a
    # subscriber's cycle; push: POST /api/v1/billing/cycles/{cycle}/push; configure: GET/PUT
    # /api/v1/billing/settings (PUT) and /api/v1/billing/endpoint (the URL and token of the billing system)
    "subscriber_plan_history": {"read": frozenset({ADMIN, NOC, SUPPORT})},
    "billing_cycles": {
        "read": frozenset({ADMIN, SUPPORT}),
        "push": frozenset({ADMIN}),
        "configure": frozenset({ADMIN}),
    },
    "billing_pushes": {"read": frozenset({ADMIN})},
    # /api/v1/webhook_endpoints, webhook_deliveries, webhook_dead_letters, events, event_types (ispops.events.api):
    # manage = create, update, delete, rotate a secret, replay
    "webhook_endpoints": {"read": frozenset({ADMIN}), "manage": frozenset({ADMIN})},
    # GET/PATCH /api/v1/tenant/radius-policy: the caller's own tenant (ispops.tenancy.radius_policy)
    "tenant_radius_policy": {"read": frozenset({ADMIN, NOC}), "update": frozenset({ADMIN})},
}
# Seeing soft-deleted rows (``?include_deleted=true``) is for tenant admins only.
INCLUDE_DELETED = frozenset({ADMIN})


def allowed(principal: Principal, resource: str, action: str) -> bool:
    if principal.is_operator:
        return False  # operators act on tenants through /api/v1/tenants, not on a tenant's data
    if action == "include_deleted":
        return bool(principal.roles & INCLUDE_DELETED)
    return bool(principal.roles & MATRIX.get(resource, {}).get(action, frozenset()))


def require(principal: Principal, resource: str, action: str) -> None:
    if not allowed(principal, resource, action):
        raise PermissionDenied(f"your role may not {action.replace('_', ' ')} {resource}")


def render_markdown() -> str:
    """The matrix as a Markdown table (docs/permissions.md embeds it; a test keeps them equal)."""
    actions = ["read", "create", "update", "delete", "update_installation", "suspend"]
    actions += sorted({a for perms in MATRIX.values() for a in perms} - set(actions))  # named actions
    short = {ADMIN: "A", NOC: "N", SUPPORT: "S", FIELD: "F"}
    lines = ["| resource | " + " | ".join(actions) + " |", "|---|" + "---|" * len(actions)]
    for resource, perms in MATRIX.items():
        cells = []
        for action in actions:
            who = perms.get(action, frozenset())
            cells.append(" ".join(short[r] for r in ROLES if r in who) or "—")
        lines.append(f"| {resource} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
