"""Model sampling: vectorised draws per second for every latency family, and the cost of one scalar draw.

Vectorised: `sampler.sample(gen, 1_000_000)`, best of `--repeats`, single thread. Scalar: `sampler.draw(draws)`
from a `BufferedDraws` stream (the engine's per-fill path), best of `--repeats` loops of `--scalar-draws` calls;
the figure includes the Python loop around the call (~15 ns). The historical models bootstrap from a generated
CSV of 100,000 lognormal latencies. Prints JSON.

    .venv/bin/python -m benchmarks.model_sampling [--repeats N]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from imperium_desk.models.config import LATENCY_ADAPTER
from imperium_desk.models.samplers import Sampler, latency_sampler
from imperium_desk.rng import RandomStreams

BATCH = 1_000_000
HISTORICAL_ROWS = 100_000
TARGET_DRAWS_PER_S = {"normal": 10e6, "lognormal": 10e6, "mixture": 3e6, "historical": 3e6}
TARGET_SCALAR_NS = 1000.0
SCALAR_FAMILIES = ("normal", "lognormal", "mixture", "historical")


def families(historical_csv: str) -> dict[str, dict[str, Any]]:
    return {
        "constant": {"type": "constant", "value_ms": 40},
        "normal": {"type": "normal", "mean_ms": 50, "std_ms": 10},
        "lognormal": {"type": "lognormal", "median_ms": 40, "sigma": 0.3},
        "exponential": {"type": "exponential", "mean_ms": 20},
        "student_t": {"type": "student_t", "loc_ms": 50, "scale_ms": 8, "df": 4},
        "shifted": {"type": "shifted", "floor_ms": 15, "model": {"type": "lognormal", "median_ms": 10, "sigma": 0.5}},
        "mixture": {
            "type": "mixture",
            "components": [
                {"weight": 0.95, "type": "lognormal", "median_ms": 40, "sigma": 0.3},
                {"weight": 0.05, "type": "normal", "mean_ms": 400, "std_ms": 80},
            ],
        },
        "historical": {"type": "historical", "source": historical_csv},
        "historical_smoothed": {"type": "historical", "source": historical_csv, "bandwidth_ms": "silverman"},
    }


def write_historical_csv(path: Path) -> None:
    values = np.random.default_rng(1).lognormal(np.log(40.0), 0.35, HISTORICAL_ROWS)
    path.write_text("latency_ms\n" + "\n".join(f"{v:.4f}" for v in values) + "\n", encoding="utf-8")


def vectorised_draws_per_s(sampler: Sampler, repeats: int) -> float:
    gen = np.random.default_rng(2)
    sampler.sample(gen, BATCH)  # warm-up
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        sampler.sample(gen, BATCH)
        best = min(best, time.perf_counter() - started)
    return BATCH / best


def scalar_draw_ns(sampler: Sampler, draws_per_loop: int, repeats: int) -> float:
    draws = RandomStreams(3).buffered("benchmark", "scalar")
    draw = sampler.draw
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        for _ in range(draws_per_loop):
            draw(draws)
        best = min(best, time.perf_counter() - started)
    return best / draws_per_loop * 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--scalar-draws", type=int, default=200_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        csv = Path(tmp) / "latency.csv"
        write_historical_csv(csv)
        samplers = {
            name: latency_sampler(LATENCY_ADAPTER.validate_python(raw)) for name, raw in families(str(csv)).items()
        }
    rates = {name: vectorised_draws_per_s(s, args.repeats) for name, s in samplers.items()}
    scalar = {name: scalar_draw_ns(samplers[name], args.scalar_draws, args.repeats) for name in SCALAR_FAMILIES}
    result = {
        "benchmark": "model_sampling",
        "python": sys.version.split()[0],
        "numpy": np.__version__,
        "batch": BATCH,
        "vectorised_draws_per_s": {name: round(rate) for name, rate in rates.items()},
        "scalar_draw_ns": {name: round(ns, 1) for name, ns in scalar.items()},
        "target": {"vectorised_draws_per_s": TARGET_DRAWS_PER_S, "scalar_draw_ns": TARGET_SCALAR_NS},
        "meets_target": all(rates[name] >= rate for name, rate in TARGET_DRAWS_PER_S.items())
        and all(ns <= TARGET_SCALAR_NS for ns in scalar.values()),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
