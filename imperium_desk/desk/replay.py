"""The headless deterministic run: a scenario's orders and events on the virtual clock, written to `--out`.

`run_replay` writes `telemetry.jsonl` (and the index, when configured), `run.json` and, for a scenario with events,
`outcome.json` (the run against the same orders with no events). Everything that can reject the input is checked
before anything is written, and files are renamed into place only when the run completes.

Market hours: the virtual clock runs on the exchange's trading calendar (09:15-15:30 IST on weekdays, less the
instruments file's holidays; `imperium_desk.domain.sessions`), so a replay longer than a session skips the nights
and weekends: scenario times (`at_s`, `duration_s`, horizons, latencies) are trading seconds, and a start outside a
session begins at the next open. At every close the paper exchange cancels what is still on its book (DAY orders,
as NSE does); a TWAP's later children, in the next session, carry what was left. A contract past its expiry takes
no orders. `run.json` counts how the parents ended (`parent_status`, `parent_failures`) and what the closes did
(`sessions`), and keeps no parent's result: memory does not grow with the number of parents.
"""

from __future__ import annotations

import json
import os
import time
from array import array
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from imperium_desk import __version__
from imperium_desk.broker.faults import FaultRates
from imperium_desk.clock import VirtualClock
from imperium_desk.config import Config, ConfigError
from imperium_desk.desk.engine import build_engine
from imperium_desk.domain.enums import Mode
from imperium_desk.domain.instruments import InstrumentCatalog
from imperium_desk.domain.sessions import TradingCalendar
from imperium_desk.execution.daily_limit import DailyLimitGuard
from imperium_desk.execution.limit_watch import LimitWatch
from imperium_desk.execution.tracker import Record
from imperium_desk.feedback.learning.plugin import LearnerLoadError
from imperium_desk.feedback.learning.replay import ReplayLearning
from imperium_desk.scenarios.outcome import OutcomeMetrics, compare
from imperium_desk.scenarios.prepare import prepare_scenario
from imperium_desk.scenarios.rerun import RERUN_KEY, rerun_section
from imperium_desk.scenarios.runner import ParentTally, ProgressCallback, ScenarioRunner
from imperium_desk.scenarios.spec import LoadedScenario, RandomEvent, RiskChangeEvent, ScenarioSpec
from imperium_desk.scenarios.timeline import expand_timeline
from imperium_desk.telemetry.replay_files import ReplayTelemetry


@dataclass
class RunStats:
    """Counts records by event and keeps fill latency/slippage for the run summary's exact percentiles, as packed
    doubles: 16 bytes a fill (a list of floats would take 64). Called once per record: `events` is a plain dict
    (a `Counter`'s item update costs a third more)."""

    events: dict[str, int] = field(default_factory=dict)
    latency_ms: array[float] = field(default_factory=lambda: array("d"))
    slippage_bps: array[float] = field(default_factory=lambda: array("d"))

    def __call__(self, record: Record) -> None:
        event = record["event"]
        events = self.events
        events[event] = events.get(event, 0) + 1
        if event in {"fill", "partial_fill"}:
            latency = record["latency_ms"]
            if latency is not None:
                self.latency_ms.append(latency)
            self.slippage_bps.append(record["slippage_bps"])

    def fill_quality(self) -> dict[str, dict[str, float] | None]:
        return {"latency_ms": _describe(self.latency_ms), "slippage_bps": _describe(self.slippage_bps)}

    def counts(self, parents: int) -> dict[str, int]:
        e = self.events.get
        return {
            "parents": parents,
            "children": e("placed", 0),
            "fills": e("fill", 0) + e("partial_fill", 0),
            "errors": e("error", 0),
            "retries": e("retry", 0),
            "cancels": e("cancel", 0),
            "rejects": e("reject", 0),
        }


@dataclass
class ReplaySummary:
    """What a replay wrote and returns: `run` is run.json's content, `parents` how the parents ended (counts: no
    parent's result is kept; the telemetry's `parent` records have each one)."""

    run: dict[str, Any]
    parents: ParentTally
    telemetry_path: Path
    outcome: dict[str, Any] | None = None  # the run against its no-event baseline (scenarios with events)
    metrics: dict[str, Any] = field(default_factory=dict)  # the run's outcome metrics (events or not)


