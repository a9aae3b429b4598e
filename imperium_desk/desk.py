"""Composition root: the only place that wires the engine's parts together.

`build_engine` assembles one engine (market, models, broker, stack, telemetry) on a given clock; the GUI,
`serve` and `replay` all use it, so the same engine code runs everywhere. `run_replay` is the headless
deterministic run on the virtual clock.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
from pydantic import ValidationError

from imperium_desk import __version__
from imperium_desk.broker.faults import FaultInjectingBroker, FaultRates
from imperium_desk.broker.paper import PaperBroker
from imperium_desk.broker.port import Broker
from imperium_desk.child_process import ChildCall
from imperium_desk.clock import Cancellable, Clock, VirtualClock, WallClock
from imperium_desk.config import Config, ConfigError, load_config, merged_config
from imperium_desk.domain.enums import Algo, Mode, OptionRight, OrderType, ParentStatus, Side, Urgency
from imperium_desk.domain.instruments import InstrumentCatalog, InstrumentError, OptionContract
from imperium_desk.execution.cost import SlippageModel
from imperium_desk.execution.planner import ExecutionAlgoPlanner
from imperium_desk.execution.ratelimit import OrderRateLimiter
from imperium_desk.execution.request import ExecutionRequest, ParentResult, RequestMetadata
from imperium_desk.execution.retry import RetryPolicy
from imperium_desk.execution.risk import RiskGate
from imperium_desk.execution.router import SmartOrderRouter
from imperium_desk.execution.stack import ExecutionStack
from imperium_desk.execution.stack import InvalidOrder as InvalidOrder  # noqa: PLC0414 - re-exported for ui
from imperium_desk.execution.stack import PreTradeEstimate as PreTradeEstimate  # noqa: PLC0414
from imperium_desk.execution.tracker import FillQualityTracker, Record
from imperium_desk.feedback.backend import (
    ActiveModelRow,
    FeedbackInputError,
    FeedbackStartError,
    FieldProblem,
    MetricsQuery,
    ModelChange,
    RecordListener,
)
from imperium_desk.feedback.learning.factory import build_learner_host
from imperium_desk.feedback.learning.host import LearnerHost
from imperium_desk.feedback.learning.plugin import LearnerLoadError
from imperium_desk.feedback.learning.proposal import Decision, ModelProposal
from imperium_desk.feedback.learning.replay import ReplayLearning
from imperium_desk.market.config import default_instruments_path
from imperium_desk.market.delayed import DelayedMarketData
from imperium_desk.market.port import Quote
from imperium_desk.market.simulator import MarketSimulator
from imperium_desk.model_input import ModelConfigError as ModelConfigError  # noqa: PLC0414 - re-exported for ui
from imperium_desk.model_input import ModelKind as ModelKind  # noqa: PLC0414 - re-exported for ui
from imperium_desk.model_input import model_path, parse_model
from imperium_desk.models.config import LatencyModels, SlippageModels
from imperium_desk.models.feed_delay import FeedDelays
from imperium_desk.models.resolver import LANES, ModelResolver, ModelSwitchError
from imperium_desk.models.resolver import ModelSwitch as ModelSwitch  # noqa: PLC0414 - re-exported for ui
from imperium_desk.models.samplers import latency_sampler, slippage_sampler
from imperium_desk.rng import RandomStreams
from imperium_desk.scenarios.injector import ActiveEvent, EventInjector
from imperium_desk.scenarios.library import DrillInfo as DrillInfo  # noqa: PLC0414 - re-exported for ui
from imperium_desk.scenarios.library import DrillSource, live_problems, scan, shipped_scenarios_dir
from imperium_desk.scenarios.live import DrillState as DrillState  # noqa: PLC0414 - re-exported for ui
from imperium_desk.scenarios.live import DrillView as DrillView  # noqa: PLC0414 - re-exported for ui
from imperium_desk.scenarios.live import LiveDrill
from imperium_desk.scenarios.outcome import OutcomeMetrics, compare
from imperium_desk.scenarios.rerun import RERUN_KEY, rerun_section
from imperium_desk.scenarios.runner import ProgressCallback, ScenarioRunner, check_instruments
from imperium_desk.scenarios.spec import LoadedScenario, ModelSwitchEvent, load_scenario
from imperium_desk.scenarios.timeline import TimedEvent, expand_timeline
from imperium_desk.telemetry.aggregates import AggregateView as AggregateView  # noqa: PLC0414 - re-exported for ui
from imperium_desk.telemetry.aggregates import LiveAggregates
from imperium_desk.telemetry.factory import build_secondaries, default_desk_id
from imperium_desk.telemetry.hub import TelemetryHub
from imperium_desk.telemetry.replay_files import ReplayTelemetry
from imperium_desk.telemetry.schema import iso_utc
from imperium_desk.telemetry.secondary import SinkStatus
from imperium_desk.telemetry.sqlite_index import IndexReader, index_path_for

if TYPE_CHECKING:
    from imperium_desk.feedback.server import FeedbackServer
    from imperium_desk.feedback.webhooks.service import WebhookService


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
    market: MarketSimulator  # the true market, which the paper exchange fills against
    feed: DelayedMarketData  # the market as the client side sees it (the `market_data` latency lane)
    models: ModelResolver
    broker: Broker
    paper: PaperBroker
    stack: ExecutionStack
    tracker: FillQualityTracker
    faults: FaultInjectingBroker

    def switch_model(self, kind: ModelKind, scope: str, model: Any | None, *, lane: str = "order",
                     source: str = "api") -> ModelSwitch:
        """Replace one scope's model (validated config, or None to remove an override) and log the switch."""
        switch = self.models.switch(kind, scope, model, lane=lane, source=source)
        self.tracker.model_switch(switch, self.underlying_of_scope(scope))
        return switch

    def replace_models(self, latency: LatencyModels, slippage: SlippageModels, *, source: str) -> list[ModelSwitch]:
        switches = self.models.replace(latency, slippage, source=source)
        for switch in switches:
            self.tracker.model_switch(switch, self.underlying_of_scope(switch.scope))
        return switches

    def event_injector(self, on_change: Callable[[ActiveEvent, str], None] | None = None) -> EventInjector:
        """Scenario events applied to this engine's market, models, broker and risk gate."""

        def switch(event: ModelSwitchEvent) -> None:
            self.switch_model(event.kind, event.scope, event.parsed, lane=event.lane, source="scenario")

        return EventInjector(
            clock=self.clock, market=self.market, models=self.models, broker=self.faults, risk=self.stack.risk,
            tracker=self.tracker, catalog=self.catalog, switch_model=switch, on_change=on_change,
        )

    async def settle_markouts(self) -> None:
        """Let the market run until every fill's last markout horizon has been read (a replay's last fills are
        measured like any other), then write them."""
        markouts = self.tracker.markouts
        if markouts is None:
            return
        while (due := markouts.last_due) is not None:
            # A millisecond past the due time: every timer due at that instant has fired, whatever their order.
            await self.clock.sleep(max(due - self.clock.monotonic(), 0.0) + 0.001)

    def underlying_of_scope(self, scope: str) -> str | None:
        """The underlying a model scope belongs to: itself, a symbol's underlying, or None (global, unknown)."""
        if scope == "global":
            return None
        if scope in self.market.underlyings:
            return scope
        try:
            return self.catalog.resolve(scope).underlying
        except InstrumentError:
            return None


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
    feed_delays = FeedDelays(
        models, lambda symbol: catalog.resolve(symbol).underlying, market.regime,
        streams.buffered("latency", "market_data"),
    )
    feed = DelayedMarketData(market, clock, feed_delays)
    paper = PaperBroker(
        clock=clock, market=market, catalog=catalog, models=models, streams=streams,
        config=config.broker.paper, id_prefix=id_prefix,
    )
    # Always behind the fault layer: scenario drills (reject storms, outages, throttles) switch faults on and off
    # at runtime. With no rules and zero rates it passes every call straight through (its draws come from a
    # stream of their own, so they never shift another stream).
    injector = FaultInjectingBroker(paper, clock, streams, faults, timeout_s=fault_timeout_s,
                                    underlying_of=lambda symbol: catalog.resolve(symbol).underlying)
    broker: Broker = injector
    tracker = FillQualityTracker(clock, mode=mode, scenario_id=scenario_id, sink=sink)
    tracker.enable_markouts(config.telemetry.markouts_s, lambda symbol: feed.quote(symbol).mid)
    ex = config.execution
    stack = ExecutionStack(
        clock=clock,
        broker=broker,
        market=feed,
        catalog=catalog,
        planner=ExecutionAlgoPlanner(streams.stream("planner"), ex.vwap_profile),
        router=SmartOrderRouter(ex.router),
        cost_model=SlippageModel(feed, ex.impact_coefficient),
        retry=RetryPolicy(ex.retry, streams.buffered("retry")),
        limiter=OrderRateLimiter(clock, config.broker.rate_limit_per_s),
        risk=RiskGate(config.risk),
        tracker=tracker,
        config=ex,
        id_prefix=id_prefix,
    )
    return Engine(config, clock, streams, catalog, market, feed, models, broker, paper, stack, tracker, injector)


