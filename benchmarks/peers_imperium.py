"""This engine on the peers' workload: `run_replay` on its simulated market, configured as
`benchmarks/replay_throughput.py` configures it (100 ms ticks, a 2-tick base spread, normal 50±10 ms latency, a
lognormal slippage draw, the JSONL telemetry only), with the parents one every 10 s instead of every 10 ms.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError

from benchmarks.peers_workload import Workload, run_info
from benchmarks.replay_throughput import CONFIG, timed_replay
from imperium_desk.clock import VirtualClock
from imperium_desk.config import config_from_mapping
from imperium_desk.desk import load_catalog
from imperium_desk.domain.enums import OptionRight
from imperium_desk.domain.instruments import IST
from imperium_desk.market.simulator import MarketSimulator
from imperium_desk.rng import RandomStreams
from imperium_desk.scenarios.spec import ScenarioSpec, scenario_from_spec

DIFFERS = [
    "its own simulated market (an option priced near 100 from the NIFTY path), not the peers' quote series",
    "child fills are fill records: a child filled in two parts counts twice",
    "telemetry: every record of the run (orders, acks, fills, parents) in telemetry.jsonl",
]

SESSION_OPEN = (9, 15)
SESSION_S = 6 * 3600 + 15 * 60  # 09:15-15:30 IST


def trading_end(start: datetime, span_s: float) -> datetime:
    """When `span_s` seconds of NSE sessions (weekdays 09:15-15:30 IST) have passed from `start`: the latest the
    run can end, with or without a trading calendar (without one it ends at start + span_s, which is earlier)."""
    local = start.astimezone(IST)
    day = local.replace(hour=SESSION_OPEN[0], minute=SESSION_OPEN[1], second=0, microsecond=0)
    left = span_s
    used = max(0.0, (local - day).total_seconds())
    while True:
        if day.weekday() < 5:
            room = SESSION_S - used
            if left <= room:
                return day + timedelta(seconds=used + left)
            left -= max(room, 0.0)
        day += timedelta(days=1)
        used = 0.0


def option_near_100(w: Workload) -> str:
    """The NIFTY call whose simulated price at the start is closest to `w.mid`, on the first expiry after the run's
    latest possible end (P = 10,000 spans ~28 virtual hours: the nearest weekly expiry would die mid-run)."""
    cfg = config_from_mapping(CONFIG, "benchmark")
    catalog = load_catalog(cfg)
    clock = VirtualClock(cfg.market.start.timestamp())
    market = MarketSimulator(cfg.market, catalog, clock, RandomStreams(1))
    end = trading_end(clock.now_datetime(), w.span_s) + timedelta(days=1)
    weeks = math.ceil((end - clock.now_datetime()).days / 7) + 2
    expiry = next(e for e in catalog.expiries("NIFTY", clock.now_datetime(), weeks) if catalog.expiry_instant(e) > end)
    best = min(
        (market.subscribe(c) for c in catalog.chain("NIFTY", expiry, market.spot("NIFTY"), 60)
         if c.right is OptionRight.CE),
        key=lambda q: abs(q.mid - w.mid),
    )
    return best.symbol


def scenario_spec(w: Workload, symbol: str) -> ScenarioSpec:
    """Buys at 0, 2s, 4s... and sells at s, 3s, 5s... (s = the parent spacing): P parents alternating buy/sell, as
    two `every_s` rules (on a trading calendar the rules still place one parent every `s` of session time)."""
    params = {"horizon_s": w.horizon_s, "max_child_orders": w.children, "randomize_slices": False}
    rule = {"every_s": 2 * w.parent_spacing_s, "until_s": w.last_parent_s, "symbol": symbol, "lots": w.lots,
            "algo": "TWAP", "params": params}
    return ScenarioSpec.model_validate({
        "id": f"peers-{w.parents}",
        "seed": w.seed,
        "duration_s": w.span_s,
        "orders": [{**rule, "from_s": 0, "side": "buy"}, {**rule, "from_s": w.parent_spacing_s, "side": "sell"}],
    })


def run(w: Workload) -> dict[str, Any]:
    try:  # before the option search: P = 100,000 one every 10 s is 11.6 days, past a scenario's longest
        scenario_spec(w, "NIFTY")
    except ValidationError as exc:
        return {"status": "refused", "reason": "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}"
                                                         for e in exc.errors())}
    symbol = option_near_100(w)
    summary, wall, size = timed_replay(scenario_from_spec(scenario_spec(w, symbol)))
    run_json = summary.run
    counts = run_json["counts"]
    info = run_info(w, counts["fills"], wall, {
        "symbol": symbol,
        "placed_children": counts["children"],
        "counts": counts,
        "parent_status": {k: v for k, v in run_json.get("parent_status", {}).items() if v},
        "virtual_s": run_json["virtual_elapsed_s"],
        "telemetry": {"kind": "telemetry.jsonl (every record of the run)", "records": run_json["records"],
                      "mb": round(size / 2**20, 1)},
    })
    # Fills are fill records (a child filled in two parts counts twice, as in replay_throughput). How every parent
    # that stopped short ended, by failure kind, and what the session closes did: "every child filled or its end
    # explained" is read from these.
    info["parent_failures"] = {k: v for k, v in run_json.get("parent_failures", {}).items() if v}
    if "sessions" in run_json:
        info["sessions"] = run_json["sessions"]
    return info
