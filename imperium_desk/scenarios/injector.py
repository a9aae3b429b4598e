"""Scenario event injection: each event changes its injection point (DESIGN §3) for its duration, then undoes it.

Injection points: the market (spot jumps and the spread/depth/volume/volatility multipliers of an underlying),
the latency models (bursts laid over the configured models at resolution), the broker's behaviour (fault rules
of the fault-injecting broker) and the risk limits (overrides laid over the configured limits). Overlapping
events compose: market multipliers multiply, bursts and fault rules stack, risk overrides lay over each other in
the order they began; ending one event removes exactly its own contribution.

Every start and end is written as a `scenario` telemetry record and kept in `timeline` (run.json).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from imperium_desk.broker.faults import FaultInjectingBroker, FaultRule
from imperium_desk.clock import Cancellable, Clock
from imperium_desk.domain.instruments import InstrumentCatalog
from imperium_desk.execution.risk import RiskGate
from imperium_desk.execution.tracker import FillQualityTracker
from imperium_desk.market.simulator import MarketSimulator
from imperium_desk.models.resolver import LatencyBurst, ModelResolver
from imperium_desk.scenarios.spec import (
    BrokerOutageEvent,
    LatencyBurstEvent,
    LiquidityDropEvent,
    ModelSwitchEvent,
    NewsShockEvent,
    RejectStormEvent,
    RiskChangeEvent,
    ThrottleEvent,
    VolatilitySpikeEvent,
)
from imperium_desk.scenarios.timeline import TimedEvent

MARKET_FIELDS = ("spread_mult", "depth_mult", "volume_mult", "vol_mult")
ModelSwitcher = Callable[[ModelSwitchEvent], None]


@dataclass(slots=True, eq=False)
class ActiveEvent:
    """One event in force: the scheduled event, when it started (clock seconds since the injector was made), the
    underlyings it touches, and the steps that take its changes back. Owned by the injector; a caller keeps it only as
    the handle to `end` it."""

    timed: TimedEvent
    started_at_s: float
    underlyings: list[str]
    undo: list[Callable[[], None]] = field(default_factory=list)
    timer: Cancellable | None = None


class EventInjector:
    """Applies scenario events to one engine (module docstring), on the engine's loop thread. `start` applies an event
    at once and, when it has a duration, schedules its end on the clock; `end` is safe to call twice; `stop` undoes
    everything in force. A model-switch event is permanent: it goes through `switch_model` and never appears in
    `active`. `on_change` hears each start and end after it is recorded; `timeline` keeps them all for run.json."""

    def __init__(
        self,
        *,
        clock: Clock,
        market: MarketSimulator | None,
        underlyings: list[str],
        models: ModelResolver,
        broker: FaultInjectingBroker,
        risk: RiskGate,
        tracker: FillQualityTracker,
        catalog: InstrumentCatalog,
        switch_model: ModelSwitcher,
        on_change: Callable[[ActiveEvent, str], None] | None = None,
    ) -> None:
        self._clock = clock
        self._market = market  # None: a live market, which no event may move (refused when the drill loads)
        self._all_underlyings = underlyings
        self._models = models
        self._broker = broker
        self._risk = risk
        self._tracker = tracker
        self._catalog = catalog
        self._switch_model = switch_model
        self._on_change = on_change
        self._origin = clock.monotonic()
        self.active: list[ActiveEvent] = []
        self.timeline: list[dict[str, Any]] = []
        # Per underlying, each active event's market multipliers; the simulator gets their product.
        self._market_parts: dict[str, dict[int, dict[str, float]]] = {}

    # -- lifecycle ---------------------------------------------------------------------------------------------
    def start(self, timed: TimedEvent) -> ActiveEvent:
        event = timed.event
        active = ActiveEvent(timed, self._elapsed(), self._underlyings(event.underlying, event.symbol))
        if isinstance(event, ModelSwitchEvent):
            self._switch_model(event)  # a model switch is permanent and logged as its own `model_switch` record
        else:
            self._inject(active)
            self.active.append(active)
            if event.duration_s is not None:
                active.timer = self._clock.call_later(event.duration_s, self.end, active)
        self._record(active, "start")
        return active

    def end(self, active: ActiveEvent) -> None:
        if active not in self.active:
            return
        self.active.remove(active)
        if active.timer is not None:
            active.timer.cancel()
        for undo in reversed(active.undo):
            undo()
        self._record(active, "end")

    def stop(self) -> None:
        """End every active event now (a drill stopped, the run over): the desk returns to its configured state."""
        for active in list(self.active):
            self.end(active)

    # -- injection points ---------------------------------------------------------------------------------------
    def _inject(self, active: ActiveEvent) -> None:
        event = active.timed.event
        if isinstance(event, NewsShockEvent):
            for underlying in active.underlyings:
                if self._market is None:
                    raise RuntimeError("a news shock reached a live market: live_problems should have refused it")
                self._market.jump(underlying, event.jump_pct)
            self._market_change(active, spread_mult=event.spread_mult, vol_mult=event.vol_mult)
        elif isinstance(event, LiquidityDropEvent):
            self._market_change(active, depth_mult=event.depth_mult, volume_mult=event.volume_mult)
        elif isinstance(event, VolatilitySpikeEvent):
            self._market_change(active, vol_mult=event.vol_mult)
        elif isinstance(event, LatencyBurstEvent):
            burst = LatencyBurst(event.lane, event.target, factor=event.factor or 1.0, model=event.parsed)
            self._models.add_burst(burst)
            active.undo.append(lambda: self._models.remove_burst(burst))
        elif isinstance(event, RejectStormEvent):
            self._fault(active, FaultRule("reject", event.rate, event.target, event.error_bucket))
        elif isinstance(event, ThrottleEvent):
            self._fault(active, FaultRule("throttle", event.rate, event.target))
        elif isinstance(event, BrokerOutageEvent):
            if event.lost_answers > 0:
                self._fault(active, FaultRule("lost_answer", event.rate * event.lost_answers, event.target))
            if event.lost_answers < 1:
                # Of the orders the lost-answer rule let through, this share times out unheard.
                rest = event.rate * (1 - event.lost_answers) / (1 - event.rate * event.lost_answers)
                self._fault(active, FaultRule("timeout", min(rest, 1.0), event.target))
            self._fault(active, FaultRule("lookup_failure", event.rate, event.target))
        elif isinstance(event, RiskChangeEvent):
            token = self._risk.push_override(event.risk)
            active.undo.append(lambda: self._risk.pop_override(token))
        else:  # pragma: no cover - the spec's union is closed
            raise TypeError(f"no injection for {type(event).__name__}")

    def _fault(self, active: ActiveEvent, rule: FaultRule) -> None:
        self._broker.add_rule(rule)
        active.undo.append(lambda: self._broker.remove_rule(rule))

    def _market_change(self, active: ActiveEvent, **mults: float) -> None:
        key = id(active)
        for underlying in active.underlyings:
            self._market_parts.setdefault(underlying, {})[key] = mults
            self._apply_market(underlying)

        def undo() -> None:
            for underlying in active.underlyings:
                self._market_parts.get(underlying, {}).pop(key, None)
                self._apply_market(underlying)

        active.undo.append(undo)

    def _apply_market(self, underlying: str) -> None:
        if self._market is None:
            raise RuntimeError("a market event reached a live market: live_problems should have refused the drill")
        parts = self._market_parts.get(underlying, {}).values()
        product = {name: float(math.prod(p.get(name, 1.0) for p in parts)) for name in MARKET_FIELDS}
        self._market.set_modifiers(underlying, **product)

    # -- bookkeeping ---------------------------------------------------------------------------------------
    def _underlyings(self, underlying: str | None, symbol: str | None) -> list[str]:
        if symbol is not None:
            return [self._catalog.resolve(symbol).underlying]
        if underlying is not None:
            return [underlying]
        return list(self._all_underlyings)

    def _elapsed(self) -> float:
        return round(self._clock.monotonic() - self._origin, 6)

    def _record(self, active: ActiveEvent, phase: str) -> None:
        event = active.timed.event
        params = event.model_dump(mode="json", exclude={"type", "at_s", "underlying", "symbol"}, exclude_none=True)
        entry = {
            "at_s": self._elapsed(), "phase": phase, "event": active.timed.label, "type": event.type,
            "target": event.target if not isinstance(event, ModelSwitchEvent) else event.scope, "params": params,
        }
        self.timeline.append(entry)
        self._tracker.scenario_event(entry, underlying=active.underlyings[0] if len(active.underlyings) == 1
                                     else None, symbol=event.symbol)
        if self._on_change is not None:
            self._on_change(active, phase)
