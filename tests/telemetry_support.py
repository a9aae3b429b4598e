"""Telemetry records shaped like the engine's (DESIGN.md §5) and small readers, for the storage tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from imperium_desk.telemetry.schema import iso_utc

START = 1_795_412_700.0  # 2026-11-23T05:45:00Z
SYMBOLS = (("NIFTY26NOV24000CE", "NIFTY"), ("NIFTY26NOV24050PE", "NIFTY"), ("BANKNIFTY26NOV52000CE", "BANKNIFTY"))
EVENTS = ("placed", "ack", "fill", "partial_fill", "retry", "parent")


def record(seq: int, ts: float | None = None, **overrides: Any) -> dict[str, Any]:
    """A fill-like record; the asset, event, scenario and parent vary with seq so filters have work to do."""
    symbol, underlying = SYMBOLS[seq % len(SYMBOLS)]
    rec: dict[str, Any] = {
        "schema_version": 1,
        "seq": seq,
        "event": EVENTS[seq % len(EVENTS)],
        "timestamp": iso_utc(START + seq * 0.01 if ts is None else ts),
        "mode": "paper",
        "scenario_id": f"drill-{seq % 4}" if seq % 4 else None,
        "order_id": f"P{seq // 10}-C{seq % 10}",
        "parent_id": f"P{seq // 10}",
        "client_tag": f"imp{seq:08d}",
        "asset": symbol,
        "underlying": underlying,
        "side": "buy" if seq % 2 else "sell",
        "qty": 75,
        "execution_algo": "TWAP",
        "child_index": seq % 10,
        "children": 10,
        "route": "NFO",
        "queue_priority": 0,
        "executed_price": 101.25,
        "slippage": 0.05,
        "slippage_bps": 4.94,
        "latency_ms": 48.2,
        "model_params": {"latency": {"type": "normal", "mean_ms": 50, "std_ms": 10},
                         "slippage": {"type": "lognormal", "mu": 0, "sigma": 0.1, "unit": "bps"}},
        "extra_metrics": {"trade_id": f"T{seq}", "book_price": 101.2},
    }
    rec.update(overrides)
    return rec


def lines_of(path: Path) -> list[bytes]:
    """The file's lines; asserts it ends with a newline (no torn tail)."""
    data = path.read_bytes()
    assert data == b"" or data.endswith(b"\n"), f"{path} ends in a torn line"
    return data.splitlines()


def seqs_of(path: Path) -> list[int]:
    return [orjson.loads(line)["seq"] for line in lines_of(path)]
