"""Engine assembly: the one place that picks the venue (broker and market feed) and wires an engine together.

`build_engine` builds the same engine for the window, `serve` and `replay`: only the clock differs (wall or
virtual), so the code that trades is the code that replays.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from imperium_desk.broker.faults import FaultInjectingBroker, FaultRates
from imperium_desk.broker.paper import PaperBroker
from imperium_desk.broker.paper.exchange import ENDED_ORDER_RETENTION_S
from imperium_desk.broker.port import Broker
from imperium_desk.clock import Clock
from imperium_desk.config import Config, ConfigError
from imperium_desk.domain.enums import Mode
from imperium_desk.domain.instruments import InstrumentCatalog, InstrumentError
from imperium_desk.execution.cost import SlippageModel
from imperium_desk.execution.planner import ExecutionAlgoPlanner
from imperium_desk.execution.protection import ProtectionManager
from imperium_desk.execution.ratelimit import OrderRateLimiter
from imperium_desk.execution.retry import RetryPolicy
from imperium_desk.execution.risk import RiskGate
from imperium_desk.execution.router import SmartOrderRouter
from imperium_desk.execution.stack import ExecutionStack
from imperium_desk.execution.tracker import FillQualityTracker, Record
from imperium_desk.market.delayed import DelayedMarketData
from imperium_desk.market.port import MarketData, MarketFeed
from imperium_desk.market.simulator import MarketSimulator
from imperium_desk.model_input import ModelKind
from imperium_desk.models.config import LatencyModels, SlippageModels
from imperium_desk.models.feed_delay import FeedDelays
from imperium_desk.models.resolver import ModelResolver, ModelSwitch
from imperium_desk.rng import RandomStreams
from imperium_desk.scenarios.injector import ActiveEvent, EventInjector
from imperium_desk.scenarios.prepare import load_catalog
from imperium_desk.scenarios.spec import ModelSwitchEvent

if TYPE_CHECKING:  # the Kite client loads only in the live modes (~0.3 s)
    from imperium_desk.broker.kite.factory import KiteVenue


@dataclass(kw_only=True)
class Engine:
    """One engine on one clock: market, models, broker, execution stack and fill-quality tracker.

    `broker` is what the stack sends to. On the paper venue it is `faults` (the fault-injecting layer scenario drills
    switch on and off) wrapped around `paper` (the simulated exchange); a venue without them leaves both None, and
    scenario events that act on the broker cannot run there (`event_injector` refuses). Everything runs on the
    clock's loop.
    """

    config: Config
    clock: Clock
    streams: RandomStreams
    catalog: InstrumentCatalog
    market: MarketFeed  # the true market, which the paper exchange fills against (live: Kite's feed)
    feed: MarketData  # the market as the client side sees it (paper: through the `market_data` latency lane)
    models: ModelResolver
    broker: Broker
    stack: ExecutionStack
    tracker: FillQualityTracker
    protections: ProtectionManager  # protective exits: the desk or a replay's runner attaches how exits are sent
    paper: PaperBroker | None = None  # the paper exchange (paper and paper-live-data)
    faults: FaultInjectingBroker | None = None  # the fault layer in front of it
    simulator: MarketSimulator | None = None  # the simulated market, when the market is simulated

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

        if self.faults is None:
            raise ConfigError(["scenario events act on the paper exchange: not in live mode"])

        def switch(event: ModelSwitchEvent) -> None:
            self.switch_model(event.kind, event.scope, event.parsed, lane=event.lane, source="scenario")

        return EventInjector(
            clock=self.clock, market=self.simulator, underlyings=list(self.market.underlyings), models=self.models,
            broker=self.faults, risk=self.stack.risk,
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
    venue: KiteVenue | None = None,
) -> Engine:
    """Assemble an engine on `clock` whose records go to `sink`. `seed` roots every random stream; `id_prefix`
    keeps order ids and tags of engines sharing a broker apart; `faults` are standing fault rates (tests,
    benchmarks).

    The venue follows the mode: PAPER and REPLAY simulate the market and fill on the paper exchange;
    PAPER_LIVE_DATA fills the paper exchange against `venue`'s live quotes; LIVE sends to `venue`'s broker. A live
    feed is not put behind the `market_data` latency lane: its delay is real."""
    streams = RandomStreams(seed)
    models = ModelResolver(config.latency_model, config.slippage_model)
    simulator: MarketSimulator | None = None
    market: MarketFeed
    feed: MarketData
    if mode in (Mode.PAPER, Mode.REPLAY):
        catalog = catalog or load_catalog(config)
        market = simulator = MarketSimulator(config.market, catalog, clock, streams)
        resolve = catalog.resolve
        feed_delays = FeedDelays(
            models, lambda symbol: resolve(symbol).underlying, simulator.regime,
            streams.buffered("latency", "market_data"),
        )
        feed = DelayedMarketData(simulator, clock, feed_delays)
    else:
        if venue is None:
            raise ConfigError([f"mode {mode.value}: the desk must be connected to Kite first"])
        catalog = venue.catalog
        market = feed = venue.market
    paper: PaperBroker | None = None
    injector: FaultInjectingBroker | None = None
    broker: Broker
    if mode is Mode.LIVE:
        assert venue is not None and venue.broker is not None  # a live venue is built with its broker
        broker = venue.broker
    else:
        paper, injector = _paper_venue(config, clock, market, catalog, models, streams, faults, fault_timeout_s,
                                       id_prefix)
        if mode is Mode.REPLAY:
            # A replay forgets its ended orders after a while, so memory does not grow with its length; a desk keeps
            # the day's book, as the Broker port's `orders()` promises.
            paper.exchange.retention_s = ENDED_ORDER_RETENTION_S
        broker = injector
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
    # Listens to the client-side feed (it triggers on what the desk sees, as a trader would) and to the tracker's
    # fills; added after the stack, so an entry's fill has been counted by the stack when the manager hears of it.
    protections = ProtectionManager(
        clock=clock, feed=feed, tracker=tracker,
        confirmation=lambda: (stack.config.protection_confirm_ticks, stack.config.protection_confirm_ms))
    return Engine(config=config, clock=clock, streams=streams, catalog=catalog, market=market, feed=feed,
                  models=models, broker=broker, stack=stack, tracker=tracker, protections=protections, paper=paper,
                  faults=injector, simulator=simulator)


def _paper_venue(
    config: Config, clock: Clock, market: MarketData, catalog: InstrumentCatalog, models: ModelResolver,
    streams: RandomStreams, faults: FaultRates | None, fault_timeout_s: float, id_prefix: str,
) -> tuple[PaperBroker, FaultInjectingBroker]:
    """The paper exchange filling against `market` (simulated or live), behind the fault layer.

    Always behind the fault layer: scenario drills (reject storms, outages, throttles) switch faults on and off at
    runtime. With no rules and zero rates it passes every call straight through (its draws come from a stream of
    their own, so they never shift another stream)."""
    paper = PaperBroker(
        clock=clock, market=market, catalog=catalog, models=models, streams=streams,
        config=config.broker.paper, id_prefix=id_prefix,
    )
    injector = FaultInjectingBroker(paper, clock, streams, faults, timeout_s=fault_timeout_s,
                                    underlying_of=lambda symbol: catalog.resolve(symbol).underlying)
    return paper, injector


