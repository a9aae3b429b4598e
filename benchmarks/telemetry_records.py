"""Realistic telemetry records for the storage benchmarks: the engine's fill record (DESIGN.md §5), ~700 bytes
as JSON, spread over 20 option symbols on two underlyings, parents of ten children, a few scenario drills."""

from __future__ import annotations

from typing import Any

from imperium_desk.telemetry.schema import iso_utc

START = 1_795_412_700.0  # 2026-11-23T05:45:00Z
SYMBOLS = [(f"NIFTY26NOV{24000 + 50 * k}{'CE' if k % 2 else 'PE'}", "NIFTY") for k in range(12)] + [
    (f"BANKNIFTY26NOV{52000 + 100 * k}{'CE' if k % 2 else 'PE'}", "BANKNIFTY") for k in range(8)
]
EVENTS = ("placed", "ack", "fill", "fill", "partial_fill", "retry", "error", "parent")
SCENARIOS = (None, None, None, "news-shock", "latency-burst")  # most desk records belong to no drill


_MODEL_PARAMS: dict[str, Any] = {
    "latency": {"type": "normal", "mean_ms": 50.0, "std_ms": 10.0},
    "slippage": {"type": "lognormal", "mu": 0.0, "sigma": 0.1, "unit": "bps"},
}  # one shared object, as the engine shares a model's parameters between its fills


def fill_record(seq: int) -> dict[str, Any]:
    symbol, underlying = SYMBOLS[(seq // 10) % len(SYMBOLS)]  # a parent's children share a symbol
    return {
        "schema_version": 1, "seq": seq, "event": EVENTS[seq % len(EVENTS)],
        "timestamp": iso_utc(START + seq * 0.005), "mode": "paper",
        "scenario_id": SCENARIOS[(seq // 1000) % len(SCENARIOS)], "order_id": f"P{seq // 10:07d}-C{seq % 10}",
        "parent_id": f"P{seq // 10:07d}", "client_tag": f"imp{seq:010d}", "asset": symbol,
        "underlying": underlying, "side": "buy" if (seq // 10) % 2 else "sell", "qty": 75,
        "execution_algo": "TWAP", "child_index": seq % 10, "children": 10, "route": "NFO", "queue_priority": 0,
        "executed_price": 101.25 + (seq % 7) * 0.05, "slippage": 0.05, "slippage_bps": 4.9383,
        "latency_ms": 48.213 + seq % 13,
        "model_params": _MODEL_PARAMS,
        "extra_metrics": {"trade_id": f"T{seq:010d}", "book_price": 101.2},
    }
