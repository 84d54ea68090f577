"""Parsing `wg show dump` and judging a peer up or down."""

from __future__ import annotations

import datetime as dt

import pytest

from ispops.vpn import keys
from ispops.vpn.handshakes import DumpError, parse_dump

NOW = dt.datetime(2026, 11, 24, 12, 0, tzinfo=dt.UTC)
HUB = keys.generate()
PEER = keys.generate().public_key
OTHER = keys.generate().public_key


def dump(handshake: int, *, rx: int = 1500, tx: int = 9000, all_prefix: str = "") -> str:
    lines = [
        f"{HUB.private_key}\t{HUB.public_key}\t51820\toff",
        f"{PEER}\t(none)\t198.51.100.7:40001\t10.99.0.3/32\t{handshake}\t{rx}\t{tx}\t25",
        f"{OTHER}\t(none)\t(none)\t10.99.0.4/32,fd00::4/128\t0\t0\t0\toff",
    ]
    return "\n".join(all_prefix + line for line in lines) + "\n"


def test_parse_single_interface_dump() -> None:
    peers = parse_dump(dump(int(NOW.timestamp()) - 30))
    assert [p.public_key for p in peers] == [PEER, OTHER]
    first, second = peers
    assert first.endpoint == "198.51.100.7:40001"
    assert first.latest_handshake == NOW - dt.timedelta(seconds=30)
    assert (first.rx_bytes, first.tx_bytes) == (1500, 9000)
    assert first.is_up(NOW)
    assert second.endpoint is None and second.latest_handshake is None
    assert second.allowed_ips == ("10.99.0.4/32", "fd00::4/128")
    assert not second.is_up(NOW)


def test_the_hub_private_key_is_not_kept() -> None:
    peers = parse_dump(dump(0))
    assert all(HUB.private_key not in repr(p) for p in peers)


def test_parse_all_interfaces_dump() -> None:
    peers = parse_dump(dump(int(NOW.timestamp()), all_prefix="wg0\t"))
    assert {p.interface for p in peers} == {"wg0"}
    assert len(peers) == 2


def test_stale_handshake_is_down() -> None:
    [peer, _] = parse_dump(dump(int(NOW.timestamp()) - 181))
    assert not peer.is_up(NOW)
    [peer, _] = parse_dump(dump(int(NOW.timestamp()) - 180))
    assert peer.is_up(NOW)


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("", 1),
        ("hello world\n", 1),
        (f"{PEER}\t(none)\t(none)\t(none)\tsoon\t0\t0\toff\n", 1),
        (f"{PEER}\t(none)\t(none)\t(none)\t0\t-1\t0\toff\n", 1),
        (f"{PEER}\t(none)\t(none)\t(none)\t0\t99999999999999999999\t0\toff\n", 1),
        (f"{PEER}\t(none)\t(none)\t(none)\t99999999999999\t0\t0\toff\n", 1),
        (f"{HUB.private_key}\t{HUB.public_key}\t51820\toff\nnot-a-key\t(none)\t(none)\t(none)\t0\t0\t0\toff\n", 2),
        (f"{HUB.private_key}\tnope\t51820\toff\n", 1),
    ],
    ids=["empty", "words", "handshake", "negative", "huge-counter", "far-future", "peer-key", "interface-key"],
)
def test_malformed_dumps(text: str, line: int) -> None:
    with pytest.raises(DumpError) as caught:
        parse_dump(text)
    assert caught.value.line == line
