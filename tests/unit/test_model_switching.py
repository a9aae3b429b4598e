"""Models inside the engine: per-asset resolution, runtime switches, lanes, regime conditioning, scripted
switches in a replay."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from imperium_desk.config import ConfigError, config_from_mapping
from imperium_desk.desk import run_replay
from imperium_desk.domain.enums import OrderType, Product, Side
from imperium_desk.model_input import parse_model
from imperium_desk.models.config import LatencyModels, SlippageModels
from imperium_desk.models.resolver import ModelResolver, ModelSwitchError
from imperium_desk.scenarios.spec import load_scenario
from tests.support import Harness, config, harness

SYMBOL = "NIFTY26DEC26000CE"


def constant(ms: float) -> dict[str, Any]:
    return {"type": "constant", "value_ms": ms}


def resolver(per_asset: dict[str, Any], lanes: dict[str, Any] | None = None) -> ModelResolver:
    latency = LatencyModels.model_validate({"global": constant(3), "per_asset": per_asset, "lanes": lanes or {}})
    return ModelResolver(latency, SlippageModels())


def place(h: Harness, symbol: str, tag: str = "t1", qty: int | None = None) -> Any:
    contract = h.engine.catalog.resolve(symbol)
    return h.engine.paper.place_order(
        symbol=symbol, side=Side.BUY, quantity=qty or contract.lot_size, order_type=OrderType.MARKET,
        product=Product.NRML, tag=tag,
    )


def fills(h: Harness) -> list[dict[str, Any]]:
    return [r for r in h.records if r["event"] in {"fill", "partial_fill"}]


# -- resolution ---------------------------------------------------------------------------------------------
def test_a_trading_symbol_override_wins_over_its_underlying() -> None:
    r = resolver({SYMBOL: constant(1), "NIFTY": constant(2)})
    assert r.resolve(SYMBOL, "NIFTY").latency.scope == SYMBOL


def test_an_underlying_override_applies_to_its_other_contracts() -> None:
    r = resolver({SYMBOL: constant(1), "NIFTY": constant(2)})
    assert r.resolve("NIFTY26DEC26100PE", "NIFTY").latency.scope == "NIFTY"


def test_an_asset_without_override_takes_the_global_model() -> None:
    r = resolver({"NIFTY": constant(2)})
    resolved = r.resolve("BANKNIFTY26DEC58000CE", "BANKNIFTY")
    assert (resolved.latency.scope, resolved.latency.params["value_ms"]) == ("global", 3)


def test_lanes_resolve_in_the_same_order_and_are_absent_when_not_configured() -> None:
    r = resolver({}, lanes={"insert": {"global": constant(4), "per_asset": {"NIFTY": constant(6)}}})
    nifty = r.resolve(SYMBOL, "NIFTY")
    bank = r.resolve("BANKNIFTY26DEC58000CE", "BANKNIFTY")
    assert nifty.insert is not None and nifty.insert.scope == "NIFTY"
    assert bank.insert is not None and bank.insert.scope == "global"
    assert nifty.report is None and nifty.cancel is None and nifty.market_data is None


def test_removing_the_global_model_is_refused() -> None:
    r = resolver({})
    with pytest.raises(ModelSwitchError, match="global"):
        r.switch("latency", "global", None)


def test_removing_an_override_makes_the_asset_inherit_again() -> None:
    r = resolver({"NIFTY": constant(2)})
    switch = r.switch("latency", "NIFTY", None)
    assert switch.old == constant(2) and switch.new is None
    assert r.resolve(SYMBOL, "NIFTY").latency.scope == "global"


def test_a_reload_reports_one_switch_per_changed_scope() -> None:
    r = resolver({"NIFTY": constant(2), "BANKNIFTY": constant(5)})
    new = LatencyModels.model_validate({"global": constant(3), "per_asset": {"NIFTY": constant(9),
                                                                             "FINNIFTY": constant(1)}})
    switches = r.replace(new, SlippageModels(), source="reload")
    assert [(s.scope, s.old, s.new) for s in switches] == [
        ("BANKNIFTY", constant(5), None), ("FINNIFTY", None, constant(1)), ("NIFTY", constant(2), constant(9)),
    ]


# -- runtime switching in the engine -------------------------------------------------------------------------
def test_a_switch_applies_to_new_orders_and_not_to_orders_in_flight() -> None:
    h = harness()
    c = h.atm()

    async def main() -> tuple[float, float]:
        t0 = h.clock.monotonic()
        first = asyncio.ensure_future(place(h, c.symbol, "a"))
        await h.clock.sleep(0.001)
        h.engine.switch_model("latency", "global", parse_model("latency", constant(5), where="t"))
        await place(h, c.symbol, "b")
        second_done = h.clock.monotonic() - t0
        await first
        return second_done, h.clock.monotonic() - t0

    second, first = h.clock.run(main())
    assert second == pytest.approx(0.006)
    assert first == pytest.approx(0.040)


def test_each_fill_carries_the_model_that_produced_it() -> None:
    h = harness()
    c = h.atm()
    paper = h.engine.paper
    got: list[Any] = []
    paper.add_listener(lambda update: got.extend(update.new_fills))

    async def main() -> None:
        await place(h, c.symbol, "a")
        h.engine.switch_model("latency", "NIFTY", parse_model("latency", constant(7), where="t"))
        await place(h, c.symbol, "b")

    h.clock.run(main())
    assert [(f.model_params["latency"]["scope"], f.model_params["latency"]["value_ms"]) for f in got] == [
        ("global", 40), ("NIFTY", 7),
    ]


def test_a_switch_is_logged_with_the_old_and_new_model() -> None:
    h = harness()
    h.engine.switch_model("latency", "NIFTY", parse_model("latency", constant(7), where="t"), source="panel")
    (record,) = h.events("model_switch")
    assert record["underlying"] == "NIFTY" and record["asset"] is None
    assert record["model_switch"] == {
        "kind": "latency", "lane": "order", "scope": "NIFTY", "old": None, "new": constant(7), "source": "panel",
    }


# -- lanes -------------------------------------------------------------------------------------------------
def test_insert_and_report_lanes_make_up_the_round_trip() -> None:
    h = harness({"latency_model": {"lanes": {"insert": {"global": constant(10)}, "report": {"global": constant(3)}}}})
    c = h.atm()

    async def main() -> tuple[float, float]:
        t0 = h.clock.monotonic()
        task = asyncio.ensure_future(place(h, c.symbol))
        while not await h.engine.paper.orders_by_tag("t1"):
            await h.clock.sleep(0.0005)
        arrived = h.clock.monotonic() - t0
        await task
        return arrived, h.clock.monotonic() - t0

    arrived, answered = h.clock.run(main())
    assert arrived == pytest.approx(0.010, abs=0.0006)
    assert answered == pytest.approx(0.013)


def test_a_cancel_takes_the_cancel_lane() -> None:
    h = harness({"latency_model": {"lanes": {"cancel": {"global": constant(100)}}}})
    c = h.atm()
    far_below = h.engine.market.quote(c.symbol).bid / 2
    price = round(round(far_below / c.tick_size) * c.tick_size, 2)

    async def main() -> float:
        oid = await h.engine.paper.place_order(
            symbol=c.symbol, side=Side.BUY, quantity=c.lot_size, order_type=OrderType.LIMIT,
            product=Product.NRML, tag="t1", price=price,
        )
        t0 = h.clock.monotonic()
        await h.engine.paper.cancel_order(oid)
        return h.clock.monotonic() - t0

    assert h.clock.run(main()) == pytest.approx(0.100)


def test_the_market_data_lane_delays_what_the_client_sees() -> None:
    h = harness({"latency_model": {"lanes": {"market_data": {"global": constant(100)}}}})
    c = h.atm()
    h.engine.feed.subscribe(c)

    async def main() -> tuple[float, float, float]:
        h.engine.market.start()
        await h.clock.sleep(0.26)  # just after the first tick: the exchange has it, the client not yet
        fresh, seen = h.engine.market.quote(c.symbol).timestamp, h.engine.feed.quote(c.symbol).timestamp
        await h.clock.sleep(0.1)
        later = h.engine.feed.quote(c.symbol).timestamp
        h.engine.market.stop()
        return fresh, seen, later

    fresh, seen, later = h.clock.run(main())
    assert seen < fresh
    assert later == fresh


def test_without_a_market_data_lane_the_client_sees_the_market_at_once() -> None:
    h = harness()
    c = h.atm()
    h.engine.feed.subscribe(c)

    async def main() -> bool:
        h.engine.market.start()
        await h.clock.sleep(0.26)
        same = h.engine.feed.quote(c.symbol) is h.engine.market.quote(c.symbol)
        h.engine.market.stop()
        return same

    assert h.clock.run(main())


# -- regime conditioning -------------------------------------------------------------------------------------
def test_latency_scales_with_volatility_when_the_model_says_so() -> None:
    model = {**constant(20), "scale_with": {"volatility": 1.0}}
    h = harness({"latency_model": {"global": model}})
    c = h.atm()
    h.engine.market.set_modifiers("NIFTY", vol_mult=3.0)
    got: list[Any] = []
    h.engine.paper.add_listener(lambda update: got.extend(update.new_fills))

    async def main() -> float:
        t0 = h.clock.monotonic()
        await place(h, c.symbol)
        return h.clock.monotonic() - t0

    assert h.clock.run(main()) == pytest.approx(0.060)
    assert got[0].model_params["latency"]["factor"] == pytest.approx(3.0)


def test_an_unconditioned_model_ignores_the_regime() -> None:
    h = harness()
    c = h.atm()
    h.engine.market.set_modifiers("NIFTY", vol_mult=3.0, volume_mult=4.0)

    async def main() -> float:
        t0 = h.clock.monotonic()
        await place(h, c.symbol)
        return h.clock.monotonic() - t0

    assert h.clock.run(main()) == pytest.approx(0.040)


def slippage_factor_at(depth_mult: float) -> float:
    model = {"type": "constant", "value": 2, "unit": "bps", "scale_with": {"participation": 0.5}}
    h = harness({"slippage_model": {"global": model}})
    c = h.atm()
    h.engine.market.set_modifiers("NIFTY", depth_mult=depth_mult)
    got: list[Any] = []
    h.engine.paper.add_listener(lambda update: got.extend(update.new_fills))

    async def main() -> None:
        h.engine.market.start()
        await h.clock.sleep(0.3)  # one tick, so the books carry the depth multiplier
        await place(h, c.symbol)
        h.engine.market.stop()

    h.clock.run(main())
    factor: float = got[0].model_params["slippage"]["factor"]
    return factor


def test_slippage_rises_when_liquidity_drops_under_participation_scaling() -> None:
    assert slippage_factor_at(0.1) > 2.5 * slippage_factor_at(1.0)


# -- scripted switches in a replay ---------------------------------------------------------------------------
SCENARIO = """
id: model-switch
seed: 11
duration_s: 20
orders:
  - every_s: 1
    instrument: {underlying: NIFTY, strike: ATM, right: CE}
    side: buy
    lots: 1
