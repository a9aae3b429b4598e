"""Writes the shipped sample data. The files are GENERATED from the models below, not measured at a broker.

- `imperium_desk/resources/latency_nifty.csv`, column `latency_ms` (milliseconds), 5,000 rows: a broker round trip
  with a 12 ms floor (network and exchange minimum) plus a mixture: 96% lognormal(median 26 ms, sigma 0.35), the
  usual body, and 4% lognormal(median 220 ms, sigma 0.5), a slow tail (retransmits, a busy gateway).
- `imperium_desk/resources/slippage_nifty.csv`, column `slippage_bps` (basis points, adverse positive), 5,000 rows:
  Student's t with location 0.6 bps, scale 1.1 bps and 3.5 degrees of freedom (mostly small adverse
  slippage, some price improvement, heavy tails).

Values are rounded to 0.001. Seeded numpy Generators (PCG64), so the output is the same on every run.
`imperium_desk/configs/demo.yaml` samples NIFTY's latency from the first file; `imperium-desk fit` can be tried on both.

    .venv/bin/python scripts/generate_sample_data.py            # (re)write both files
    .venv/bin/python scripts/generate_sample_data.py --check    # exit 1 if the shipped files differ
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

RESOURCES = Path(__file__).resolve().parents[1] / "imperium_desk" / "resources"
ROWS = 5_000
LATENCY_SEED, SLIPPAGE_SEED = 20_260_401, 20_260_402


def latency_ms(rows: int = ROWS) -> NDArray[np.float64]:
    rng = np.random.default_rng(LATENCY_SEED)
    slow = rng.random(rows) < 0.04
    body = rng.lognormal(np.log(26.0), 0.35, rows)
    tail = rng.lognormal(np.log(220.0), 0.5, rows)
    return 12.0 + np.where(slow, tail, body)


def slippage_bps(rows: int = ROWS) -> NDArray[np.float64]:
    rng = np.random.default_rng(SLIPPAGE_SEED)
    return 0.6 + 1.1 * rng.standard_t(3.5, rows)


def csv_text(column: str, values: NDArray[np.float64]) -> str:
    return "".join([f"{column}\n", *(f"{v:.3f}\n" for v in values)])


def files() -> dict[Path, str]:
    return {
        RESOURCES / "latency_nifty.csv": csv_text("latency_ms", latency_ms()),
        RESOURCES / "slippage_nifty.csv": csv_text("slippage_bps", slippage_bps()),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write (or --check) the sample data in imperium_desk/resources/.")
    parser.add_argument("--check", action="store_true", help="exit 1 if a shipped file differs from the generator")
    args = parser.parse_args(argv)
    stale = []
    for path, text in files().items():
        if args.check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(path)
        else:
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path} ({text.count(chr(10)) - 1} rows)")
    for path in stale:
        print(f"{path}: differs from scripts/generate_sample_data.py (run it to regenerate)", file=sys.stderr)
    return 1 if stale else 0


if __name__ == "__main__":
    raise SystemExit(main())