# -- replay -------------------------------------------------------------------------------------------------
@dataclass
class ReplaySummary:
    run: dict[str, Any]
    results: list[ParentResult]
    telemetry_path: Path
    outcome: dict[str, Any] | None = None  # the run against its no-event baseline (scenarios with events)
    metrics: dict[str, Any] = field(default_factory=dict)  # the run's outcome metrics (events or not)


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
    results, timeline, clock = simulated
    telemetry_path = writer.commit()
    wall_s = time.perf_counter() - wall_start
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
        "timeline": timeline,
        "fill_quality": counter.fill_quality(),
        "parent_status": {s.value: statuses.get(s.value, 0) for s in ParentStatus},
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
    return ReplaySummary(run=run, results=results, telemetry_path=telemetry_path, outcome=outcome,
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


def _no_event_summary(calm: LoadedScenario, config: Config, catalog: InstrumentCatalog, seed: int) -> dict[str, Any]:
    """A live drill's baseline: its orders replayed with no events on the virtual clock, measured as the drill
    is. Module-level, because it runs in a child process (see `Desk._off_process`)."""
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
) -> tuple[list[ParentResult], list[dict[str, Any]], VirtualClock]:
    """One run of a scenario on a fresh virtual clock: its parents' results and its event timeline."""
    spec = scenario.spec
    clock = VirtualClock(config.market.start.timestamp())
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
                            timeline=timeline, on_event=injector.start)

    async def main() -> list[ParentResult]:
        engine.market.start()
        try:
            results = await runner.run(progress)
            injector.stop()  # events still running at the end of the run end with it
            await engine.settle_markouts()
            return results
        finally:
            engine.market.stop()

    return clock.run(main()), injector.timeline, clock


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


def write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def _drill_timeline(scenario: LoadedScenario) -> list[TimedEvent]:
    """A drill's events as a run of its seed fires them (random ones drawn as a replay draws them)."""
    streams = RandomStreams(scenario.spec.seed)
    return expand_timeline(scenario.spec, streams.stream("scenario", "random"), scenario.path.parent)


def _timeline_row(timed: TimedEvent) -> dict[str, Any]:
    event = timed.event
    params = event.model_dump(mode="json", exclude={"type", "at_s", "underlying", "symbol", "duration_s"},
                              exclude_none=True)
    target = event.scope if isinstance(event, ModelSwitchEvent) else event.target
    return {"at_s": timed.at_s, "event": timed.label, "type": event.type, "target": target,
            "duration_s": getattr(event, "duration_s", None), "params": params}


# -- the running desk (GUI, serve) --------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ChainRow:
    """One strike of the ladder: its call and put quotes."""

    strike: float
    atm: bool
    call: Quote
    put: Quote


@dataclass(frozen=True, slots=True)
class LegPreview:
    """One strike of a multi-strike action, as the confirmation lists it."""

    contract: OptionContract
    request: ExecutionRequest
    estimate: PreTradeEstimate


@dataclass(frozen=True, slots=True)
class PositionView:
    symbol: str
    underlying: str
    right: OptionRight
    quantity: int  # net, signed
    average_price: float
    ltp: float
    realised_pnl: float
    unrealised_pnl: float


@dataclass(frozen=True, slots=True)
class AccountView:
    capital: float
    margin_used: float
    margin_available: float
    realised_pnl: float
    unrealised_pnl: float


@dataclass(frozen=True, slots=True)
class Submitted:
    """A parent the desk accepted: its id at once, its result when the task ends."""

    parent_id: str
    request: ExecutionRequest
    task: asyncio.Task[ParentResult]


# What the desk tells its listeners (the UI bridge turns each into a Qt signal).
@dataclass(frozen=True, slots=True)
class RecordEvent:
    record: Record


@dataclass(frozen=True, slots=True)
class TicksEvent:
    quotes: Sequence[Quote]


@dataclass(frozen=True, slots=True)
class ParentStarted:
    parent_id: str
    request: ExecutionRequest


@dataclass(frozen=True, slots=True)
class ParentFinished:
    result: ParentResult


