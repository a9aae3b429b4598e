"""Model fitting: seconds to fit every family (`fit_all`, KS tests included) to 100,000 samples. Prints JSON.

Latency samples: a 12 ms floor plus a 96/4 lognormal mixture (the shape of `imperium_desk/resources/latency_nifty.csv`);
slippage samples: Student's t (loc 0.6 bps, scale 1.1, df 3.5), signed, so lognormal and exponential are
skipped. Each timing is the best of `--repeat` runs (the machine is shared); per-family times fit that
family alone through `fit_all(families=[...])`. Target: all families ≤ 2 s per sample set.

    .venv/bin/python -m benchmarks.model_fitting [--samples N] [--repeat R]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable

import numpy as np

from imperium_desk.models.fitting import FAMILIES, Kind, fit_all

TARGET_S = 2.0


def latency_samples(n: int) -> np.ndarray:
    rng = np.random.default_rng(1)
    slow = rng.random(n) < 0.04
    return 12.0 + np.where(slow, rng.lognormal(np.log(220.0), 0.5, n), rng.lognormal(np.log(26.0), 0.35, n))


def slippage_samples(n: int) -> np.ndarray:
    return 0.6 + 1.1 * np.random.default_rng(2).standard_t(3.5, n)


def best_of(repeat: int, run: Callable[[], object]) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return min(times)


def _fit_one(samples: np.ndarray, kind: Kind, family: str) -> Callable[[], object]:
    return lambda: fit_all(samples, kind, families=[family])


def measure(samples: np.ndarray, kind: Kind, repeat: int) -> dict[str, object]:
    fit_all(samples[:1_000], kind)  # warm-up: scipy's lazy imports and first-call set-up
    total = best_of(repeat, lambda: fit_all(samples, kind))
    per_family = {family: round(best_of(repeat, _fit_one(samples, kind, family)), 4) for family in FAMILIES}
    results = fit_all(samples, kind)
    return {
        "all_families_s": round(total, 4),
        "per_family_s": per_family,
        "winner": results[0].family,
        "skipped": [r.family for r in results if not r.fitted],
        "meets_target": total <= TARGET_S,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--samples", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    result = {
        "benchmark": "model_fitting_all_families",
        "samples": args.samples,
        "python": sys.version.split()[0],
        "numpy": np.__version__,
        "target_s": TARGET_S,
        "latency": measure(latency_samples(args.samples), "latency", args.repeat),
        "slippage": measure(slippage_samples(args.samples), "slippage", args.repeat),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
