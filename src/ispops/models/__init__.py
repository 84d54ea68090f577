"""ORM models of the ispops schema. The migrations own the schema; these mirror it column for column."""

from ispops.models.automation import AnsibleJob, ServiceActivation
from ispops.models.base import Base
from ispops.models.ftth import FiberCable, Olt, Onu, Splitter
from ispops.models.network import Device, IpAllocation, IpPool, VpnTunnel
from ispops.models.radius import Nas, RadAcct, RadCheck, RadPostAuth, RadReply
from ispops.models.subscribers import BandwidthProfile, Subscriber
from ispops.models.tenancy import Customer, Tenant, User
from ispops.models.wireless import WirelessSector, WirelessSubscriber, WirelessTower

__all__ = [
    "AnsibleJob",
    "BandwidthProfile",
    "Base",
    "Customer",
    "Device",
    "FiberCable",
    "IpAllocation",
    "IpPool",
    "Nas",
    "Olt",
    "Onu",
    "RadAcct",
    "RadCheck",
    "RadPostAuth",
    "RadReply",
    "ServiceActivation",
    "Splitter",
    "Subscriber",
    "Tenant",
    "User",
    "VpnTunnel",
    "WirelessSector",
    "WirelessSubscriber",
    "WirelessTower",
]
