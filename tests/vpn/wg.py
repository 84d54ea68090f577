"""Real WireGuard parsing: ``wg setconf`` on a userspace (wireguard-go) interface inside a private
network namespace, so nothing is sent anywhere and nothing on the host changes."""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
from pathlib import Path

import pytest

TOOLS = ("wg", "wg-quick", "wireguard-go", "unshare", "ip")

SCRIPT = r"""
set -e
export WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD=1
wireguard-go -f "$IFACE" >/dev/null 2>&1 &
GO=$!
trap 'kill $GO 2>/dev/null; wait $GO 2>/dev/null; rm -f "/var/run/wireguard/$IFACE.sock"' EXIT
i=0
while [ ! -S "/var/run/wireguard/$IFACE.sock" ]; do
  i=$((i + 1)); [ $i -le 100 ] || { echo "wireguard-go did not start" >&2; exit 3; }; sleep 0.05
done
wg-quick strip "$CONF" > "$CONF.stripped"
wg setconf "$IFACE" "$CONF.stripped"
wg show "$IFACE" dump
"""


def available() -> bool:
    return all(shutil.which(t) for t in TOOLS) and os.geteuid() == 0


# Outside CI a machine without the tools skips; in CI (which installs them, as root) they must run.
requires_wireguard_go = pytest.mark.skipif(
    not available() and not os.environ.get("CI"),
    reason="needs root and wireguard-tools, wireguard-go, unshare, ip (see .ci/run)",
)


def load_config(config: str, directory: Path) -> subprocess.CompletedProcess[str]:
    """Load a wg-quick config into a fresh interface; stdout is then its `wg show dump`."""
    iface = f"wgt{secrets.token_hex(4)}"
    conf = directory / f"{iface}.conf"
    conf.write_text(config)
    conf.chmod(0o600)
    env = {**os.environ, "IFACE": iface, "CONF": str(conf)}
    return subprocess.run(
        ["unshare", "-n", "sh", "-c", SCRIPT], capture_output=True, text=True, env=env, timeout=60, check=False
    )