@dataclass(frozen=True, slots=True)
class PortfolioEvent:
    positions: list[PositionView]
    account: AccountView


@dataclass(frozen=True, slots=True)
class StateEvent:
    kill_switch: bool
    parents_in_flight: int
    children_in_flight: int
    feed_running: bool
    market_time: float  # epoch seconds


@dataclass(frozen=True, slots=True)
class ModelsChanged:
    """Models switched (panel, REST, config reload or a scenario): the panel refreshes its table."""

    switches: list[ModelSwitch]


@dataclass(frozen=True, slots=True)
class MessageEvent:
    """A line for the trader (the status bar), e.g. a config reload's result."""

    text: str


@dataclass(frozen=True, slots=True)
class ModelRow:
    """The model an asset uses for one kind and lane, and the scope it was resolved from."""

    asset: str
    kind: str  # latency | slippage
    lane: str  # order | insert | report | cancel | market_data
    scope: str  # the key that matched: a trading symbol, an underlying or "global"
    params: dict[str, Any]


@dataclass(frozen=True, slots=True)
class DrillEvent:
    """A drill started, one of its events began or ended, or the drill ended (`phase`), and how it stands."""

    phase: str  # started | event_start | event_end | finished | stopped | failed
    view: DrillView


@dataclass(frozen=True, slots=True)
class DrillPreview:
    """A drill before it runs: what the scenario panel shows when one is picked."""

    info: DrillInfo
    timeline: list[dict[str, Any]]  # {at_s, event, type, target, duration_s, params}, in firing order
    orders: int  # parents the drill will place


DeskEvent = (
    RecordEvent | TicksEvent | ParentStarted | ParentFinished | PortfolioEvent | StateEvent | ModelsChanged
    | MessageEvent | DrillEvent
)
DeskListener = Callable[[DeskEvent], None]

PORTFOLIO_REFRESH_S = 1.0
CONFIG_POLL_S = 1.0  # how often the desk looks for a changed config file (hot reload of the models)
PREVIEW_SEED = 20_261_121
PREVIEW_MAX_SAMPLES = 1_000_000

_T = TypeVar("_T")


def _mtime(path: Path | None) -> float | None:
    if path is None:
        return None
    try:
        return path.stat().st_mtime
    except OSError:
        return None


