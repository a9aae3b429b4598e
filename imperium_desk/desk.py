"""Composition root: the only place that wires the engine's parts together.

`build_engine` assembles one engine (market, models, broker, stack, telemetry) on a given clock; the GUI,
`serve` and `replay` all use it, so the same engine code runs everywhere. `run_replay` is the headless
deterministic run on the virtual clock.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from imperium_desk import __version__
from imperium_desk.broker.faults import FaultInjectingBroker, FaultRates
from imperium_desk.broker.paper import PaperBroker
from imperium_desk.broker.port import Broker
from imperium_desk.clock import Clock, VirtualClock
from imperium_desk.config import Config, ConfigError, merged_config
from imperium_desk.domain.enums import Mode, ParentStatus
from imperium_desk.domain.instruments import InstrumentCatalog, InstrumentError
from imperium_desk.execution.cost import SlippageModel
from imperium_desk.execution.planner import ExecutionAlgoPlanner
from imperium_desk.execution.ratelimit import OrderRateLimiter
from imperium_desk.execution.request import ParentResult
from imperium_desk.execution.retry import RetryPolicy
from imperium_desk.execution.risk import RiskGate
from imperium_desk.execution.router import SmartOrderRouter
from imperium_desk.execution.stack import ExecutionStack
from imperium_desk.execution.tracker import FillQualityTracker, Record
from imperium_desk.market.config import default_instruments_path
from imperium_desk.market.simulator import MarketSimulator
from imperium_desk.models.resolver import ModelResolver
from imperium_desk.rng import RandomStreams
from imperium_desk.scenarios.runner import ProgressCallback, ScenarioRunner, check_instruments
from imperium_desk.scenarios.spec import LoadedScenario
from imperium_desk.telemetry.jsonl import JsonlWriter


def load_catalog(config: Config) -> InstrumentCatalog:
    path = config.market.instruments or default_instruments_path()
    try:
        return InstrumentCatalog.load(Path(path))
    except InstrumentError as exc:
        raise ConfigError([f"market.instruments: {exc}"]) from None


@dataclass
class RunStats:
    """Counts records by event and keeps fill latency/slippage for the run summary."""

    events: Counter[str] = field(default_factory=Counter)
    latency_ms: list[float] = field(default_factory=list)
    slippage_bps: list[float] = field(default_factory=list)

    def __call__(self, record: Record) -> None:
        event = record["event"]
        self.events[event] += 1
        if event in {"fill", "partial_fill"}:
            if record["latency_ms"] is not None:
                self.latency_ms.append(record["latency_ms"])
            self.slippage_bps.append(record["slippage_bps"])

    def fill_quality(self) -> dict[str, dict[str, float] | None]:
        return {"latency_ms": _describe(self.latency_ms), "slippage_bps": _describe(self.slippage_bps)}

    def counts(self, parents: int) -> dict[str, int]:
        e = self.events
        return {
            "parents": parents,
            "children": e["placed"],
            "fills": e["fill"] + e["partial_fill"],
            "errors": e["error"],
            "retries": e["retry"],
            "cancels": e["cancel"],
            "rejects": e["reject"],
        }


@dataclass
class Engine:
    config: Config
    clock: Clock
    streams: RandomStreams
    catalog: InstrumentCatalog
    market: MarketSimulator
    models: ModelResolver
    broker: Broker
    paper: PaperBroker
    stack: ExecutionStack
    tracker: FillQualityTracker
    faults: FaultInjectingBroker | None = None


def build_engine(
    config: Config,
    *,
    clock: Clock,
    seed: int,
    mode: Mode,
    sink: Callable[[Record], None],
    scenario_id: str | None = None,
    catalog: InstrumentCatalog | None = None,
    faults: FaultRates | None = None,
    fault_timeout_s: float = 2.0,
    id_prefix: str = "",
) -> Engine:
    streams = RandomStreams(seed)
    catalog = catalog or load_catalog(config)
    market = MarketSimulator(config.market, catalog, clock, streams)
    models = ModelResolver(config.latency_model, config.slippage_model)
    paper = PaperBroker(
        clock=clock, market=market, catalog=catalog, models=models, streams=streams,
        config=config.broker.paper, id_prefix=id_prefix,
    )
    broker: Broker = paper
    injector = None
    if faults is not None:
        injector = FaultInjectingBroker(paper, clock, streams, faults, timeout_s=fault_timeout_s)
        broker = injector
    tracker = FillQualityTracker(clock, mode=mode, scenario_id=scenario_id, sink=sink)
    ex = config.execution
    stack = ExecutionStack(
        clock=clock,
        broker=broker,
        market=market,
        catalog=catalog,
        planner=ExecutionAlgoPlanner(streams.stream("planner"), ex.vwap_profile),
        router=SmartOrderRouter(ex.router),
        cost_model=SlippageModel(market, ex.impact_coefficient),
        retry=RetryPolicy(ex.retry, streams.buffered("retry")),
        limiter=OrderRateLimiter(clock, config.broker.rate_limit_per_s),
        risk=RiskGate(config.risk),
        tracker=tracker,
        config=ex,
        id_prefix=id_prefix,
    )
    return Engine(config, clock, streams, catalog, market, models, broker, paper, stack, tracker, injector)


# -- replay -------------------------------------------------------------------------------------------------
@dataclass
class ReplaySummary:
    run: dict[str, Any]
    results: list[ParentResult]
    telemetry_path: Path


def prepare_replay(scenario: LoadedScenario, config: Config) -> tuple[Config, InstrumentCatalog]:
    """Everything that can reject the input, done before anything is written."""
    spec = scenario.spec
    effective = merged_config(config, spec.config, f"{scenario.path}: config") if spec.config else config
    catalog = load_catalog(effective)
    for name in effective.market.underlyings:
        try:
            catalog.underlying(name)
        except InstrumentError as exc:
            raise ConfigError([f"market.underlyings: {exc}"]) from None
    problems = check_instruments(spec, catalog, list(effective.market.underlyings))
    if problems:
        raise ConfigError([f"{scenario.path}: {p}" for p in problems])
    return effective, catalog


def run_replay(
    scenario: LoadedScenario,
    config: Config,
    out_dir: Path,
    *,
    seed: int | None = None,
    progress: ProgressCallback | None = None,
    faults: FaultRates | None = None,
) -> ReplaySummary:
    """Deterministic headless run on the virtual clock; writes `telemetry.jsonl` and `run.json` to out_dir.

    Files are written under temporary names and renamed when the run completes, so a failed run leaves no
    half-written output behind.
    """
    spec = scenario.spec
    run_seed = spec.seed if seed is None else seed
    effective, catalog = prepare_replay(scenario, config)
    out_dir.mkdir(parents=True, exist_ok=True)
    telemetry_path = out_dir / "telemetry.jsonl"
    partial = out_dir / ".telemetry.jsonl.partial"
    tcfg = effective.telemetry
    writer = JsonlWriter(
        partial, flush_interval_s=tcfg.flush_interval_ms / 1000.0, flush_records=tcfg.flush_records,
        fsync=tcfg.fsync, serialize_on_caller=True,  # a replay wants throughput, not per-order latency
    )
    counter = RunStats()
    clock = VirtualClock(effective.market.start.timestamp())
    wall_start = time.perf_counter()
    try:
        engine = build_engine(
            effective, clock=clock, seed=run_seed, mode=Mode.REPLAY, sink=writer.write,
            scenario_id=spec.id, catalog=catalog, faults=faults, id_prefix="R",
        )
        engine.tracker.add_listener(counter)
        runner = ScenarioRunner(spec, clock=clock, stack=engine.stack, market=engine.market, catalog=catalog)

        async def main() -> list[ParentResult]:
            engine.market.start()
            try:
                return await runner.run(progress)
            finally:
                engine.market.stop()

        results = clock.run(main())
    except BaseException:
        writer.close()
        partial.unlink(missing_ok=True)
        raise
    writer.close()
    wall_s = time.perf_counter() - wall_start
    os.replace(partial, telemetry_path)
    statuses = Counter(r.status.value for r in results)
    run = {
        "id": spec.id,
        "seed": run_seed,
        "config_sha256": effective.sha256(),
        "scenario_sha256": scenario.sha256,
        "version": __version__,
        "duration_s": spec.duration_s,
        "virtual_elapsed_s": round(clock.monotonic(), 6),
        "start": datetime.fromtimestamp(effective.market.start.timestamp(), UTC).isoformat(),
        "counts": counter.counts(len(results)),
        "fill_quality": counter.fill_quality(),
        "parent_status": {s.value: statuses.get(s.value, 0) for s in ParentStatus},
        "records": writer.written,
        "wall_s": round(wall_s, 3),
    }
    _write_json_atomic(out_dir / "run.json", run)
    return ReplaySummary(run=run, results=results, telemetry_path=telemetry_path)


def _describe(values: list[float]) -> dict[str, float] | None:
    if not values:
        return None
    arr = np.asarray(values, dtype=float)
    p50, p95, p99 = np.percentile(arr, [50, 95, 99])
    return {
        "mean": round(float(arr.mean()), 4),
        "p50": round(float(p50), 4),
        "p95": round(float(p95), 4),
        "p99": round(float(p99), 4),
    }


def _write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)
