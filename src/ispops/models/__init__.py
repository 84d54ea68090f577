"""ORM models of the ispops schema. The migrations own the schema; these mirror it column for column."""

from ispops.models.automation import AnsibleJob, ServiceActivation
from ispops.models.base import Base
from ispops.models.ftth import FiberCable, Olt, Onu, Splitter
from ispops.models.identity import (
    AuditEvent,
    IpLoginFailure,
    LoginFailure,
    OperatorRefreshToken,
    PlatformAuditEvent,
    PlatformOperator,
    RefreshToken,
)
from ispops.models.network import Device, IpAllocation, IpPool, VpnTunnel
from ispops.models.radius import (
    Nas,
    RadAcct,
    RadCheck,
    RadiusCoaAttempt,
    RadPostAuth,
    RadReply,
    SubscriberUsageDaily,
)
from ispops.models.subscribers import BandwidthProfile, Subscriber
from ispops.models.tenancy import Customer, Tenant, User
from ispops.models.wireless import WirelessSector, WirelessSubscriber, WirelessTower

__all__ = [
    "AnsibleJob",
    "AuditEvent",
    "BandwidthProfile",
    "Base",
    "Customer",
    "Device",
    "FiberCable",
    "IpAllocation",
    "IpLoginFailure",
    "IpPool",
    "LoginFailure",
    "Nas",
    "Olt",
    "Onu",
    "OperatorRefreshToken",
    "PlatformAuditEvent",
    "PlatformOperator",
    "RadAcct",
    "RadCheck",
    "RadPostAuth",
    "RadReply",
    "RadiusCoaAttempt",
    "RefreshToken",
    "ServiceActivation",
    "Splitter",
    "Subscriber",
    "SubscriberUsageDaily",
    "Tenant",
    "User",
    "VpnTunnel",
    "WirelessSector",
    "WirelessSubscriber",
    "WirelessTower",
]
