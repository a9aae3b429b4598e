"""Engine assembly: the one place that picks the venue (broker and market feed) and wires an engine together.

`build_engine` builds the same engine for the window, `serve` and `replay`: only the clock differs (wall or
virtual), so the code that trades is the code that replays.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from imperium_desk.broker.faults import FaultInjectingBroker, FaultRates
from imperium_desk.broker.paper import PaperBroker
from imperium_desk.broker.port import Broker
from imperium_desk.clock import Clock
from imperium_desk.config import Config, ConfigError
from imperium_desk.domain.enums import Mode
from imperium_desk.domain.instruments import InstrumentCatalog, InstrumentError
from imperium_desk.execution.cost import SlippageModel
from imperium_desk.execution.planner import ExecutionAlgoPlanner
from imperium_desk.execution.ratelimit import OrderRateLimiter
from imperium_desk.execution.retry import RetryPolicy
from imperium_desk.execution.risk import RiskGate
from imperium_desk.execution.router import SmartOrderRouter
from imperium_desk.execution.stack import ExecutionStack
from imperium_desk.execution.tracker import FillQualityTracker, Record
from imperium_desk.market.delayed import DelayedMarketData
from imperium_desk.market.simulator import MarketSimulator
from imperium_desk.model_input import ModelKind
from imperium_desk.models.config import LatencyModels, SlippageModels
from imperium_desk.models.feed_delay import FeedDelays
from imperium_desk.models.resolver import ModelResolver, ModelSwitch
from imperium_desk.rng import RandomStreams
from imperium_desk.scenarios.injector import ActiveEvent, EventInjector
from imperium_desk.scenarios.prepare import load_catalog
from imperium_desk.scenarios.spec import ModelSwitchEvent


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
    market: MarketSimulator  # the true market, which the paper exchange fills against
    feed: DelayedMarketData  # the market as the client side sees it (the `market_data` latency lane)
    models: ModelResolver
    broker: Broker
    stack: ExecutionStack
    tracker: FillQualityTracker
    paper: PaperBroker | None = None  # the simulated exchange, on the paper venue
    faults: FaultInjectingBroker | None = None  # the fault layer in front of it, on the paper venue

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
            raise ConfigError(["broker: scenario events need the paper venue's fault layer; this venue has none"])

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
    """Assemble an engine on `clock` whose records go to `sink`. `seed` roots every random stream; `id_prefix`
    keeps order ids and tags of engines sharing a broker apart; `faults` are standing fault rates (tests,
    benchmarks)."""
    streams = RandomStreams(seed)
    catalog = catalog or load_catalog(config)
    market = MarketSimulator(config.market, catalog, clock, streams)
    models = ModelResolver(config.latency_model, config.slippage_model)
    feed_delays = FeedDelays(
        models, lambda symbol: catalog.resolve(symbol).underlying, market.regime,
        streams.buffered("latency", "market_data"),
    )
    feed = DelayedMarketData(market, clock, feed_delays)
    paper, injector = _paper_venue(config, clock, market, catalog, models, streams, faults, fault_timeout_s,
                                   id_prefix)
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
    return Engine(config=config, clock=clock, streams=streams, catalog=catalog, market=market, feed=feed,
                  models=models, broker=broker, stack=stack, tracker=tracker, paper=paper, faults=injector)


def _paper_venue(
    config: Config, clock: Clock, market: MarketSimulator, catalog: InstrumentCatalog, models: ModelResolver,
    streams: RandomStreams, faults: FaultRates | None, fault_timeout_s: float, id_prefix: str,
) -> tuple[PaperBroker, FaultInjectingBroker]:
    """The simulated exchange filling against `market`, behind the fault layer.

    Always behind the fault layer: scenario drills (reject storms, outages, throttles) switch faults on and off at
    runtime. With no rules and zero rates it passes every call straight through (its draws come from a stream of
    their own, so they never shift another stream)."""
    if config.broker.kind != "paper":  # the config schema admits no other venue yet
        raise ConfigError([f"broker.kind: {config.broker.kind!r} is not a venue this desk can build"])
    paper = PaperBroker(
        clock=clock, market=market, catalog=catalog, models=models, streams=streams,
        config=config.broker.paper, id_prefix=id_prefix,
    )
    injector = FaultInjectingBroker(paper, clock, streams, faults, timeout_s=fault_timeout_s,
                                    underlying_of=lambda symbol: catalog.resolve(symbol).underlying)
    return paper, injector


