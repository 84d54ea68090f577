"""Radio families: which modulation and coding (MCS) an SNR allows, and the throughput it gives.

Built in: IEEE 802.11ac (VHT) and 802.11ax (HE), 800 ns guard interval, rates per spatial stream from the
standard's own arithmetic — data subcarriers x bits per subcarrier x coding rate ÷ symbol time (3.2 µs + GI
for ac; 12.8 µs + GI for ax) — so 802.11ac MCS 0 at 20 MHz is 52 x 1 x 1/2 ÷ 4.0 µs = 6.5 Mbit/s. The
minimum SNR per MCS is the usual planning figure (receivers differ by a few dB; vendors publish their own):
a tenant may replace or add families in ``wireless_settings.radio_tables`` (a *vendor table*), as

    {"airmax_ac": {"widths": {"20": 1, "40": 2, "80": 4},
                   "rows": [{"mcs": 0, "modulation": "BPSK 1/2", "min_snr_db": 4, "mbps_20mhz": 6.5}, ...]}}

where ``mbps_20mhz`` is the rate per spatial stream at 20 MHz and ``widths`` the factor per channel width
(MHz); a width missing from ``widths`` scales linearly from 20 MHz.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ispops.errors import ValidationFailed


@dataclass(frozen=True)
class McsRow:
    mcs: int
    modulation: str
    min_snr_db: float
    mbps_20mhz: float  # per spatial stream


@dataclass(frozen=True)
class RadioFamily:
    name: str
    rows: tuple[McsRow, ...]  # ascending min_snr_db
    widths: Mapping[int, float]

    def width_factor(self, width_mhz: int) -> float:
        return self.widths.get(width_mhz, width_mhz / 20.0)

    def best(self, snr_db: float) -> McsRow | None:
        """The fastest row the SNR allows (None: not even the most robust one)."""
        allowed = [r for r in self.rows if snr_db >= r.min_snr_db]
        return max(allowed, key=lambda r: r.mbps_20mhz) if allowed else None

    def phy_mbps(self, row: McsRow, width_mhz: int, streams: int) -> float:
        return row.mbps_20mhz * self.width_factor(width_mhz) * streams

    def snr_for(self, mbps: float, width_mhz: int, streams: int, efficiency: float) -> float | None:
        """The least SNR whose expected throughput (PHY x efficiency) reaches ``mbps``; None if none does."""
        fits = [r for r in self.rows if self.phy_mbps(r, width_mhz, streams) * efficiency >= mbps]
        return min(r.min_snr_db for r in fits) if fits else None

    @property
    def floor_snr_db(self) -> float:
        """The SNR the most robust MCS needs: the receiver's threshold for the link budget."""
        return min(r.min_snr_db for r in self.rows)


# (modulation, bits per subcarrier, coding rate)
_MODULATIONS = [
    ("BPSK 1/2", 1, 1 / 2),
    ("QPSK 1/2", 2, 1 / 2),
    ("QPSK 3/4", 2, 3 / 4),
    ("16-QAM 1/2", 4, 1 / 2),
    ("16-QAM 3/4", 4, 3 / 4),
    ("64-QAM 2/3", 6, 2 / 3),
    ("64-QAM 3/4", 6, 3 / 4),
    ("64-QAM 5/6", 6, 5 / 6),
    ("256-QAM 3/4", 8, 3 / 4),
    ("256-QAM 5/6", 8, 5 / 6),
    ("1024-QAM 3/4", 10, 3 / 4),
    ("1024-QAM 5/6", 10, 5 / 6),
]
# Minimum SNR (dB) per MCS index, a common planning table.
_MIN_SNR = [2.0, 5.0, 9.0, 11.0, 15.0, 18.0, 20.0, 25.0, 29.0, 31.0, 34.0, 37.0]


def _standard(name: str, mcs_count: int, subcarriers: Mapping[int, int], symbol_us: float) -> RadioFamily:
    base = subcarriers[20]
    rows = tuple(
        McsRow(i, _MODULATIONS[i][0], _MIN_SNR[i], round(base * _MODULATIONS[i][1] * _MODULATIONS[i][2] / symbol_us, 3))
        for i in range(mcs_count)
    )
    return RadioFamily(name, rows, {w: n / base for w, n in subcarriers.items()})


BUILT_IN: dict[str, RadioFamily] = {
    # 802.11ac: 52/108/234/468 data subcarriers at 20/40/80/160 MHz, 3.2 µs + 0.8 µs GI. (MCS 9 at 20 MHz
    # is not a valid VHT rate for one stream; planning tools keep it, and so do we.)
    "802.11ac": _standard("802.11ac", 10, {20: 52, 40: 108, 80: 234, 160: 468}, 4.0),
    # 802.11ax: 234/468/980/1960 data subcarriers, 12.8 µs + 0.8 µs GI.
    "802.11ax": _standard("802.11ax", 12, {20: 234, 40: 468, 80: 980, 160: 1960}, 13.6),
}


def vendor_family(name: str, spec: Any) -> RadioFamily:
    """A tenant's table (``radio_tables[name]``) as a family; 422 naming ``radio_tables`` when malformed."""
    try:
        rows = tuple(
            sorted(
                (
                    McsRow(int(r["mcs"]), str(r["modulation"]), float(r["min_snr_db"]), float(r["mbps_20mhz"]))
                    for r in spec["rows"]
                ),
                key=lambda r: r.min_snr_db,
            )
        )
        widths = {int(k): float(v) for k, v in dict(spec.get("widths", {})).items()}
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ValidationFailed(
            f"radio_tables.{name}: each row needs mcs, modulation, min_snr_db and mbps_20mhz ({exc})",
            field="radio_tables",
        ) from exc
    numbers = [n for r in rows for n in (r.min_snr_db, r.mbps_20mhz)] + list(widths.values())
    if not rows or any(r.mbps_20mhz <= 0 for r in rows) or not all(math.isfinite(n) for n in numbers):
        raise ValidationFailed(
            f"radio_tables.{name}: at least one row, with positive, finite rates and SNRs", field="radio_tables"
        )
    return RadioFamily(name, rows, widths)


def families(radio_tables: Mapping[str, Any]) -> dict[str, RadioFamily]:
    """The built-in families, then the tenant's (a tenant table of the same name replaces the built-in)."""
    out = dict(BUILT_IN)
    for name, spec in radio_tables.items():
        out[name] = vendor_family(name, spec)
    return out
