"""Tick decoding: our `broker.kite.packets` decoder beside KiteTicker's `_parse_binary`, on the same frames, in one
run (issue target: >= 200,000 full 184-byte packets/s, decoded off the Qt thread).

Workload: frames encoded by `tests/fake_kite/packets.py` from ticks that vary in token (NFO, BFO, CDS, BCD, index)
and in every price, size and time, for three packet kinds: full (184 bytes), quote (44) and LTP (8); each kind
once as one packet per frame (a quiet feed) and once as 50 packets per frame (a busy one: Kite batches whatever
is due). KiteTicker is built but never connected.

Measured, per kind and frame size: `ours_packets_per_s` and `kiteticker_packets_per_s`: packets over CPU time of
decoding every frame of the workload (best of `--repeats`; CPU time because the machine is shared: other
processes stretch wall time, not it), and `ratio` = ours / KiteTicker. `agree` checks that both decoders read
the same last prices from the workload.

    .venv/bin/python -m benchmarks.tick_decode [--packets N] [--repeats R]   # prints JSON
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Sequence
from importlib.metadata import version
from typing import Any

from kiteconnect import KiteTicker  # type: ignore[import-untyped, unused-ignore]

from imperium_desk.broker.kite.packets import FullTick, LtpTick, QuoteTick, Segment, Tick, decode_binary_frame
from tests.fake_kite.packets import encode_frame, units_per_rupee

TARGET_FULL_PACKETS_PER_S = 200_000
SEGMENTS = (Segment.NFO, Segment.NFO, Segment.BFO, Segment.CDS, Segment.BCD, Segment.INDICES)
KINDS = ("full_184", "quote_44", "ltp_8")
PACKETS_PER_FRAME = (1, 50)


def make_tick(kind: str, i: int) -> Tick:
    token = ((10_000 + i) << 8) | SEGMENTS[i % len(SEGMENTS)]
    units = units_per_rupee(token)

    def price(offset: int) -> float:
        return (150 * units + (i * 7 + offset) % 5_000) / units

    if kind == "ltp_8":
        return LtpTick(token, price(0))
    quote = (token, price(0), 75 * (1 + i % 4), price(3), 1_000_000 + i, 90_000 + i, 110_000 + i,
             price(-40), price(90), price(-120), price(-10))
    if kind == "quote_44":
        return QuoteTick(*quote)
    return FullTick(
        *quote, last_trade_epoch_s=1_796_615_100 + i, oi=4_500_000 + i, oi_day_high=4_600_000, oi_day_low=4_400_000,
        exchange_epoch_s=1_796_615_101 + i,
        buy_quantities=tuple(75 * (k + 1) + i % 9 for k in range(5)),
        buy_prices=tuple(price(-5 * (k + 1)) for k in range(5)), buy_orders=tuple(k + 1 for k in range(5)),
        sell_quantities=tuple(50 * (k + 1) + i % 7 for k in range(5)),
        sell_prices=tuple(price(5 * (k + 1)) for k in range(5)), sell_orders=tuple(5 - k for k in range(5)),
    )


def make_frames(kind: str, packets: int, per_frame: int) -> list[bytes]:
    ticks = [make_tick(kind, i) for i in range(packets)]
    return [encode_frame(ticks[start:start + per_frame]) for start in range(0, packets, per_frame)]


def cpu_seconds(decode: Callable[[bytes], Sequence[Any]], frames: list[bytes], repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.process_time()
        for frame in frames:
            decode(frame)
        best = min(best, time.process_time() - start)
    return best


def agree(kite: KiteTicker, frames: list[bytes]) -> bool:
    ours = [getattr(t, "last_price", None) for frame in frames for t in decode_binary_frame(frame)]
    theirs = [t["last_price"] for frame in frames for t in kite._parse_binary(frame)]
    return ours == theirs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--packets", type=int, default=50_000, help="packets per workload (a multiple of 50)")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    kite = KiteTicker("api_key", "access_token")
    results: dict[str, dict[str, dict[str, Any]]] = {}
    for kind in KINDS:
        results[kind] = {}
        for per_frame in PACKETS_PER_FRAME:
            frames = make_frames(kind, args.packets, per_frame)
            ours_s = cpu_seconds(decode_binary_frame, frames, args.repeats)
            kite_s = cpu_seconds(kite._parse_binary, frames, args.repeats)
            results[kind][f"{per_frame}_per_frame"] = {
                "ours_packets_per_s": round(args.packets / ours_s),
                "kiteticker_packets_per_s": round(args.packets / kite_s),
                "ratio": round(kite_s / ours_s, 2),
                "agree": agree(kite, frames[:50]),
            }
    full_rates = [r["ours_packets_per_s"] for r in results["full_184"].values()]
    result = {
        "benchmark": "tick_decode",
        "python": sys.version.split()[0],
        "kiteconnect": version("kiteconnect"),
        "packets_per_workload": args.packets,
        "results": results,
        "target": {"full_packets_per_s": TARGET_FULL_PACKETS_PER_S},
        "meets_target": min(full_rates) >= TARGET_FULL_PACKETS_PER_S,
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