class Desk:
    """The running desk: one engine on a clock (the wall clock under Qt), its telemetry file, and every
    operation the window offers. Widgets call these methods and listen to `DeskEvent`s; nothing in the UI
    touches the broker, the market or the stack directly."""

    def __init__(
        self,
        config: Config,
        *,
        home: Path,
        clock: WallClock | VirtualClock,
        mode: Mode = Mode.PAPER,
        seed: int | None = None,
        config_path: Path | None = None,
    ) -> None:
        self.config = config
        self.home = home
        self.mode = mode
        self.clock = clock
        self._loop = clock.loop
        self.telemetry_path = home / f"execution_quality_{mode.value}.jsonl"
        self.telemetry_index_path = index_path_for(self.telemetry_path)
        # The JSONL (torn tail repaired, rotated by size/day) and the secondary sinks that follow it.
        self._writer = TelemetryHub(
            self.telemetry_path, config.telemetry, build_secondaries(config.telemetry, self.telemetry_path),
            append=True, rotate=True,
        )
        self.engine = build_engine(
            config, clock=clock, seed=config.market.seed if seed is None else seed, mode=mode,
            sink=self._writer.write,
        )
        self.engine.tracker.seq = self._writer.last_seq  # seq continues across restarts, gap-free
        self.catalog = self.engine.catalog
        self._listeners: list[DeskListener] = []
        self._tasks: dict[str, Submitted] = {}
        # Exits in flight: parent id -> symbol. A symbol with an exit travelling is skipped by the next EXIT: the
        # broker's position may already include the fill whose answer has not arrived, so counting is unsafe.
        self._exits: dict[str, str] = {}
        self._portfolio_timer: Cancellable | None = None
        self._portfolio_pending = False
        self._group_seq = 0
        self._stopped = False  # stop requested: no new orders
        self._closed = False  # stop finished
        self._children: set[ChildCall[Any]] = set()  # calls running in child processes (`_off_process`)
        self._stop_task: asyncio.Task[None] | None = None
        self.last_portfolio = PortfolioEvent([], AccountView(config.broker.paper.capital, 0.0,
                                                              config.broker.paper.capital, 0.0, 0.0))
        # Live execution figures (stats table, charts). Registered before `_on_record`, so a widget reacting to a
        # record already finds it counted.
        self.aggregates = LiveAggregates(clock.now)
        self.engine.tracker.add_listener(self.aggregates.add)
        self.engine.tracker.add_listener(self._on_record)
        self.engine.feed.add_listener(self._on_ticks)
        self.config_path = config_path
        self._config_mtime = _mtime(config_path)
        self._config_timer: Cancellable | None = None
        self._reloading = False
        self.drills_dir = home / "scenarios"  # the trader's own drills, listed after the shipped ones
        self.drill: LiveDrill | None = None  # the drill running now, or the last one (its outcome)
        # The feedback API (start_feedback): its token file, and once started its address, backend and server.
        self.feedback_token_path = home / "feedback.token"
        self.feedback_address: str | None = None
        self.feedback_backend: DeskFeedback | None = None
        self._feedback_server: FeedbackServer | None = None

    # -- lifecycle -------------------------------------------------------------------------------------------
    def start(self) -> None:
        """Start the market feed and the portfolio refresh (the clock's loop must be the app's loop)."""
        self.engine.market.start()
        self._portfolio_timer = self.clock.call_later(PORTFOLIO_REFRESH_S, self._portfolio_tick)
        if self.config_path is not None:
            self._config_timer = self.clock.call_later(CONFIG_POLL_S, self._config_tick)
        self._emit_state()

    async def stop(self) -> None:
        """Stop cleanly: no new orders, running parents cancelled, the feed stopped, telemetry flushed. Every caller
        (the window's close, Ctrl+C, a test's teardown) awaits the same single stop."""
        await asyncio.shield(self.start_stop())

    def start_stop(self) -> asyncio.Task[None]:
        """`stop` as a task, for callers that are not coroutines (the window's close)."""
        if self._stop_task is None:
            self._stopped = True  # from now on submit() refuses
            self._stop_task = self._loop.create_task(self._stop())
        return self._stop_task

    async def _stop(self) -> None:
        if self._feedback_server is not None:
            await self.stop_feedback()  # first: no request reaches a desk that is stopping
        for timer in (self._portfolio_timer, self._config_timer):
            if timer is not None:
                timer.cancel()
        if self.drill is not None:
            await self.drill.stop()  # its events undone and its parents cancelled before the market stops
            await asyncio.sleep(0)  # its done callback (the outcome record) runs while the log is still open
        for call in list(self._children):
            call.kill()  # none is left once the drill has its outcome; a stop leaves no child process behind
        self.engine.market.stop()
        tasks = [s.task for s in self._tasks.values()]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        if self.engine.tracker.markouts is not None:
            self.engine.tracker.markouts.flush()  # fills whose horizons have not passed: written with nulls
        # Joining the writer thread waits on the disk: off the loop (a failed flush is raised here).
        await self._off_loop(self._writer.close, "telemetry-close")
        self._closed = True

    def _off_loop(self, work: Callable[[], _T], name: str) -> asyncio.Future[_T]:
        """`work` on a thread of its own, its result (or exception) on the loop. A plain thread rather than the
        loop's default executor: qasync's executor threads outlive their loop. On the virtual clock there is no
        wall time to keep free, and threads would race virtual time, so the work runs at once."""
        done: asyncio.Future[_T] = self._loop.create_future()

        def settle(result: _T | None, error: BaseException | None) -> None:
            if done.done():
                return
            if error is None:
                done.set_result(result)  # type: ignore[arg-type]
            else:
                done.set_exception(error)

        if isinstance(self.clock, VirtualClock):
            try:
                settle(work(), None)
            except Exception as exc:
                settle(None, exc)
            return done

        def run() -> None:
            try:
                result = work()
            except BaseException as exc:
                self._loop.call_soon_threadsafe(settle, None, exc)
            else:
                self._loop.call_soon_threadsafe(settle, result, None)

        threading.Thread(target=run, name=name, daemon=True).start()
        return done

    def _off_process(self, name: str, work: Callable[..., _T], args: tuple[Any, ...]) -> asyncio.Future[_T]:
        """`work(*args)` in a child process (long Python work: on a thread it would hold the GIL the Qt thread
        needs), its result on the loop. The desk's stop kills a child still running. On the virtual clock the
        work runs at once, as in `_off_loop`."""
        if isinstance(self.clock, VirtualClock):
            return self._off_loop(lambda: work(*args), name)
        call = ChildCall(name, work, args, preload=["imperium_desk.desk"])
        self._children.add(call)
        done = self._off_loop(call.result, name)
        done.add_done_callback(lambda _f: self._children.discard(call))
        return done

    # -- feedback API ----------------------------------------------------------------------------------------
    async def start_feedback(self) -> str:
        """Serve the feedback API (DESIGN.md §6) on this desk's loop and return its address: the token (created in
        `feedback_token_path` on first start), the webhook outbox (`<home>/webhooks.sqlite`), the learner host, the
        app and its server. Not part of `start()`: the window and `serve` run it, tests and other desks do not.
        `stop()` stops it first. Raises ConfigError (port in use, remote host not allowed, unusable token file,
        unknown learner)."""
        if self._feedback_server is not None or self._stopped:
            raise RuntimeError("the feedback API is already started, or the desk is stopping")
        if "sqlite" not in self.config.telemetry.sinks:
            raise ConfigError(["telemetry.sinks: the feedback API serves records from the SQLite index; add sqlite"])
        cfg = self.config.feedback
        token_path = self.feedback_token_path

        def prepare() -> tuple[str, WebhookService | None]:
            # FastAPI, uvicorn and httpx take a while to import, and the token is a file: not on the loop.
            import imperium_desk.feedback.app
            import imperium_desk.feedback.server  # noqa: F401
            from imperium_desk.feedback.token import load_or_create_token
            from imperium_desk.feedback.webhooks.service import WebhookService
            from imperium_desk.feedback.webhooks.source import JsonlSource

            token = load_or_create_token(token_path)
            if not cfg.webhooks.enabled:
                return token, None
            writer = self._writer
            source = JsonlSource(self.telemetry_path, lambda: writer.flushed_seq)
            desk_id = self.config.telemetry.desk_id or default_desk_id(self.telemetry_path)
            return token, WebhookService(self.home / "webhooks.sqlite", cfg.webhooks, self.clock, desk_id, source)

        from imperium_desk.feedback.app import build_app
        from imperium_desk.feedback.server import FeedbackServer

        backend: DeskFeedback | None = None
        try:
            token, webhooks = await self._off_loop(prepare, "feedback-start")
            learning = build_learner_host(
                cfg.learning, clock=self.clock, models=self.engine.models,
                underlying_of=self.engine.underlying_of_scope, apply=self._apply_proposal,
                streams=self.engine.streams, tick_size=self._tick_size,
            )
            backend = DeskFeedback(self, webhooks=webhooks, learning=learning)
            if webhooks is not None:
                await webhooks.start()
            server = FeedbackServer(build_app(backend, token, cfg), cfg.host, cfg.port,
                                    allow_remote=cfg.allow_remote)
            address = await server.start()
        except (FeedbackStartError, LearnerLoadError) as exc:
            if backend is not None:
                await backend.aclose()
            raise ConfigError(exc.errors if isinstance(exc, LearnerLoadError) else [str(exc)]) from None
        except BaseException:
            if backend is not None:
                await backend.aclose()
            raise
        self._feedback_server, self.feedback_backend, self.feedback_address = server, backend, address
        if self._stopped:
            # The desk began stopping while the API started: its stop did not see a server to stop, so stop it here.
            await self.stop_feedback()
            raise ConfigError(["desk: stopped while the feedback API was starting"])
        return address

    async def stop_feedback(self) -> None:
        """Stop the feedback API (its streams ended, running requests finished), then the learner host and the
        webhook outbox; no task of theirs is left."""
        server, backend = self._feedback_server, self.feedback_backend
        self._feedback_server = self.feedback_backend = None
        self.feedback_address = None
        if server is not None:
            await server.stop()
        if backend is not None:
            await backend.aclose()

    def _apply_proposal(self, proposal: ModelProposal, source: str) -> Awaitable[ModelSwitch]:
        """The learner host's switch: the models panel's own, so a learner's change is validated and logged alike."""
        return self.switch_model(proposal.kind, proposal.scope, proposal.model, lane=proposal.lane, source=source)

    def _tick_size(self, symbol: str) -> float | None:
        try:
            return self.catalog.resolve(symbol).tick_size
        except InstrumentError:
            return None

    @property
    def stopped(self) -> bool:
        """True once the stop has finished (telemetry flushed and closed)."""
        return self._closed

    def telemetry_status(self) -> list[SinkStatus]:
        """Each telemetry sink (the JSONL, then SQLite/Redis): live, catching up or down, for the status bar."""
        return self._writer.status()

    def add_listener(self, listener: DeskListener) -> None:
        self._listeners.append(listener)

    # -- market --------------------------------------------------------------------------------------------
    @property
    def underlyings(self) -> list[str]:
        return self.engine.market.underlyings

    def lot_size(self, underlying: str) -> int:
        return self.catalog.underlying(underlying).lot_size

    def expiries(self, underlying: str, count: int = 4) -> list[date]:
        return self.catalog.expiries(underlying, datetime.fromtimestamp(self.clock.now(), UTC), count)

    def spot(self, underlying: str) -> float:
        return self.engine.market.spot(underlying)

    def atm_strike(self, underlying: str) -> float:
        return self.catalog.atm_strike(underlying, self.spot(underlying))

    def chain(self, underlying: str, expiry: date, strikes_each_side: int) -> list[ChainRow]:
        """The ladder around ATM, lowest strike first; every contract in it is subscribed (and ticks)."""
        contracts = self.engine.market.chain(underlying, expiry, strikes_each_side)
        atm = self.atm_strike(underlying)
        market = self.engine.feed
        rows: list[ChainRow] = []
        for i in range(0, len(contracts), 2):
            call, put = contracts[i], contracts[i + 1]
            rows.append(ChainRow(call.strike, call.strike == atm, market.quote(call.symbol),
                                 market.quote(put.symbol)))
        return rows

    def contract(self, underlying: str, expiry: date, strike: float, right: OptionRight) -> OptionContract:
        contract = self.catalog.contract(underlying, expiry, strike, right)
        self.engine.feed.subscribe(contract)
        return contract

    def quote(self, symbol: str) -> Quote:
        return self.engine.feed.subscribe(self.catalog.resolve(symbol))

    # -- orders ----------------------------------------------------------------------------------------------
    def preview(self, request: ExecutionRequest) -> PreTradeEstimate:
        """Pre-trade estimate for a ticket; raises InvalidOrder naming the field."""
        return self.engine.stack.preview(request)

    def submit(self, request: ExecutionRequest) -> Submitted:
        """Validate (InvalidOrder names the field) and start the parent on the stack."""
        if self._stopped:
            raise InvalidOrder("desk: stopping; no new orders")
        stack = self.engine.stack
        stack.validate(request)
        parent_id = stack.reserve_parent_id()
        task = self._loop.create_task(stack.execute(request, parent_id), name=f"parent-{parent_id}")
        submitted = Submitted(parent_id, request, task)
        self._tasks[parent_id] = submitted
        if request.metadata.is_exit:
            self._exits[parent_id] = request.symbol
        task.add_done_callback(lambda t: self._finished(submitted, t))
        self._emit(ParentStarted(parent_id, request))
        self._emit_state()
        return submitted

    def submit_many(self, requests: Sequence[ExecutionRequest]) -> list[Submitted]:
        """Several parents as one action: all validated before any is sent, so one bad leg sends nothing."""
        for request in requests:
            self.engine.stack.validate(request)
        return [self.submit(r) for r in requests]

    def new_group(self, prefix: str) -> str:
        self._group_seq += 1
        return f"{prefix}-{self._group_seq:04d}"

    def multi_strike_legs(
        self,
        *,
        underlying: str,
        expiry: date,
        right: OptionRight,
        strikes_below: int,
        strikes_above: int,
        lots: int,
        side: Side = Side.BUY,
        order_type: OrderType = OrderType.MARKET,
        algo: Algo | None = None,
        group: str | None = None,
        limit_offset_ticks: int = 0,
    ) -> list[LegPreview]:
        """The strikes a multi-strike action trades, lowest first, each with its request and estimate.
        LIMIT legs are priced at the near-side touch of their own book, `limit_offset_ticks` through it."""
        try:
            return self._multi_strike_legs(
                underlying=underlying, expiry=expiry, right=right, strikes_below=strikes_below,
                strikes_above=strikes_above, lots=lots, side=side, order_type=order_type, algo=algo, group=group,
                limit_offset_ticks=limit_offset_ticks,
            )
        except InstrumentError as exc:
            raise InvalidOrder(f"instrument: {exc}") from None
        except ValidationError as exc:
            first = exc.errors()[0]
            field_name = ".".join(str(p) for p in first["loc"])
            raise InvalidOrder(f"{field_name}: {first['msg']} (got {first.get('input')!r})") from None

    def _multi_strike_legs(
        self,
        *,
        underlying: str,
        expiry: date,
        right: OptionRight,
        strikes_below: int,
        strikes_above: int,
        lots: int,
        side: Side,
        order_type: OrderType,
        algo: Algo | None,
        group: str | None,
        limit_offset_ticks: int,
    ) -> list[LegPreview]:
        if lots < 1:
            raise InvalidOrder(f"lots: {lots} must be at least 1")
        if strikes_below < 0 or strikes_above < 0:
            raise InvalidOrder(f"strikes: below {strikes_below} / above {strikes_above} must not be negative")
        lot = self.lot_size(underlying)
        spot = self.spot(underlying)
        legs: list[LegPreview] = []
        for k in range(-strikes_below, strikes_above + 1):
            strike = self.catalog.strike_offset(underlying, spot, k)
            if strike <= 0:
                continue
            contract = self.contract(underlying, expiry, strike, right)
            quote = self.engine.feed.quote(contract.symbol)
            limit: float | None = None
            if order_type is OrderType.LIMIT:
                touch = quote.ask if side is Side.BUY else quote.bid
                limit = max(contract.tick_size, round(touch + side.sign * limit_offset_ticks * contract.tick_size, 2))
            request = ExecutionRequest(
                symbol=contract.symbol, side=side, quantity=lots * lot, order_type=order_type, algo=algo,
                limit_price=limit, ltp=quote.ltp, bid=quote.bid, ask=quote.ask,
                metadata=RequestMetadata(source="multi_strike", group=group),
            )
            legs.append(LegPreview(contract, request, self.preview(request)))
        return legs

    async def exit_positions(
        self, *, right: OptionRight | None = None, underlying: str | None = None, source: str = "exit"
    ) -> list[Submitted]:
        """Close every open position (of one option type / underlying, or all) with MARKET exits that the risk
        gate never blocks. A symbol whose exit is still travelling is skipped, so pressing EXIT twice never flips a
        position."""
        group = self.new_group("EXIT")
        requests: list[ExecutionRequest] = []
        for position in await self.engine.broker.positions():
            contract = self.catalog.resolve(position.symbol)
            if (right is not None and contract.right is not right) or (
                underlying is not None and contract.underlying != underlying
            ):
                continue
            open_qty = position.quantity
            if open_qty == 0 or position.symbol in self._exits.values():
                continue
            quote = self.quote(contract.symbol)
            requests.append(ExecutionRequest(
                symbol=contract.symbol, side=Side.SELL if open_qty > 0 else Side.BUY, quantity=abs(open_qty),
                algo=Algo.IMMEDIATE, urgency=Urgency.HIGH, ltp=quote.ltp, bid=quote.bid, ask=quote.ask,
                metadata=RequestMetadata(source=source, group=group, is_exit=True),
            ))
        return self.submit_many(requests)

    def start_exit(
        self, *, right: OptionRight | None = None, underlying: str | None = None, source: str = "exit"
    ) -> asyncio.Task[list[Submitted]]:
        """`exit_positions` as a task, for callers that are not coroutines (buttons, shortcuts)."""
        return self._loop.create_task(self.exit_positions(right=right, underlying=underlying, source=source))

    @property
    def kill_switch(self) -> bool:
        return self.engine.stack.risk.config.kill_switch

    def set_kill_switch(self, on: bool) -> None:
        risk = self.engine.stack.risk
        risk.update(risk.config.model_copy(update={"kill_switch": on}))
        self._emit_state()

    @property
    def parents_in_flight(self) -> int:
        return len(self._tasks)

    @property
    def children_in_flight(self) -> int:
        return self.engine.stack.children_in_flight

    # -- portfolio -------------------------------------------------------------------------------------------
    async def refresh_portfolio(self) -> PortfolioEvent:
        broker, market = self.engine.broker, self.engine.feed
        positions = await broker.positions()
        margins = await broker.margins()
        views: list[PositionView] = []
        for p in positions:
            contract = self.catalog.resolve(p.symbol)
            ltp = market.subscribe(contract).ltp
            unrealised = (ltp - p.average_price) * p.quantity if p.quantity else 0.0
            views.append(PositionView(p.symbol, contract.underlying, contract.right, p.quantity, p.average_price,
                                      ltp, round(p.realised_pnl, 2), round(unrealised, 2)))
        account = AccountView(
            capital=margins.capital, margin_used=round(margins.used, 2),
            margin_available=round(margins.available, 2),
            realised_pnl=round(sum(v.realised_pnl for v in views), 2),
            unrealised_pnl=round(sum(v.unrealised_pnl for v in views), 2),
        )
        event = PortfolioEvent(views, account)
        self.last_portfolio = event
        self._emit(event)
        return event

    def _portfolio_tick(self) -> None:
        self._portfolio_timer = self.clock.call_later(PORTFOLIO_REFRESH_S, self._portfolio_tick)
        self._schedule_portfolio()
        self._emit_state()

    def _schedule_portfolio(self) -> None:
        if not self._portfolio_pending and not self._stopped:
            self._portfolio_pending = True
            self._loop.create_task(self._refresh_once())

    async def _refresh_once(self) -> None:
        try:
            await self.refresh_portfolio()
        finally:
            self._portfolio_pending = False

    # -- latency and slippage models -------------------------------------------------------------------------
    def models_config(self) -> tuple[LatencyModels, SlippageModels]:
        models = self.engine.models
        return models.latency_models, models.slippage_models

    def model_rows(self) -> list[ModelRow]:
        """The active models of each simulated underlying and of each asset with an override of its own."""
        latency, slippage = self.models_config()
        assets = list(self.underlyings)
        keyed: list[dict[str, Any]] = [latency.per_asset, slippage.per_asset]
        keyed += [lane.per_asset for name in LANES[1:] if (lane := getattr(latency.lanes, name)) is not None]
        for per_asset in keyed:
            assets += [key for key in per_asset if key not in assets]
        rows: list[ModelRow] = []
        for asset in assets:
            resolved = self.engine.models.resolve(asset, self._underlying_of(asset))
            for kind, lane, model in (
                ("latency", "order", resolved.latency), ("slippage", "order", resolved.slippage),
                ("latency", "insert", resolved.insert), ("latency", "report", resolved.report),
                ("latency", "cancel", resolved.cancel), ("latency", "market_data", resolved.market_data),
            ):
                if model is not None:
                    rows.append(ModelRow(asset, kind, lane, model.scope, model.params))
        return rows

    async def switch_model(self, kind: ModelKind, scope: str, model: Mapping[str, Any] | None, *,
                           lane: str = "order", source: str = "panel") -> ModelSwitch:
        """Validate `model` (off the loop: a historical model reads its file) and switch it in for new orders.
        Raises `ModelConfigError` naming the field; on error nothing changes."""
        scope = scope.strip()
        where = model_path(kind, scope or "?", lane)
        parsed = None
        if model is not None:
            base = self.config_path.parent if self.config_path is not None else None
            parsed = await self._off_loop(lambda: parse_model(kind, model, where=where, base=base), "model-parse")
        try:
            switch = self.engine.switch_model(kind, scope, parsed, lane=lane, source=source)
        except ModelSwitchError as exc:
            raise ModelConfigError([str(exc)]) from None
        self._emit(ModelsChanged([switch]))
        return switch

    async def preview_samples(self, kind: ModelKind, model: Mapping[str, Any], n: int = 20_000) -> np.ndarray:
        """`n` draws of a model (validated like `switch_model`), for a preview: a fixed seed, so the same model
        always previews the same."""
        if not 1 <= n <= PREVIEW_MAX_SAMPLES:
            raise ModelConfigError([f"n: {n} must be between 1 and {PREVIEW_MAX_SAMPLES}"])
        base = self.config_path.parent if self.config_path is not None else None

        def draw() -> np.ndarray:
            parsed = parse_model(kind, model, where=f"{kind}_model", base=base)
            sampler = latency_sampler(parsed) if kind == "latency" else slippage_sampler(parsed)
            return sampler.sample(np.random.Generator(np.random.PCG64(PREVIEW_SEED)), n)

        return await self._off_loop(draw, "model-preview")

    async def reload_config(self) -> list[ModelSwitch]:
        """Re-read the config file and switch in its latency/slippage models. An invalid file raises ConfigError
        (field paths) and the desk keeps its models; other sections are read at start only."""
        if self.config_path is None:
            raise ConfigError(["the desk was started without --config: there is no file to reload"])
        path = self.config_path
        self._config_mtime = _mtime(path)
        try:
            new = await self._off_loop(lambda: load_config(path), "config-reload")
        except ConfigError as exc:
            self._emit(MessageEvent(f"config reload rejected, models unchanged: {exc.errors[0]}"
                                    + (f" (+{len(exc.errors) - 1} more)" if len(exc.errors) > 1 else "")))
            raise
        switches = self.engine.replace_models(new.latency_model, new.slippage_model, source="reload")
        unchanged = {"latency_model", "slippage_model"}
        restart = [name for name in Config.model_fields if name not in unchanged
                   and getattr(new, name) != getattr(self.config, name)]
        message = f"config reloaded: {len(switches)} model change(s)"
        if restart:
            message += f"; {', '.join(restart)} take effect at the next start"
        self._emit(MessageEvent(message))
        if switches:
            self._emit(ModelsChanged(switches))
        return switches

    def _config_tick(self) -> None:
        self._config_timer = self.clock.call_later(CONFIG_POLL_S, self._config_tick)
        # A stat is a metadata lookup of microseconds; reading and validating the file happen off the loop.
        if self._reloading or self.config_path is None or _mtime(self.config_path) == self._config_mtime:
            return
        self._reloading = True
        self._loop.create_task(self._reload_quietly())

    async def _reload_quietly(self) -> None:
        try:
            await self.reload_config()
        except ConfigError:
            pass  # reported as a message; the desk keeps its models
        finally:
            self._reloading = False

    def _underlying_of(self, asset: str) -> str:
        return self.engine.underlying_of_scope(asset) or asset

    # -- drills ----------------------------------------------------------------------------------------------
    async def drill_library(self) -> list[DrillInfo]:
        """The shipped drills, then the trader's (`<home>/scenarios/`), each checked against this desk."""
        folders: list[tuple[Path, DrillSource]] = [(shipped_scenarios_dir(), "shipped"), (self.drills_dir, "user")]
        underlyings = list(self.underlyings)
        return await self._off_loop(lambda: scan(folders, self.catalog, underlyings), "drill-library")

    async def drill_preview(self, path: Path) -> DrillPreview:
        """A drill's description, event timeline (random events drawn from its seed) and order count.
        Raises ConfigError (field paths) for a file that cannot run here."""
        scenario = await self._off_loop(lambda: self._load_drill(path), "drill-load")
        spec = scenario.spec
        timeline = _drill_timeline(scenario)
        orders = sum(len(o.times(spec.duration_s)) for o in spec.orders)
        info = DrillInfo(path, "user" if path.parent == self.drills_dir else "shipped", spec.id, spec.description,
                         spec.duration_s, len(spec.orders), len(spec.events), None)
        rows = [_timeline_row(t) for t in timeline]
        return DrillPreview(info, rows, orders)

    async def start_drill(self, path: Path) -> DrillView:
        """Run a drill against the live paper session: its orders through the stack, its events on the wall
        clock. One drill at a time; raises ConfigError for a file that cannot run here (nothing starts)."""
        self._check_drill_can_start()
        scenario = await self._off_loop(lambda: self._load_drill(path), "drill-load")
        self._check_drill_can_start()  # again: a second start (or the desk's stop) may have come while it loaded
        spec = scenario.spec
        engine = self.engine
        latency, slippage = self.models_config()
        calm_config = self.config.model_copy(update={"latency_model": latency, "slippage_model": slippage})
        calm = scenario.model_copy(update={"spec": spec.model_copy(update={"events": []})})

        def submit(request: ExecutionRequest) -> tuple[str, asyncio.Task[ParentResult]]:
            submitted = self.submit(request)
            return submitted.parent_id, submitted.task

        def runner(execute: Callable[[ExecutionRequest], Any]) -> ScenarioRunner:
            return ScenarioRunner(spec, clock=self.clock, stack=engine.stack, market=engine.feed,
                                  catalog=self.catalog, timeline=_drill_timeline(scenario),
                                  on_event=injector.start, execute=execute, source="drill")

        injector = engine.event_injector(on_change=self._drill_changed)
        drill = LiveDrill(
            spec, runner, loop=self._loop, clock=self.clock, injector=injector, tracker=engine.tracker, submit=submit,
            cancel_parents=self._cancel_parents, seed=spec.seed,
            baseline=self._off_process(
                "drill-baseline", _no_event_summary, (calm, calm_config, self.catalog, spec.seed)
            ),
        )
        self.drill = drill
        drill.task.add_done_callback(lambda _t: self._drill_done(drill))
        self._emit(DrillEvent("started", drill.view()))
        self._emit(MessageEvent(f"drill {spec.id} started ({spec.duration_s:g} s)"))
        return drill.view()

    async def stop_drill(self) -> DrillView | None:
        """Stop the running drill (events undone, its parents cancelled); its outcome covers what ran."""
        drill = self.drill
        if drill is None:
            return None
        await drill.stop()
        return drill.view()

    def _check_drill_can_start(self) -> None:
        if self._stopped:
            raise ConfigError(["desk: stopping; no drill can start"])
        if self.drill is not None and self.drill.state is DrillState.RUNNING:
            raise ConfigError([f"drill {self.drill.spec.id!r} is running: stop it first"])

    def _load_drill(self, path: Path) -> LoadedScenario:
        scenario = load_scenario(path)
        problems = live_problems(scenario, self.catalog, list(self.underlyings))
        if problems:
            raise ConfigError(problems)
        return scenario

    async def _cancel_parents(self, parent_ids: set[str]) -> None:
        tasks = [s.task for pid, s in list(self._tasks.items()) if pid in parent_ids]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    def _drill_changed(self, active: ActiveEvent, phase: str) -> None:
        if self.drill is not None:  # None only while the drill is being built (no event fires then)
            self._emit(DrillEvent(f"event_{phase}", self.drill.view()))

    def _drill_done(self, drill: LiveDrill) -> None:
        view = drill.view()
        if view.outcome is not None:
            # Logged as a `scenario_outcome` record (webhooks, the stream, the index) and, with the feedback API
            # running, handed to the learners as a posted outcome is.
            posted = {"scenario_id": view.id, "seed": drill.seed, "outcome": view.outcome,
                      "metrics": {"state": view.state.value, "elapsed_s": view.elapsed_s, "parents": view.parents}}
            if self.feedback_backend is not None:
                self.feedback_backend.record_outcome(posted)
            else:
                self.engine.tracker.scenario_outcome(posted)
        self._emit(DrillEvent(view.state.value, view))
        text = f"drill {drill.spec.id} {view.state.value} after {view.elapsed_s:g} s"
        self._emit(MessageEvent(text + (f": {view.error}" if view.error else "")))

    # -- events ----------------------------------------------------------------------------------------------
    def _emit(self, event: DeskEvent) -> None:
        for listener in self._listeners:
            listener(event)

    def _emit_state(self) -> None:
        self._emit(StateEvent(self.kill_switch, self.parents_in_flight, self.children_in_flight,
                              self.engine.market.running, self.clock.now()))

    def _on_record(self, record: Record) -> None:
        self._emit(RecordEvent(record))
        if record["event"] in {"fill", "partial_fill"}:
            self._schedule_portfolio()

    def _on_ticks(self, quotes: Sequence[Quote]) -> None:
        self._emit(TicksEvent(quotes))

    def _finished(self, submitted: Submitted, task: asyncio.Task[ParentResult]) -> None:
        self._tasks.pop(submitted.parent_id, None)
        request = submitted.request
        self._exits.pop(submitted.parent_id, None)
        if task.cancelled():
            result = ParentResult(submitted.parent_id, request.symbol, request.side, request.quantity,
                                  ParentStatus.CANCELLED, reason="desk stopped")
        elif task.exception() is not None:
            exc = task.exception()
            result = ParentResult(submitted.parent_id, request.symbol, request.side, request.quantity,
                                  ParentStatus.FAILED, reason=f"{type(exc).__name__}: {exc}")
        else:
            result = task.result()
        self._emit(ParentFinished(result))
        self._emit_state()
        self._schedule_portfolio()


