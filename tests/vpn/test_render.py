"""Keys and rendered configs, checked with the real WireGuard tools."""

from __future__ import annotations

import subprocess
import uuid
from pathlib import Path

import pytest

from ispops.vpn import keys
from ispops.vpn.handshakes import parse_dump
from ispops.vpn.render import ConfigFormat, Endpoint, PeerConfig, parse_endpoint, render
from tests.vpn.conftest import HUB_KEY, requires_wg
from tests.vpn.wg import load_config, requires_wireguard_go


def peer(private_key: str, *, name: str = "wg-router-1", endpoint: str = "127.0.0.1:51820") -> PeerConfig:
    return PeerConfig(
        tunnel_id=uuid.UUID("00000000-0000-4000-8000-000000000001"),
        tunnel_name=name,
        vpn_ip="10.99.0.3",
        vpn_network="10.99.0.0/24",
        server_public_key=HUB_KEY,
        server_endpoint=parse_endpoint(endpoint),
        peer_public_key=keys.public_key_of(private_key),
        persistent_keepalive=25,
        private_key=private_key,
    )


def test_generated_keys_are_wireguard_keys() -> None:
    pair = keys.generate()
    assert keys.is_key(pair.private_key) and keys.is_key(pair.public_key)
    assert keys.public_key_of(pair.private_key) == pair.public_key
    assert pair.private_key not in repr(pair)
    assert keys.generate().private_key != pair.private_key


@requires_wg
def test_public_key_matches_wg_pubkey() -> None:
    pair = keys.generate()
    out = subprocess.run(["wg", "pubkey"], input=pair.private_key + "\n", capture_output=True, text=True, check=True)
    assert out.stdout.strip() == pair.public_key


def test_wg_quick_config() -> None:
    pair = keys.generate()
    text = render(peer(pair.private_key), ConfigFormat.WG_QUICK)
    assert f"PrivateKey = {pair.private_key}\n" in text
    assert "Address = 10.99.0.3/24\n" in text
    assert f"PublicKey = {HUB_KEY}\n" in text
    assert "Endpoint = 127.0.0.1:51820\n" in text
    assert "AllowedIPs = 10.99.0.0/24\n" in text
    assert "PersistentKeepalive = 25\n" in text


@requires_wg
def test_wg_quick_strip_accepts_it(tmp_path: Path) -> None:
    pair = keys.generate()
    conf = tmp_path / "wg0.conf"
    conf.write_text(render(peer(pair.private_key), ConfigFormat.WG_QUICK))
    conf.chmod(0o600)
    out = subprocess.run(["wg-quick", "strip", str(conf)], capture_output=True, text=True, check=True)
    assert "Address" not in out.stdout  # wg-quick's own keys are stripped, wg's remain
    assert f"PrivateKey = {pair.private_key}" in out.stdout


@requires_wireguard_go
def test_wg_loads_the_config_and_dumps_it(tmp_path: Path) -> None:
    """`wg setconf` (the strict parser) accepts the config; its dump parses back to our peer."""
    pair = keys.generate()
    result = load_config(render(peer(pair.private_key), ConfigFormat.WG_QUICK), tmp_path)
    assert result.returncode == 0, result.stderr
    [hub] = parse_dump(result.stdout)
    assert hub.public_key == HUB_KEY
    assert hub.endpoint == "127.0.0.1:51820"
    assert hub.allowed_ips == ("10.99.0.0/24",)
    assert hub.latest_handshake is None
    assert pair.public_key in result.stdout.splitlines()[0]  # the interface line: our key pair


@requires_wireguard_go
def test_wg_rejects_a_broken_config(tmp_path: Path) -> None:
    """The check above is a real one: a bad key fails."""
    result = load_config("[Interface]\nPrivateKey = not-a-key\n", tmp_path)
    assert result.returncode != 0
    assert "Key is not the correct length" in result.stderr


def test_routeros_script() -> None:
    pair = keys.generate()
    text = render(peer(pair.private_key, endpoint="[2001:db8::1]:51820"), ConfigFormat.ROUTEROS)
    lines = [line for line in text.splitlines() if not line.startswith("#")]
    assert lines[0].startswith(f'/interface wireguard add name=wg-ispops private-key="{pair.private_key}"')
    assert f'public-key="{HUB_KEY}"' in lines[1]
    assert "endpoint-address=2001:db8::1 endpoint-port=51820" in lines[1]
    assert "allowed-address=10.99.0.0/24 persistent-keepalive=25s" in lines[1]
    assert lines[2].startswith("/ip address add address=10.99.0.3/24 interface=wg-ispops")


def test_hub_peer_has_no_private_key() -> None:
    pair = keys.generate()
    text = render(peer(pair.private_key), ConfigFormat.HUB_PEER)
    assert pair.private_key not in text
    assert f"PublicKey = {pair.public_key}\n" in text
    assert "AllowedIPs = 10.99.0.3/32\n" in text


@pytest.mark.parametrize("fmt", [ConfigFormat.WG_QUICK, ConfigFormat.ROUTEROS, ConfigFormat.HUB_PEER])
def test_names_cannot_inject_lines_or_commands(fmt: ConfigFormat) -> None:
    pair = keys.generate()
    evil = 'x"\n[Peer]\nPublicKey = AAAA; /system reset-configuration $x \\'
    text = render(peer(pair.private_key, name=evil), fmt)
    clean = render(peer(pair.private_key), fmt)
    assert len(text.splitlines()) == len(clean.splitlines())
    assert "[Peer]\nPublicKey = AAAA" not in text
    assert '"' not in text.splitlines()[0] and "$" not in text and ";" not in text


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("vpn.isp.example:51820", Endpoint("vpn.isp.example", 51820)),
        ("203.0.113.7:1", Endpoint("203.0.113.7", 1)),
        ("[2001:db8::1]:65535", Endpoint("2001:db8::1", 65535)),
    ],
)
def test_endpoints(value: str, expected: Endpoint) -> None:
    assert parse_endpoint(value) == expected
    assert str(expected) == value


@pytest.mark.parametrize(
    "value",
    [
        "",
        "host",
        "host:",
        "host:0",
        "host:65536",
        "host:x",
        "[::1]",
        "[nope]:1",
        "a b:1",
        "a\n:1",
        "-a:1",
        "a..b:1",
        "host:\uff11",
    ],
)
def test_bad_endpoints(value: str) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - the message varies by what is wrong
        parse_endpoint(value)
