"""IP address management: pools, allocations, reservations, DHCP-style leases (issue 5)."""
