"""The recalibration learner on synthetic fill records: change detection, the refit, and what it leaves alone."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import pytest

from imperium_desk.clock import VirtualClock
from imperium_desk.feedback.learning.config import LearningConfig
from imperium_desk.feedback.learning.configured import ConfiguredModels
from imperium_desk.feedback.learning.plugin import LearnerContext
from imperium_desk.feedback.learning.proposal import ModelProposal
from imperium_desk.feedback.learning.recalibration import RecalibrationLearner, scaled_slippage
from imperium_desk.models.config import SLIPPAGE_ADAPTER, LatencyModels, SlippageModels
from imperium_desk.models.resolver import ModelResolver
from imperium_desk.rng import RandomStreams

SYMBOL = "NIFTY26DEC26000CE"
OTHER = "NIFTY26DEC26100PE"
START = 1_800_000_000.0


def underlying_of(scope: str) -> str | None:
    return "NIFTY" if scope.startswith("NIFTY") else None


class Rig:
    def __init__(self, latency: dict[str, Any] | None = None, slippage: dict[str, Any] | None = None,
                 **recalibration: Any) -> None:
        self.resolver = ModelResolver(
            LatencyModels.model_validate(latency or {"per_asset": {"NIFTY": {"type": "lognormal", "median_ms": 50,
                                                                             "sigma": 0.25}}}),
            SlippageModels.model_validate(slippage or {}),
        )
        config = LearningConfig(enabled=True, recalibration=recalibration)  # type: ignore[arg-type]
        context = LearnerContext("recalibration", config, ConfiguredModels(self.resolver, underlying_of),
                                 VirtualClock(START), RandomStreams(1))
        self.learner = RecalibrationLearner(context)
        self.seq = 0

    def fill(self, latency_ms: float, asset: str = SYMBOL, **fields: Any) -> list[ModelProposal]:
        self.seq += 1
        record: dict[str, Any] = {
            "seq": self.seq, "event": "fill", "timestamp": f"2027-01-15T08:00:{self.seq / 1000:09.3f}Z",
            "asset": asset, "underlying": "NIFTY", "side": "buy", "client_tag": f"c{self.seq}",
            "latency_ms": latency_ms, "executed_price": 100.0, "extra_metrics": {"book_price": 100.0},
            "model_params": {"latency": {"scope": "NIFTY"}, "slippage": {"scope": "global", "unit": "bps"}},
        }
        record.update(fields)
        return list(self.learner.on_record(record))

    def fills(self, latencies: Iterable[float], **fields: Any) -> list[tuple[int, ModelProposal]]:
        """(index of the fill that raised it, proposal) for every proposal."""
        out = []
        for i, value in enumerate(latencies):
            out += [(i, p) for p in self.fill(float(value), **fields)]
        return out

    def apply(self, p: ModelProposal) -> None:
        self.resolver.switch(p.kind, p.scope, p.parsed, source="learner:recalibration")


def lognormal(median: float, sigma: float, n: int, seed: int) -> np.ndarray:
    return median * np.exp(sigma * np.random.default_rng(seed).standard_normal(n))


def test_fills_from_the_configured_model_raise_no_proposal() -> None:
    assert Rig().fills(lognormal(50, 0.25, 3000, seed=1)) == []


def test_a_heavy_tailed_mixture_raises_no_proposal_from_its_own_tail() -> None:
    mixture = {"type": "mixture", "components": [
        {"weight": 0.95, "type": "lognormal", "median_ms": 40, "sigma": 0.3},
        {"weight": 0.05, "type": "normal", "mean_ms": 400, "std_ms": 80}]}
    rig = Rig(latency={"global": mixture})
    rng = np.random.default_rng(2)
    slow = rng.random(3000) < 0.05
    draws = np.where(slow, rng.normal(400, 80, 3000), 40 * np.exp(0.3 * rng.standard_normal(3000)))
    assert rig.fills(np.maximum(draws, 0.0)) == []


def test_a_latency_change_is_proposed_after_min_samples_fills_of_the_new_regime() -> None:
    rig = Rig(min_samples=50)
    found = rig.fills(np.concatenate([lognormal(50, 0.25, 300, seed=3), lognormal(150, 0.3, 60, seed=4)]))
    assert len(found) == 1
    at, p = found[0]
    assert at == 300 + 50 - 1 and (p.kind, p.scope, p.lane, p.learner) == ("latency", "NIFTY", "order",
                                                                              "recalibration")
    assert p.evidence.samples == 50 and p.parsed.median_ms == pytest.approx(150, rel=0.1)


def test_the_proposed_model_is_a_lognormal_with_the_new_spread() -> None:
    rig = Rig(min_samples=200, window=400)
    found = rig.fills(np.concatenate([lognormal(50, 0.25, 300, seed=5), lognormal(150, 0.4, 220, seed=6)]))
    p = found[0][1]
    assert p.model["type"] == "lognormal" and p.parsed.sigma == pytest.approx(0.4, rel=0.15)


def test_once_applied_the_same_regime_raises_no_new_change() -> None:
    rig = Rig(min_samples=50, refine_tolerance=10.0)  # no refinements: only changes count here
    found = rig.fills(np.concatenate([lognormal(50, 0.25, 200, seed=7), lognormal(150, 0.3, 55, seed=8)]))
    rig.apply(found[0][1])
    assert rig.fills(lognormal(150, 0.3, 1000, seed=9)) == []


def test_the_regime_is_refitted_on_more_fills_when_the_estimate_moves() -> None:
    rig = Rig(min_samples=50, refine_tolerance=0.0)
    found = rig.fills(np.concatenate([lognormal(50, 0.25, 200, seed=10), lognormal(150, 0.3, 55, seed=11)]))
    first = found[0][1]
    rig.apply(first)
    refits = rig.fills(lognormal(150, 0.3, 60, seed=12))
    assert [p.evidence.samples for _, p in refits] == [100]  # twice the first fit's fills
    assert refits[0][1].evidence.window_start == first.evidence.window_start


def test_a_burst_shorter_than_a_collection_is_not_learned() -> None:
    rig = Rig(min_samples=50)
    latencies = np.concatenate([lognormal(50, 0.25, 200, seed=13), lognormal(150, 0.3, 25, seed=14),
                                lognormal(50, 0.25, 300, seed=15)])
    assert rig.fills(latencies) == []


def test_a_symbol_with_its_own_model_is_recalibrated_on_its_own() -> None:
    per_asset = {"NIFTY": {"type": "lognormal", "median_ms": 50, "sigma": 0.25},
                 OTHER: {"type": "lognormal", "median_ms": 80, "sigma": 0.25}}
    rig = Rig(latency={"per_asset": per_asset}, min_samples=50)
    found = rig.fills(np.concatenate([lognormal(80, 0.25, 100, seed=16), lognormal(200, 0.3, 60, seed=17)]),
                      asset=OTHER)
    assert [p.scope for _, p in found] == [OTHER]


def test_round_trips_split_into_insert_and_report_lanes_are_not_the_order_model() -> None:
    rig = Rig()
    params = {"latency": {"scope": "NIFTY"}, "slippage": {"scope": "global", "unit": "bps"},
              "lanes": {"insert": {"scope": "global"}}}
    assert rig.fills(np.full(200, 900.0), model_params=params) == []


def test_the_regime_factor_of_a_conditioned_model_is_taken_out() -> None:
    rig = Rig()
    params = {"latency": {"scope": "NIFTY", "factor": 3.0}, "slippage": {"scope": "global", "unit": "bps"}}
    assert rig.fills(3.0 * lognormal(50, 0.25, 500, seed=18), model_params=params) == []


def slippage_fill(rig: Rig, bps: float, **fields: Any) -> list[ModelProposal]:
    book = 100.0
    return rig.fill(50.0, executed_price=book * (1 + bps / 10_000.0), extra_metrics={"book_price": book}, **fields)


def test_a_slippage_mean_change_proposes_the_model_rescaled_to_it() -> None:
    rig = Rig(slippage={"global": {"type": "lognormal", "median": 1.0, "sigma": 0.1, "unit": "bps"}},
              latency=False, slippage_samples=100)
    draws = np.random.default_rng(19).normal(5.0, 2.0, 100)
    found = [p for d in draws for p in slippage_fill(rig, float(d))]
    assert [(p.kind, p.scope) for p in found] == [("slippage", "NIFTY")]
    assert found[0].model["type"] == "lognormal" and found[0].parsed.unit == "bps"
    mean = float(draws.mean())
    assert found[0].parsed.median * np.exp(0.1**2 / 2) == pytest.approx(mean, rel=1e-3)


def test_limit_fills_are_left_out_of_slippage() -> None:
    rig = Rig(slippage={"global": {"type": "lognormal", "median": 1.0, "sigma": 0.1, "unit": "bps"}},
              latency=False, slippage_samples=100)
    found = []
    for i in range(150):
        tag = f"limit{i}"
        rig.learner.on_record({"event": "placed", "client_tag": tag, "limit_price": 100.0})
        found += slippage_fill(rig, 8.0, client_tag=tag)
    assert found == []


def test_scaling_a_mixture_scales_every_component() -> None:
    cfg = SLIPPAGE_ADAPTER.validate_python({"type": "mixture", "unit": "bps", "components": [
        {"weight": 0.5, "type": "normal", "mean": 1.0, "std": 0.5},
        {"weight": 0.5, "type": "exponential", "mean": 3.0}]})
    scaled = scaled_slippage(cfg, 4.0)
    assert scaled is not None
    assert [c.get("mean") for c in scaled["components"]] == [2.0, 6.0]


def test_a_mean_of_the_other_sign_cannot_be_reached_by_scaling() -> None:
    cfg = SLIPPAGE_ADAPTER.validate_python({"type": "lognormal", "median": 1.0, "sigma": 0.1, "unit": "bps"})
    assert scaled_slippage(cfg, -2.0) is None