events:
  - {type: model_switch, at_s: 10, kind: latency, underlying: NIFTY,
     model: {type: lognormal, median_ms: 5, sigma: 0.2}}
  - {type: model_switch, at_s: 10, kind: slippage, model: {type: normal, mean: 3, std: 1, unit: bps}}
"""


def write_scenario(tmp_path: Path, text: str = SCENARIO) -> Path:
    path = tmp_path / "scenario.yaml"
    path.write_text(text)
    return path


def test_a_replay_with_scripted_switches_is_byte_identical(tmp_path: Path) -> None:
    scenario = load_scenario(write_scenario(tmp_path))
    cfg = config({"telemetry": {"fsync": False}})
    first = run_replay(scenario, cfg, tmp_path / "a").telemetry_path.read_bytes()
    second = run_replay(scenario, cfg, tmp_path / "b").telemetry_path.read_bytes()
    assert first == second
    assert first.count(b'"event":"model_switch"') == 2


def test_fills_after_a_scripted_switch_carry_the_new_model(tmp_path: Path) -> None:
    import orjson

    scenario = load_scenario(write_scenario(tmp_path))
    path = run_replay(scenario, config({"telemetry": {"fsync": False}}), tmp_path / "a").telemetry_path
    records = [orjson.loads(line) for line in path.read_bytes().splitlines()]
    switch_seq = next(r["seq"] for r in records if r["event"] == "model_switch")
    fill_types = {(r["seq"] > switch_seq, r["model_params"]["latency"]["type"])
                  for r in records if r["event"] == "fill"}
    assert fill_types == {(False, "constant"), (True, "lognormal")}


def test_a_scripted_switch_with_a_bad_model_names_the_field(tmp_path: Path) -> None:
    text = SCENARIO.replace("sigma: 0.2", "sigma: -1")
    with pytest.raises(ConfigError, match=r"events\.0.*sigma"):
        load_scenario(write_scenario(tmp_path, text))


def test_a_scripted_switch_after_the_end_of_the_run_is_refused(tmp_path: Path) -> None:
    text = SCENARIO.replace("at_s: 10, kind: latency", "at_s: 99, kind: latency")
    with pytest.raises(ConfigError, match=r"events\.0\.at_s 99"):
        load_scenario(write_scenario(tmp_path, text))


def test_an_unknown_event_type_is_refused(tmp_path: Path) -> None:
    text = SCENARIO.replace("type: model_switch, at_s: 10, kind: latency", "type: solar_flare, at_s: 10, kind: latency")
    with pytest.raises(ConfigError, match=r"events\.0"):
        load_scenario(write_scenario(tmp_path, text))


def test_a_config_model_section_round_trips_through_a_switch_record() -> None:
    h = harness()
    raw = {"type": "mixture", "components": [
        {"weight": 0.9, "type": "normal", "mean_ms": 30, "std_ms": 5},
        {"weight": 0.1, "type": "exponential", "mean_ms": 200},
    ]}
    h.engine.switch_model("latency", "global", parse_model("latency", raw, where="t"))
    new = h.events("model_switch")[0]["model_switch"]["new"]
    assert config_from_mapping({"latency_model": {"global": new}}, "t").latency_model.global_ == \
        parse_model("latency", raw, where="t")


def test_a_steep_scaling_exponent_is_clamped_rather_than_overflowing() -> None:
    model = parse_model("latency", {**constant(20), "scale_with": {"volatility": -400.0}}, where="t")
    r = ModelResolver(LatencyModels.model_validate({"global": model.model_dump(by_alias=True)}), SlippageModels())
    latency = r.resolve(SYMBOL, "NIFTY").latency
    assert latency.factor(1e-6, 1.0) == pytest.approx(100.0)
    assert latency.factor(1e6, 1.0) == pytest.approx(0.01)
