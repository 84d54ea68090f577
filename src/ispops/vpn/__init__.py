"""WireGuard management tunnels to devices: keys, addresses, peer configs, handshake status."""
