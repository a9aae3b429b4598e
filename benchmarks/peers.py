"""This engine beside the Python engines a user would pick instead, on one workload, in one run.

Workload (`benchmarks/peers_workload.py`, identical numbers on every engine): one option near 100 with a 0.10 spread,
a quote every 100 ms; P parents of 20 NIFTY lots alternating buy/sell, one every 10 s (about 100 quotes per
parent), each a TWAP of 10 MARKET children one second apart; order latency normal 50±10 ms; a slippage draw on
every fill; every fill recorded. Each engine's module says how it runs the workload and `differs` in the output
lists where it cannot match it exactly.

Fills/s = child fills per wall second of the whole run: quotes generated or simulated, engine built, run,
telemetry flushed (imports excluded; hftbacktest's numba compile reported apart). Each engine runs in its own
process, so imports and peak RSS are its own. Peers: backtrader (the `peers` extra), nautilus_trader and
hftbacktest (measured when installed, "not installed" otherwise). `ratio` = this engine's fills/s / the peer's,
at the same P.

    pip install -e '.[peers]'                                    # the peers, in their own venv
    python -m benchmarks.peers                                   # P = 1,000 and 10,000 on every engine
    python -m benchmarks.peers --parents 1000                    # one P
    python -m benchmarks.peers --own                             # + this engine alone at P = 1k, 10k, 100k
    python -m benchmarks.peers --engines imperium backtrader     # some engines only
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import os
import platform
import subprocess
import sys
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from benchmarks.peers_workload import Workload, nifty_lot_size

# engine name -> (its benchmark module, the module it needs, its distribution on PyPI)
ENGINES: dict[str, tuple[str, str, str]] = {
    "imperium": ("benchmarks.peers_imperium", "imperium_desk", "imperium-desk"),
    "backtrader": ("benchmarks.peers_backtrader", "backtrader", "backtrader"),
    "nautilus": ("benchmarks.peers_nautilus", "nautilus_trader", "nautilus_trader"),
    "hftbacktest": ("benchmarks.peers_hftbacktest", "hftbacktest", "hftbacktest"),
}
PEERS = ("backtrader", "nautilus", "hftbacktest")
DEFAULT_PARENTS = (1_000, 10_000)
OWN_PARENTS = (1_000, 10_000, 100_000)
TARGET_RATIO_VS_BACKTRADER = 10


def installed(engine: str) -> bool:
    return importlib.util.find_spec(ENGINES[engine][1]) is not None


def engine_version(engine: str) -> str:
    try:
        return version(ENGINES[engine][2])
    except PackageNotFoundError:
        return "not installed"


def run_engine(engine: str, w: Workload, python: str = sys.executable) -> dict[str, Any]:
    """One engine on one workload, in a child process of `python`; `status` says whether it ran."""
    if python == sys.executable and not installed(engine):
        return {"status": "not installed"}
    out = subprocess.run(
        [python, "-m", "benchmarks.peers", "--engine", engine, "--workload", w.to_json()],
        capture_output=True, text=True, check=False,
    )
    if out.returncode != 0:
        tail = [line for line in out.stderr.strip().splitlines() if line.strip()][-3:]
        return {"status": "failed", "error": " | ".join(tail)}
    result = json.loads(out.stdout.strip().splitlines()[-1])
    return {"status": "ok", **result} if "status" not in result else result


def ratios(runs: dict[str, dict[str, Any]]) -> dict[str, float | None]:
    """This engine's fills/s over each peer's, where both ran."""
    own = runs.get("imperium", {}).get("child_fills_per_s")
    out: dict[str, float | None] = {}
    for peer in PEERS:
        theirs = runs.get(peer, {}).get("child_fills_per_s")
        out[peer] = round(own / theirs, 3) if own and theirs else None
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--parents", type=int, nargs="+", default=list(DEFAULT_PARENTS),
                        help="parent counts run on every engine (default: 1000 10000)")
    parser.add_argument("--engines", nargs="+", choices=list(ENGINES), default=list(ENGINES))
    parser.add_argument("--own", action="store_true",
                        help="also this engine alone at P = 1,000, 10,000 and 100,000 (or --own-parents)")
    parser.add_argument("--own-parents", type=int, nargs="+", default=list(OWN_PARENTS))
    parser.add_argument("--imperium-python", default=sys.executable,
                        help="the interpreter this engine runs under (default: this one; the peers' venv pins "
                             "numpy lower than the project's)")
    parser.add_argument("--engine", choices=list(ENGINES), help=argparse.SUPPRESS)  # one run, in this process
    parser.add_argument("--workload", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.engine:
        module = importlib.import_module(ENGINES[args.engine][0])
        print(json.dumps(module.run(Workload.from_json(args.workload))))
        return

    lot_size = nifty_lot_size()
    table: dict[int, dict[str, dict[str, Any]]] = {}
    for p in args.parents:
        w = Workload(parents=p, lot_size=lot_size)
        table[p] = {engine: run_engine(engine, w, args.imperium_python if engine == "imperium" else sys.executable)
                    for engine in args.engines}
    own: dict[int, dict[str, Any]] = {}
    if args.own:
        for p in args.own_parents:
            done = table.get(p, {}).get("imperium")
            own[p] = done if done is not None else run_engine(
                "imperium", Workload(parents=p, lot_size=lot_size), args.imperium_python)

    sample = Workload(parents=1, lot_size=lot_size)
    workload = {k: v for k, v in json.loads(sample.to_json()).items() if k != "parents"}
    report: dict[str, Any] = {
        "benchmark": "peers",
        "python": sys.version.split()[0],
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "versions": {engine: engine_version(engine) for engine in ENGINES},
        "imperium_python": args.imperium_python,
        "workload": {**workload, "child_qty": sample.child_qty, "parent_qty": sample.parent_qty},
        "differs": {engine: importlib.import_module(ENGINES[engine][0]).DIFFERS for engine in args.engines},
        "summary": [
            {"parents": p, **{f"{e}_fills_per_s": runs[e].get("child_fills_per_s", runs[e]["status"]) for e in runs},
             "ratio_imperium_over": ratios(runs)}
            for p, runs in table.items()
        ],
        "runs": {str(p): runs for p, runs in table.items()},
    }
    if own:
        report["own"] = [{"parents": p, **r} for p, r in own.items()]
    checked = [r["ratio_imperium_over"]["backtrader"] for r in report["summary"]]
    report["target"] = {"ratio_vs_backtrader": TARGET_RATIO_VS_BACKTRADER}
    report["meets_target"] = bool(checked) and all(r is not None and r >= TARGET_RATIO_VS_BACKTRADER for r in checked)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