def prepare_replay(
    scenario: LoadedScenario, config: Config, seed: int | None = None
) -> tuple[Config, InstrumentCatalog]:
    """Everything that can reject the input, done before anything is written: `config validate` makes the same
    checks (`scenarios/prepare.py`), so what it calls valid, a replay runs."""
    return prepare_scenario(scenario, config, seed=seed)


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
    effective, catalog = prepare_replay(scenario, config, run_seed)
    learning = _replay_learning(effective)
    out_dir.mkdir(parents=True, exist_ok=True)
    # Temp names, renamed together by commit(); the run id names this run in a shared Redis stream.
    run_id = f"{spec.id}:{run_seed}:{scenario.sha256[:8]}{effective.sha256()[:8]}"
    writer = ReplayTelemetry(out_dir, effective.telemetry, run_id)
    counter = RunStats()
    metrics = OutcomeMetrics()
    wall_start = time.perf_counter()
    # With events the no-event baseline runs after the run: each gets half of the progress bar.
    first_half, second_half = _split_progress(progress, 2 if spec.events else 1)
    try:
        simulated = _simulate(scenario, effective, catalog, run_seed, sink=writer.write, listeners=(counter, metrics),
                              progress=first_half, faults=faults, learning=learning)
        outcome = None
        if spec.events:
            # The same orders on the same seed with no events: what the drill did, metric by metric.
            baseline = OutcomeMetrics()
            calm = scenario.model_copy(update={"spec": spec.model_copy(update={"events": []})})
            _simulate(calm, effective, catalog, run_seed, sink=_discard, listeners=(baseline,),
                      progress=second_half, faults=faults)
            outcome = compare(spec.id, run_seed, metrics.summary(), baseline.summary())
        learned = learning.summary() if learning is not None else None
        if outcome is not None and learned is not None:
            outcome["learning"] = learned  # per asset, each model's error before and after a learner changed it
    except BaseException:
        writer.abort()
        raise
    telemetry_path = writer.commit()
    wall_s = time.perf_counter() - wall_start
    parents, clock = simulated.parents, simulated.clock
    run = {
        "id": spec.id,
        "seed": run_seed,
        "config_sha256": effective.sha256(),
        "scenario_sha256": scenario.sha256,
        "version": __version__,
        "duration_s": spec.duration_s,
        "virtual_elapsed_s": round(clock.monotonic(), 6),  # trading seconds
        "start": datetime.fromtimestamp(clock.start, UTC).isoformat(),
        "end": datetime.fromtimestamp(clock.now(), UTC).isoformat(),
        "counts": counter.counts(parents.parents),
        "timeline": simulated.timeline,
        "fill_quality": counter.fill_quality(),
        "parent_status": parents.status_counts(),
        "parent_failures": parents.failure_counts(),
        "sessions": simulated.sessions,
        "records": writer.written,
        "wall_s": round(wall_s, 3),
    }
    if learned is not None:
        run["learning"] = learned
    if faults is None:  # faults injected by a caller are not part of the scenario: such a run cannot be re-run
        run[RERUN_KEY] = rerun_section(scenario, config)
    if outcome is not None:
        write_json_atomic(out_dir / "outcome.json", outcome)
    write_json_atomic(out_dir / "run.json", run)
    return ReplaySummary(run=run, parents=parents, telemetry_path=telemetry_path, outcome=outcome,
                         metrics=metrics.summary())


def _split_progress(
    progress: ProgressCallback | None, parts: int
) -> tuple[ProgressCallback | None, ProgressCallback | None]:
    """Progress callbacks for the first and second of `parts` runs sharing one bar (None: no bar)."""
    if progress is None or parts == 1:
        return progress, None
    report = progress
    return (lambda f: report(f / parts)), (lambda f: report((1 + f) / parts))


def _discard(record: Record) -> None:
    """The baseline run's sink: only its outcome metrics are kept."""


def no_event_summary(calm: LoadedScenario, config: Config, catalog: InstrumentCatalog, seed: int) -> dict[str, Any]:
    """A live drill's baseline: its orders replayed with no events on the virtual clock, measured as the drill
    is. Module-level, because it runs in a child process (see `Offloader.process`)."""
    metrics = OutcomeMetrics()
    _simulate(calm, config, catalog, seed, sink=_discard, listeners=(metrics,), progress=None, faults=None)
    return metrics.summary()


def _replay_learning(config: Config) -> ReplayLearning | None:
    """The learners of a replay's main run (the baseline runs without: it is what the orders do with no events),
    loaded before anything is written so an unknown learner is an input error."""
    if not config.feedback.learning.enabled:
        return None
    try:
        return ReplayLearning(config.feedback.learning)
    except LearnerLoadError as exc:
        raise ConfigError(exc.errors) from None


@dataclass
class _Simulation:
    """One run's ends: how its parents ended, its event timeline, its clock (stopped at the run's end) and what the
    session closes did (run.json's `sessions`)."""

    parents: ParentTally
    timeline: list[dict[str, Any]]
    clock: VirtualClock
    sessions: dict[str, Any]


def trading_calendar(catalog: InstrumentCatalog) -> TradingCalendar:
    """The calendar replays run on: NSE/BSE sessions, less the instruments file's holidays."""
    return TradingCalendar.nse(catalog.spec.holidays)


