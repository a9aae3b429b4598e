"""Per-fill model work inside the engine: resolve the asset's models, draw a latency and a slippage.

This is what the paper exchange does for every order it receives (`ModelResolver.resolve` is a cached lookup
after the first order of an asset; the draws come from buffered seeded streams). Also measured: the first
lookup after a runtime switch (the cache is cleared, so the models are resolved again). Prints JSON.

    .venv/bin/python -m benchmarks.model_lookup [--draws N]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from imperium_desk.config import config_from_mapping
from imperium_desk.model_input import parse_model
from imperium_desk.models.resolver import ModelResolver
from imperium_desk.rng import RandomStreams

HISTORICAL = str(Path(__file__).resolve().parents[1] / "imperium_desk" / "resources" / "latency_nifty.csv")
FAMILIES: dict[str, dict[str, Any]] = {
    "normal": {"type": "normal", "mean_ms": 50, "std_ms": 10},
    "lognormal": {"type": "lognormal", "median_ms": 40, "sigma": 0.3},
    "mixture": {"type": "mixture", "components": [
        {"weight": 0.95, "type": "lognormal", "median_ms": 40, "sigma": 0.3},
        {"weight": 0.05, "type": "normal", "mean_ms": 400, "std_ms": 80},
    ]},
    "student_t": {"type": "student_t", "loc_ms": 40, "scale_ms": 5, "df": 3},
    "historical": {"type": "historical", "source": HISTORICAL, "bandwidth_ms": "silverman"},
}
SYMBOLS = [f"NIFTY26DEC{26000 + 50 * i}CE" for i in range(40)]


def per_fill_ns(latency: dict[str, Any], draws: int) -> float:
    cfg = config_from_mapping({"latency_model": {"global": latency}}, "benchmark")
    resolver = ModelResolver(cfg.latency_model, cfg.slippage_model)
    streams = RandomStreams(1)
    lat_draws = {s: streams.buffered("latency", s) for s in SYMBOLS}
    slip_draws = {s: streams.buffered("slippage", s) for s in SYMBOLS}
    for s in SYMBOLS:
        resolver.resolve(s, "NIFTY")
    n_sym = len(SYMBOLS)
    t0 = time.perf_counter_ns()
    for i in range(draws):
        symbol = SYMBOLS[i % n_sym]
        models = resolver.resolve(symbol, "NIFTY")
        models.latency.sampler.draw(lat_draws[symbol])
        models.slippage.sampler.draw(slip_draws[symbol])
    return (time.perf_counter_ns() - t0) / draws


def after_switch_ns(repeats: int) -> float:
    cfg = config_from_mapping({}, "benchmark")
    resolver = ModelResolver(cfg.latency_model, cfg.slippage_model)
    models = [parse_model("latency", FAMILIES["normal"], where="b"), parse_model("latency", FAMILIES["mixture"],
                                                                                   where="b")]
    times = []
    for i in range(repeats):
        resolver.switch("latency", "NIFTY", models[i % 2])
        t0 = time.perf_counter_ns()
        resolver.resolve(SYMBOLS[0], "NIFTY")
        times.append(time.perf_counter_ns() - t0)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--draws", type=int, default=500_000)
    args = parser.parse_args(argv)
    result: dict[str, Any] = {"benchmark": "model_lookup", "draws": args.draws, "target_us": 5.0}
    per_family = {}
    for name, latency in FAMILIES.items():
        per_family[name] = round(min(per_fill_ns(latency, args.draws) for _ in range(3)) / 1000.0, 3)
    result["lookup_and_draws_us"] = per_family
    result["first_lookup_after_switch_us"] = round(after_switch_ns(2000) / 1000.0, 3)
    result["met"] = max(per_family.values()) <= 5.0
    json.dump(result, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
