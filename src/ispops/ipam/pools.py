"""Pool geometry: what a CIDR, a gateway, a range and a delegated prefix length mean, checked in Python.

Pure functions over ``ipaddress`` (no database). A pool hands out *slots*: single addresses, or for an
IPv6 prefix-delegation pool, prefixes of ``delegated_prefix_length`` bits. Errors name the field (422).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from ispops.errors import ValidationFailed

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
MAX_TOTAL = 2**63 - 1  # ip_pools.total_ips is a bigint
MAX_DELEGATED_PREFIX = 64


def _invalid(field: str, message: str) -> ValidationFailed:
    return ValidationFailed(f"ip_pools.{field}: {message}", table="ip_pools", field=field)


@dataclass(frozen=True)
class PoolPlan:
    """A validated pool: what goes into ``ip_pools``."""

    network_cidr: str
    gateway: str | None
    start_ip: str
    end_ip: str
    total_ips: int
    delegated_prefix_length: int | None


@dataclass(frozen=True)
class Geometry:
    """Slots of a network: slot ``i`` starts at ``base + i * step``."""

    network: IPNetwork
    slot_bits: int  # prefix length of one slot (32/128 for addresses)

    @property
    def step(self) -> int:
        return 1 << (self.network.max_prefixlen - self.slot_bits)

    @property
    def base(self) -> int:
        return int(self.network.network_address)

    @property
    def slots(self) -> int:
        return 1 << (self.slot_bits - self.network.prefixlen)

    @property
    def delegated(self) -> bool:
        return self.slot_bits < self.network.max_prefixlen

    def address(self, index: int) -> IPAddress:
        return ipaddress.ip_address(self.base + index * self.step)

    def text(self, index: int) -> str:
        """The slot as stored in inet columns: ``10.0.0.5`` or ``2001:db8:0:100::/56``."""
        addr = self.address(index)
        return f"{addr}/{self.slot_bits}" if self.delegated else str(addr)

    def index_of(self, addr: IPAddress) -> int:
        return (int(addr) - self.base) // self.step

    def usable(self) -> tuple[int, int]:
        """First and last slot a pool may hand out by default."""
        last = self.slots - 1
        if self.delegated or last == 0:
            return 0, last
        if self.network.version == 4:
            # RFC 3021: both addresses of a /31 are hosts; otherwise skip network and broadcast.
            return (0, last) if last == 1 else (1, last - 1)
        return (0, last) if last == 1 else (1, last)  # IPv6: skip the subnet-router anycast (RFC 4291)


def parse_network(value: str) -> IPNetwork:
    try:
        return ipaddress.ip_network(value.strip(), strict=True)
    except ValueError as exc:
        raise _invalid("network_cidr", f"not a network in CIDR notation ({exc})") from None


def _address(field: str, value: str, network: IPNetwork) -> IPAddress:
    try:
        addr = ipaddress.ip_interface(value.strip()).ip
    except ValueError:
        raise _invalid(field, f"{value!r} is not an IP address") from None
    if addr.version != network.version:
        raise _invalid(field, f"{addr} is not an IPv{network.version} address like the network {network}")
    if addr not in network:
        raise _invalid(field, f"{addr} is outside the network {network}")
    return addr


def _slot(field: str, value: str, geo: Geometry) -> int:
    """The slot a start/end value names; for a delegation pool it must be a prefix boundary."""
    addr = _address(field, value, geo.network)
    if geo.delegated:
        if "/" in value and ipaddress.ip_interface(value.strip()).network.prefixlen != geo.slot_bits:
            raise _invalid(field, f"{value} is not a /{geo.slot_bits} prefix")
        if (int(addr) - geo.base) % geo.step:
            raise _invalid(field, f"{addr} is not on a /{geo.slot_bits} boundary")
    return geo.index_of(addr)


def geometry(network_cidr: str, delegated_prefix_length: int | None) -> Geometry:
    network = parse_network(network_cidr)
    if delegated_prefix_length is None:
        return Geometry(network, network.max_prefixlen)
    if network.version != 6:
        raise _invalid("delegated_prefix_length", "prefix delegation pools are IPv6")
    if not network.prefixlen < delegated_prefix_length <= MAX_DELEGATED_PREFIX:
        raise _invalid(
            "delegated_prefix_length",
            f"must be longer than the network's /{network.prefixlen} and at most /{MAX_DELEGATED_PREFIX}",
        )
    return Geometry(network, delegated_prefix_length)


def plan_pool(
    *,
    network_cidr: str,
    gateway: str | None = None,
    start_ip: str | None = None,
    end_ip: str | None = None,
    delegated_prefix_length: int | None = None,
) -> PoolPlan:
    """Validate a pool and fill in its defaults: the usable slots, minus the gateway's.

    When the gateway sits inside the usable slots the default range is the longer side of it (the
    usual .1 or last-host gateway leaves one contiguous range).
    """
    geo = geometry(network_cidr, delegated_prefix_length)
    gw = _address("gateway", gateway, geo.network) if gateway else None
    gw_slot = geo.index_of(gw) if gw is not None else None
    lo, hi = geo.usable()
    if start_ip is not None:
        lo = _slot("start_ip", start_ip, geo)
    if end_ip is not None:
        hi = _slot("end_ip", end_ip, geo)
    if gw_slot is not None and lo <= gw_slot <= hi:
        if start_ip is not None and end_ip is not None:
            raise _invalid("gateway", f"{gw} is inside the range {geo.text(lo)} - {geo.text(hi)}")
        below, above = (lo, gw_slot - 1), (gw_slot + 1, hi)
        if start_ip is not None:
            lo, hi = below if below[1] >= below[0] else above
        elif end_ip is not None:
            lo, hi = above if above[1] >= above[0] else below
        else:
            lo, hi = above if above[1] - above[0] >= below[1] - below[0] else below
    if hi < lo:
        field = "end_ip" if end_ip is not None else "start_ip" if start_ip is not None else "network_cidr"
        raise _invalid(field, f"no addresses to hand out (from {geo.text(lo)} to {geo.text(hi)})")
    total = hi - lo + 1
    if total > MAX_TOTAL:
        raise _invalid("end_ip", f"the range holds {total} addresses; at most {MAX_TOTAL} fit (give start_ip/end_ip)")
    return PoolPlan(
        network_cidr=str(geo.network),
        gateway=str(gw) if gw is not None else None,
        start_ip=geo.text(lo),
        end_ip=geo.text(hi),
        total_ips=total,
        delegated_prefix_length=delegated_prefix_length,
    )


def check_gateway(*, network_cidr: str, gateway: str, start_ip: str, end_ip: str) -> str:
    """A new gateway for an existing pool: in the network, outside the range. Returns it normalised."""
    network = parse_network(network_cidr)
    gw = _address("gateway", gateway, network)
    first = int(ipaddress.ip_interface(start_ip).network.network_address)
    last = int(ipaddress.ip_interface(end_ip).network.broadcast_address)
    if first <= int(gw) <= last:
        raise _invalid("gateway", f"{gw} is inside the range {start_ip} - {end_ip}")
    return str(gw)


def requested_slot(
    *, value: str, network_cidr: str, start_ip: str, end_ip: str, delegated_prefix_length: int | None, pool: str
) -> str:
    """A requested address (or delegated prefix) inside the pool's range, as stored; 422 naming ip_address."""
    geo = geometry(network_cidr, delegated_prefix_length)

    def invalid(message: str) -> ValidationFailed:
        return ValidationFailed(f"ip_allocations.ip_address: {message}", table="ip_allocations", field="ip_address")

    try:
        iface = ipaddress.ip_interface(value.strip())
    except ValueError:
        raise invalid(f"{value!r} is not an IP address") from None
    if iface.version != geo.network.version:
        raise invalid(f"pool {pool} hands out IPv{geo.network.version} addresses, not {iface.ip}")
    if geo.delegated:
        if "/" in value and iface.network.prefixlen != geo.slot_bits:
            raise invalid(f"pool {pool} delegates /{geo.slot_bits} prefixes, not /{iface.network.prefixlen}")
        if (int(iface.ip) - geo.base) % geo.step:
            raise invalid(f"{iface.ip} is not on a /{geo.slot_bits} boundary")
    first = int(ipaddress.ip_interface(start_ip).ip)
    last = int(ipaddress.ip_interface(end_ip).ip)
    if not first <= int(iface.ip) <= last:
        raise invalid(f"{iface.ip} is outside pool {pool} ({start_ip} - {end_ip})")
    return geo.text(geo.index_of(iface.ip))