def _simulate(
    scenario: LoadedScenario,
    config: Config,
    catalog: InstrumentCatalog,
    seed: int,
    *,
    sink: Callable[[Record], None],
    listeners: Sequence[Callable[[Record], None]],
    progress: ProgressCallback | None,
    faults: FaultRates | None,
    learning: ReplayLearning | None = None,
) -> _Simulation:
    """One run of a scenario on a fresh virtual clock, in trading time (module docstring)."""
    spec = scenario.spec
    clock = VirtualClock(config.market.start.timestamp(), trading_calendar(catalog))
    engine = build_engine(
        config, clock=clock, seed=seed, mode=Mode.REPLAY, sink=sink,
        scenario_id=spec.id, catalog=catalog, faults=faults, id_prefix="R",
    )
    for listener in listeners:
        engine.tracker.add_listener(listener)
    if learning is not None:
        # Auto-applied proposals switch on the loop turn after the fill that raised them (never inside a record
        # callback), at the same virtual instant in every run.
        learning.attach(
            clock=clock, models=engine.models, underlying_of=engine.underlying_of_scope,
            apply=lambda p, source: engine.switch_model(p.kind, p.scope, p.parsed, lane=p.lane, source=source),
            streams=engine.streams, add_listener=engine.tracker.add_listener,
            tick_size=lambda symbol: catalog.resolve(symbol).tick_size,
        )
    injector = engine.event_injector()
    timeline = expand_timeline(spec, engine.streams.stream("scenario", "random"), scenario.path.parent)
    runner = ScenarioRunner(spec, clock=clock, stack=engine.stack, market=engine.feed, catalog=catalog,
                            timeline=timeline, on_event=injector.start, protections=engine.protections)
    engine.protections.attach(runner.send_exit)
    exchange = engine.paper.exchange if engine.paper is not None else None
    closes = 0
    # The day's P&L limits, as the desk keeps them; built only when one is set (by the config or by a `risk_change`
    # event), so a run without schedules nothing and writes what it did before the limits existed.
    guard = DailyLimitGuard(lambda: engine.stack.risk.config, clock)
    watch = LimitWatch(guard, clock=clock, broker=engine.broker, feed=engine.feed, catalog=catalog,
                       stack=engine.stack, tracker=engine.tracker, protections=engine.protections,
                       ) if guard.active or _sets_day_limits(spec) else None

    def session_closed() -> None:
        nonlocal closes
        closes += 1
        if exchange is not None:
            exchange.close_session()

    async def main() -> ParentTally:
        engine.market.start()
        bell = clock.call_at_closes(session_closed)
        if watch is not None:
            watch.start()
        try:
            parents = await runner.run(progress)
            if watch is not None:
                watch.stop()
                await watch.drain()  # the exits a crossing sent end before the run does
            engine.protections.stop()  # nothing would wait for an exit sent now
            injector.stop()  # events still running at the end of the run end with it
            await engine.settle_markouts()
            return parents
        finally:
            bell.cancel()
            if watch is not None:
                watch.stop()
            engine.market.stop()

    parents = clock.run(main())
    calendar = trading_calendar(catalog)
    sessions = {
        "closes": closes,
        "children_cancelled_at_close": exchange.cancelled_at_close if exchange is not None else 0,
        "calendar": f"{calendar.open:%H:%M}-{calendar.close:%H:%M} IST, Monday-Friday"
                    + (f", less {len(calendar.holidays)} holiday(s)" if calendar.holidays else ""),
    }
    return _Simulation(parents, injector.timeline, clock, sessions)


_DAY_LIMIT_KEYS = frozenset({"daily_loss_limit", "profit_lock"})


def _sets_day_limits(spec: ScenarioSpec) -> bool:
    """True when a `risk_change` event of the scenario (given or drawn at random) may set a day's P&L limit."""
    for event in spec.events:
        if isinstance(event, RiskChangeEvent) and _DAY_LIMIT_KEYS & event.risk.keys():
            return True
        if isinstance(event, RandomEvent) and event.event.get("type") == "risk_change":
            risk = event.event.get("risk")
            if isinstance(risk, dict) and _DAY_LIMIT_KEYS & risk.keys():
                return True
    return False


def _describe(values: array[float]) -> dict[str, float] | None:
    if not values:
        return None
    arr = np.frombuffer(values, dtype=np.float64)
    p50, p95, p99 = np.percentile(arr, [50, 95, 99])
    return {
        "mean": round(float(arr.mean()), 4),
        "p50": round(float(p50), 4),
        "p95": round(float(p95), 4),
        "p99": round(float(p99), 4),
    }


def write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    """`data` as indented JSON at `path`, written under a temporary name and renamed: never a half-written file."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)
