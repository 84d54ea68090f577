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
from ispops.models.network import Device, DeviceInterface, IpAllocation, IpPool, IpPoolFree, VpnTunnel
from ispops.models.radius import (
    Nas,
    RadAcct,
    RadCheck,
    RadiusCoaAttempt,
    RadiusCoaQueue,
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
    "DeviceInterface",
    "FiberCable",
    "IpAllocation",
    "IpLoginFailure",
    "IpPool",
    "IpPoolFree",
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
    "RadiusCoaQueue",
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
