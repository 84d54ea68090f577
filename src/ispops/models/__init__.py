"""ORM models of the ispops schema. The migrations own the schema; these mirror it column for column."""

from ispops.models.automation import (
    AnsibleJob,
    AnsibleJobEvent,
    AutomationEndpoint,
    AutomationPlaybook,
    AutomationSchedule,
    NetboxMapping,
    NetboxSync,
    ServiceActivation,
)
from ispops.models.base import Base
from ispops.models.billing import BillingCycle, BillingPush, BillingSettings, SubscriberPlanHistory
from ispops.models.events import OutboxEvent, WebhookDelivery, WebhookDeliveryAttempt, WebhookEndpoint
from ispops.models.ftth import FiberCable, FtthSettings, Olt, OltPonPort, Onu, Splitter
from ispops.models.ftth_optics import (
    FtthAlarm,
    OnuOpticalDaily,
    OnuOpticalDirtyHour,
    OnuOpticalHourly,
    OnuOpticalReading,
)
from ispops.models.ftth_plant import FiberClosure, FiberConnector, FiberLink, FiberSplice, FiberStrand
from ispops.models.ftth_provisioning import OnuProvisioningJob
from ispops.models.identity import (
    AuditEvent,
    IpLoginFailure,
    LoginFailure,
    OperatorRefreshToken,
    PlatformAuditEvent,
    PlatformOperator,
    RefreshToken,
)
from ispops.models.imports import ImportStatus, SubscriberImport
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
from ispops.models.wireless import (
    WirelessCpeAlarm,
    WirelessCpeReading,
    WirelessLead,
    WirelessSector,
    WirelessSettings,
    WirelessSubscriber,
    WirelessTower,
)

__all__ = [
    "AnsibleJob",
    "AnsibleJobEvent",
    "AuditEvent",
    "AutomationEndpoint",
    "AutomationPlaybook",
    "AutomationSchedule",
    "BandwidthProfile",
    "Base",
    "BillingCycle",
    "BillingPush",
    "BillingSettings",
    "Customer",
    "Device",
    "DeviceInterface",
    "FiberCable",
    "FiberClosure",
    "FiberConnector",
    "FiberLink",
    "FiberSplice",
    "FiberStrand",
    "FtthAlarm",
    "FtthSettings",
    "ImportStatus",
    "IpAllocation",
    "IpLoginFailure",
    "IpPool",
    "IpPoolFree",
    "LoginFailure",
    "Nas",
    "NetboxMapping",
    "NetboxSync",
    "Olt",
    "OltPonPort",
    "Onu",
    "OnuOpticalDaily",
    "OnuOpticalDirtyHour",
    "OnuOpticalHourly",
    "OnuOpticalReading",
    "OnuProvisioningJob",
    "OperatorRefreshToken",
    "OutboxEvent",
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
    "SubscriberImport",
    "SubscriberPlanHistory",
    "SubscriberUsageDaily",
    "Tenant",
    "User",
    "VpnTunnel",
    "WebhookDelivery",
    "WebhookDeliveryAttempt",
    "WebhookEndpoint",
    "WirelessCpeAlarm",
    "WirelessCpeReading",
    "WirelessLead",
    "WirelessSector",
    "WirelessSettings",
    "WirelessSubscriber",
    "WirelessTower",
]