# -- the desk as the feedback API sees it --------------------------------------------------------------------
class DeskFeedback:
    """`FeedbackBackend` (feedback/backend.py) over a running desk: records read from its telemetry index,
    measurements and outcomes written through its tracker (so they flow like the desk's own records: JSONL, index,
    stream, webhooks, learners), and models switched the way the models panel switches them."""

    def __init__(self, desk: Desk, *, webhooks: WebhookService | None = None,
                 learning: LearnerHost | None = None) -> None:
        self._desk = desk
        self._reader = IndexReader(desk.telemetry_index_path)
        self._listeners: list[RecordListener] = []
        desk.engine.tracker.add_listener(self._fan_out)
        self.webhooks = webhooks
        self.learning = learning
        self._unhook: list[Callable[[], None]] = []
        if learning is not None:
            self._unhook.append(self.subscribe(learning.on_record))
            if webhooks is not None:
                self._unhook.append(learning.add_listener(self._publish_decision))

    def close(self) -> None:
        """Stop handing records out and close the index reader (the services are `aclose`'s)."""
        for unhook in self._unhook:
            unhook()
        self._listeners.clear()
        self._reader.close()

    async def aclose(self) -> None:
        """`close`, then the learner host (changes being applied finish) and the webhook outbox."""
        self.close()
        if self.learning is not None:
            await self.learning.close()
        if self.webhooks is not None:
            await self.webhooks.stop()

    def _publish_decision(self, decision: Decision) -> None:
        """Each proposal's decision (pending, applied, refused, ...) to the webhook subscribers that want them."""
        assert self.webhooks is not None
        try:
            self.webhooks.publish("model_proposal", decision.model_dump(mode="json"))
        except Exception:  # a listener must not break the host's decision; the outbox logs its own failures
            logging.getLogger(__name__).exception("could not publish decision %s to webhooks", decision.id)

    # -- records -------------------------------------------------------------------------------------------
    def metrics_lines(self, query: MetricsQuery) -> list[tuple[int, bytes]]:
        return self._reader.query_lines(since_seq=query.since_seq, since_time=query.since_time, asset=query.asset,
                                        scenario_id=query.scenario_id, limit=query.limit)

    def last_seq(self) -> int:
        return self._desk.engine.tracker.seq

    def subscribe(self, listener: RecordListener) -> Callable[[], None]:
        self._listeners.append(listener)

        def unsubscribe() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return unsubscribe

    def _fan_out(self, record: Record) -> None:
        for listener in self._listeners:
            listener(record)

    def ingest_metrics(self, records: Sequence[Mapping[str, Any]]) -> tuple[int, int]:
        tracker = self._desk.engine.tracker
        received = iso_utc(self._desk.clock.now())
        first = tracker.seq + 1
        for record in records:
            tracker.external(dict(record), {"seq": record.get("seq"), "received_at": received, "via": "rest"})
        return first, tracker.seq

    def record_outcome(self, outcome: Mapping[str, Any]) -> int:
        seq = self._desk.engine.tracker.scenario_outcome(dict(outcome))
        if self.learning is not None:
            self.learning.on_outcome(outcome)
        return seq

    # -- models --------------------------------------------------------------------------------------------
    def models(self) -> list[ActiveModelRow]:
        return [ActiveModelRow(r.asset, r.kind, r.lane, r.scope, r.params) for r in self._desk.model_rows()]

    async def put_models(self, changes: Sequence[ModelChange], source: str) -> list[ModelSwitch]:
        """Every change validated (models parsed off the loop, then all switches tried on a scratch resolver), then
        all applied at once on the loop: one bad change applies none."""
        desk = self._desk
        base = desk.config_path.parent if desk.config_path is not None else None

        def parse_all() -> list[tuple[Any, list[FieldProblem]]]:
            parsed: list[tuple[Any, list[FieldProblem]]] = []
            for i, change in enumerate(changes):
                if change.model is None:
                    parsed.append((None, []))
                    continue
                where = model_path(change.kind, change.scope, change.lane)
                try:
                    parsed.append((parse_model(change.kind, change.model, where=where, base=base), []))
                except ModelConfigError as exc:
                    parsed.append((None, [FieldProblem(("body", "changes", i, "model"), e) for e in exc.errors]))
            return parsed

        parsed = await desk._off_loop(parse_all, "model-parse")
        engine = desk.engine
        problems = [p for _, found in parsed for p in found]
        scratch = ModelResolver(*desk.models_config())  # the switches in order, as they would apply now
        for i, (change, (model, found)) in enumerate(zip(changes, parsed, strict=True)):
            if found:
                continue
            if model is not None and change.scope != "global" and engine.underlying_of_scope(change.scope) is None:
                problems.append(FieldProblem(("body", "changes", i, "scope"), (
                    f"{change.scope!r} is not global, a simulated underlying ({', '.join(desk.underlyings)}) or a "
                    "known trading symbol")))
                continue
            try:
                scratch.switch(change.kind, change.scope, model, lane=change.lane, source=source)
            except ModelSwitchError as exc:
                problems.append(FieldProblem(("body", "changes", i), str(exc)))
        if problems:
            raise FeedbackInputError(problems)
        switches = [engine.switch_model(c.kind, c.scope, model, lane=c.lane, source=source)
                    for c, (model, _) in zip(changes, parsed, strict=True)]
        desk._emit(ModelsChanged(switches))
        return switches
