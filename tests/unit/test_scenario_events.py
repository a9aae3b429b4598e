"""Each injected scenario event changes what it should, for its targets and its window, and nothing else."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import numpy as np
import pytest
from pydantic import TypeAdapter

from imperium_desk.domain.enums import ParentStatus, Side
from imperium_desk.domain.instruments import OptionContract
from imperium_desk.execution.request import ExecutionRequest, FailureKind, ParentResult
from imperium_desk.scenarios.injector import EventInjector
from imperium_desk.scenarios.spec import ScenarioEvent, ScenarioSpec
from imperium_desk.scenarios.timeline import TimedEvent, expand_timeline
from tests.support import Harness, harness

_EVENT: TypeAdapter[Any] = TypeAdapter(ScenarioEvent)


def _event(raw: dict[str, Any]) -> TimedEvent:
    event = _EVENT.validate_python(raw)
    return TimedEvent(event.at_s, 0, None, event)


def _drill(h: Harness, events: list[dict[str, Any]], orders: list[tuple[float, OptionContract, Side]],
           run_s: float) -> tuple[EventInjector, list[tuple[float, ParentResult]]]:
    """Start the events at their times and one 1-lot IMMEDIATE order per (time, contract, side)."""
    injector = h.engine.event_injector()

    async def main() -> list[tuple[float, ParentResult]]:
        h.engine.market.start()
        for raw in events:
            timed = _event(raw)
            h.clock.call_later(timed.at_s, injector.start, timed)

        async def place(at_s: float, contract: OptionContract, side: Side) -> tuple[float, ParentResult]:
            await h.clock.sleep(at_s)
            req = ExecutionRequest(symbol=contract.symbol, side=side, quantity=contract.lot_size)
            return at_s, await h.engine.stack.execute(req)

        results = await asyncio.gather(*(place(t, c, s) for t, c, s in orders))
        await h.clock.sleep(max(0.0, run_s - h.clock.monotonic()))
        injector.stop()
        h.engine.market.stop()
        return list(results)

    return injector, h.clock.run(main())


def _latencies(h: Harness, symbol: str) -> list[float]:
    return [r["latency_ms"] for r in h.events("fill") if r["asset"] == symbol]


def _sample_at(h: Harness, times: tuple[float, ...], read: Any) -> list[Any]:
    seen: list[Any] = []
    for t in times:
        h.clock.call_later(t, lambda: seen.append(read()))
    return seen


def test_news_shock_gaps_the_target_underlying_only() -> None:
    h = harness()
    spots = _sample_at(h, (4.9, 5.01), lambda: (h.engine.market.spot("NIFTY"), h.engine.market.spot("BANKNIFTY")))
    _drill(h, [{"type": "news_shock", "at_s": 5, "duration_s": 5, "underlying": "NIFTY", "jump_pct": -2}], [],
           run_s=6)
    (nifty_before, bank_before), (nifty_after, bank_after) = spots
    assert nifty_after / nifty_before == pytest.approx(0.98, abs=0.0005)
    assert bank_after / bank_before == pytest.approx(1.0, abs=0.0005)


def test_news_shock_widens_its_spreads_for_the_duration_only() -> None:
    h = harness()
    nifty, bank = h.atm("NIFTY"), h.atm("BANKNIFTY")
    tick = 0.05
    spreads = _sample_at(h, (4.9, 6.0, 12.0), lambda: (h.engine.market.quote(nifty.symbol).spread,
                                                       h.engine.market.quote(bank.symbol).spread))
    _drill(h, [{"type": "news_shock", "at_s": 5, "duration_s": 5, "underlying": "NIFTY", "jump_pct": 0,
                "spread_mult": 4}], [], run_s=13)
    (n0, b0), (n1, b1), (n2, _) = spreads
    assert n1 == pytest.approx(4 * n0, abs=2 * tick)
    assert n2 == pytest.approx(n0, abs=2 * tick)
    assert b1 == pytest.approx(b0, abs=2 * tick)


def test_liquidity_drop_thins_depth_on_its_target_and_restores_it_after() -> None:
    h = harness()
    nifty, bank = h.atm("NIFTY"), h.atm("BANKNIFTY")
    depth: dict[str, list[int]] = {"n": [], "b": []}

    def sample() -> None:
        depth["n"].append(sum(q for _, q in h.engine.market.quote(nifty.symbol).asks))
        depth["b"].append(sum(q for _, q in h.engine.market.quote(bank.symbol).asks))

    for t in (4.9, 7.0, 12.0):
        h.clock.call_later(t, sample)
    _drill(h, [{"type": "liquidity_drop", "at_s": 5, "duration_s": 5, "underlying": "NIFTY", "depth_mult": 0.1,
                "volume_mult": 0.2}], [], run_s=13)
    assert depth["n"][1] < 0.3 * depth["n"][0]
    assert depth["n"][2] > 0.5 * depth["n"][0]
    assert depth["b"][1] > 0.5 * depth["b"][0]


def test_volatility_spike_raises_the_regime_for_its_window() -> None:
    h = harness()
    regimes: list[tuple[float, float]] = []
    for t in (4.9, 6.0, 11.0):
        h.clock.call_later(t, lambda: regimes.append(h.engine.market.regime("BANKNIFTY")))
    _drill(h, [{"type": "volatility_spike", "at_s": 5, "duration_s": 5, "vol_mult": 3}], [], run_s=12)
    assert [r[0] for r in regimes] == [1.0, 3.0, 1.0]


def test_latency_burst_slows_its_asset_in_its_window_and_nothing_else() -> None:
    h = harness()  # constant 40 ms latency
    nifty, bank = h.atm("NIFTY"), h.atm("BANKNIFTY")
    orders = [(t, c, Side.BUY) for t in (2.0, 6.0, 8.0, 14.0) for c in (nifty, bank)]
    _drill(h, [{"type": "latency_burst", "at_s": 5, "duration_s": 5, "underlying": "NIFTY", "factor": 3}],
           orders, run_s=16)
    assert _latencies(h, nifty.symbol) == [40.0, 120.0, 120.0, 40.0]
    assert _latencies(h, bank.symbol) == [40.0, 40.0, 40.0, 40.0]


def test_latency_burst_with_a_model_replaces_the_draws_and_records_it() -> None:
    h = harness()
    nifty = h.atm("NIFTY")
    _drill(h, [{"type": "latency_burst", "at_s": 1, "duration_s": 5,
                "model": {"type": "constant", "value_ms": 700}}], [(2.0, nifty, Side.BUY)], run_s=4)
    (fill,) = h.events("fill")
    assert fill["latency_ms"] == 700.0
    assert fill["model_params"]["latency"]["scope"] == "burst:global"


def test_reject_storm_of_risk_rejects_its_orders_without_retrying() -> None:
    h = harness()
    nifty, bank = h.atm("NIFTY"), h.atm("BANKNIFTY")
    _, results = _drill(h, [{"type": "reject_storm", "at_s": 1, "duration_s": 5, "symbol": nifty.symbol,
                             "error_bucket": "risk", "rate": 1.0}],
                        [(2.0, nifty, Side.BUY), (2.0, bank, Side.BUY), (8.0, nifty, Side.BUY)], run_s=10)
    statuses = [r.status for _, r in results]
    assert statuses == [ParentStatus.FAILED, ParentStatus.COMPLETE, ParentStatus.COMPLETE]
    assert [r["error_bucket"] for r in h.events("error")] == ["risk"]
    assert h.events("retry") == []


def test_reject_storm_of_transient_errors_is_retried_by_the_policy() -> None:
    h = harness()
    nifty = h.atm("NIFTY")
    _drill(h, [{"type": "reject_storm", "at_s": 1, "duration_s": 60, "error_bucket": "transient", "rate": 1.0}],
           [(2.0, nifty, Side.BUY)], run_s=40)
    retries = h.events("retry")
    attempts = h.engine.stack.config.retry.max_attempts
    assert len(retries) == attempts - 1
    assert {r["error_bucket"] for r in retries} == {"transient"}


def test_throttle_answers_429_and_the_orders_go_through_after_it() -> None:
    h = harness()
    nifty = h.atm("NIFTY")
    _, results = _drill(h, [{"type": "throttle", "at_s": 1, "duration_s": 1.5, "rate": 1.0}],
                        [(2.0, nifty, Side.BUY)], run_s=20)
    assert {r["error_bucket"] for r in h.events("error")} == {"throttle"}
    assert results[0][1].status is ParentStatus.COMPLETE  # a retry after the throttle ended went through


def test_outage_with_lost_answers_causes_no_duplicate_orders() -> None:
    h = harness()
    nifty = h.atm("NIFTY")
    orders = [(1.0 + 0.05 * i, nifty, Side.BUY if i % 2 else Side.SELL) for i in range(200)]
    _, results = _drill(h, [{"type": "broker_outage", "at_s": 0.5, "duration_s": 8, "rate": 1.0,
                             "lost_answers": True}], orders, run_s=60)

    async def tags() -> Counter[str]:
        return Counter(o.tag for o in await h.engine.paper.orders())

    per_tag = h.clock.run(tags())
    assert max(per_tag.values()) == 1
    assert h.engine.stack.duplicate_orders == []
    assert all(r.status in (ParentStatus.COMPLETE, ParentStatus.FAILED) for _, r in results)
    assert h.engine.faults.counts.lost_answer > 0


def test_risk_change_throws_the_kill_switch_for_its_window() -> None:
    h = harness()
    nifty = h.atm("NIFTY")
    _, results = _drill(h, [{"type": "risk_change", "at_s": 1, "duration_s": 4, "risk": {"kill_switch": True}}],
                        [(0.5, nifty, Side.BUY), (2.0, nifty, Side.BUY), (6.0, nifty, Side.BUY)], run_s=8)
    assert [r.status for _, r in results] == [ParentStatus.COMPLETE, ParentStatus.REJECTED, ParentStatus.COMPLETE]
    assert results[1][1].failure is FailureKind.RISK_REFUSED
    assert h.engine.stack.risk.config.kill_switch is False


def test_overlapping_market_events_compose_and_unwind_exactly() -> None:
    h = harness()
    seen: list[float] = []
    for t in (2.0, 4.0, 6.0, 8.0):
        h.clock.call_later(t, lambda: seen.append(h.engine.market.modifiers("NIFTY").vol_mult))
    _drill(h, [{"type": "volatility_spike", "at_s": 1, "duration_s": 4, "vol_mult": 2},
               {"type": "news_shock", "at_s": 3, "duration_s": 4, "jump_pct": 0, "vol_mult": 1.5}], [], run_s=9)
    assert seen == [2.0, 3.0, 1.5, 1.0]


def test_every_event_writes_a_start_and_an_end_record() -> None:
    h = harness()
    injector, _ = _drill(h, [{"type": "throttle", "at_s": 1, "duration_s": 2, "underlying": "NIFTY", "rate": 0.5}],
                         [], run_s=4)
    records = h.events("scenario")
    assert [r["scenario"]["phase"] for r in records] == ["start", "end"]
    assert records[0]["underlying"] == "NIFTY" and records[0]["scenario"]["type"] == "throttle"
    assert [e["at_s"] for e in injector.timeline] == [1.0, 3.0]


def _spec(events: list[dict[str, Any]], duration_s: float = 600) -> ScenarioSpec:
    return ScenarioSpec.model_validate({"id": "t", "seed": 1, "duration_s": duration_s, "events": events})


def test_random_events_arrive_as_a_seeded_poisson_process() -> None:
    spec = _spec([{"type": "random", "rate_per_min": 6, "event": {
        "type": "latency_burst", "factor": {"dist": "uniform", "low": 2, "high": 4},
        "duration_s": {"dist": "exponential", "mean": 5}}}])
    first = expand_timeline(spec, np.random.default_rng(3))
    again = expand_timeline(spec, np.random.default_rng(3))
    other = expand_timeline(spec, np.random.default_rng(4))
    assert [(e.at_s, e.event) for e in first] == [(e.at_s, e.event) for e in again]
    assert [e.at_s for e in first] != [e.at_s for e in other]
    assert 30 <= len(first) <= 95  # 60 expected in 10 minutes
    assert all(2 <= e.event.factor <= 4 for e in first)
    assert all(0 < e.at_s <= 600 for e in first)


def test_random_draws_a_value_the_event_refuses_again() -> None:
    spec = _spec([{"type": "random", "rate_per_min": 30, "event": {
        "type": "throttle", "rate": {"dist": "normal", "mean": 0.5, "std": 0.5}}}])
    assert all(0 < e.event.rate <= 1 for e in expand_timeline(spec, np.random.default_rng(1)))
