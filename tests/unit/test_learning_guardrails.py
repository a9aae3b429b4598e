"""Guardrails on learner proposals: bounds, rate of change against the model replaced, and the minimum interval
between applied changes of one model."""

from __future__ import annotations

from typing import Any

import pytest

from imperium_desk.feedback.learning.config import GuardrailsConfig
from imperium_desk.feedback.learning.guardrails import Guardrails
from imperium_desk.feedback.learning.proposal import ModelProposal
from imperium_desk.models.config import LATENCY_ADAPTER, SLIPPAGE_ADAPTER


def latency(median_ms: float, scope: str = "NIFTY") -> ModelProposal:
    return ModelProposal(kind="latency", scope=scope, model={"type": "lognormal", "median_ms": median_ms,
                                                             "sigma": 0.3})


def slippage(mean: float, unit: str = "bps") -> ModelProposal:
    return ModelProposal(kind="slippage", scope="NIFTY", model={"type": "normal", "mean": mean, "std": 0.5,
                                                                "unit": unit})


def active_latency(median_ms: float) -> Any:
    return LATENCY_ADAPTER.validate_python({"type": "lognormal", "median_ms": median_ms, "sigma": 0.25})


def active_slippage(mean: float, unit: str = "bps") -> Any:
    return SLIPPAGE_ADAPTER.validate_python({"type": "normal", "mean": mean, "std": 0.5, "unit": unit})


def guard(**overrides: Any) -> Guardrails:
    return Guardrails(GuardrailsConfig(**overrides))


def test_a_latency_change_within_the_factor_passes() -> None:
    assert guard().check(latency(150), active_latency(50), now_s=0.0) is None


def test_a_latency_median_beyond_the_change_factor_is_refused() -> None:
    reason = guard(max_change_factor=4).check(latency(250), active_latency(50), now_s=0.0)
    assert reason is not None and reason.startswith("rate of change") and "factor of 5" in reason


def test_a_fall_beyond_the_change_factor_is_refused_too() -> None:
    reason = guard(max_change_factor=4).check(latency(10), active_latency(50), now_s=0.0)
    assert reason is not None and reason.startswith("rate of change")


def test_a_latency_median_above_the_bound_is_refused() -> None:
    reason = guard(max_latency_median_ms=100).check(latency(150), active_latency(90), now_s=0.0)
    assert reason is not None and reason.startswith("bounds") and "150" in reason


def test_a_latency_median_below_the_bound_is_refused() -> None:
    reason = guard(min_latency_median_ms=1.0).check(latency(0.5), active_latency(1.5), now_s=0.0)
    assert reason is not None and reason.startswith("bounds")


def test_a_second_change_inside_the_min_interval_is_refused() -> None:
    g = guard(min_interval_s=10)
    g.record_applied(latency(100), 5.0)
    reason = g.check(latency(120), active_latency(100), now_s=12.0)
    assert reason is not None and reason.startswith("interval")


def test_a_change_after_the_min_interval_passes() -> None:
    g = guard(min_interval_s=10)
    g.record_applied(latency(100), 5.0)
    assert g.check(latency(120), active_latency(100), now_s=15.0) is None


def test_the_interval_is_per_scope() -> None:
    g = guard(min_interval_s=10)
    g.record_applied(latency(100, scope="BANKNIFTY"), 5.0)
    assert g.check(latency(120), active_latency(100), now_s=6.0) is None


def test_a_failed_apply_does_not_start_the_interval() -> None:
    g = guard(min_interval_s=10)
    g.record_applied(latency(100), 5.0)
    g.forget_applied(latency(100))
    assert g.check(latency(120), active_latency(100), now_s=6.0) is None


def test_a_slippage_mean_beyond_the_bound_is_refused() -> None:
    reason = guard().check(slippage(600), active_slippage(300), now_s=0.0)
    assert reason is not None and reason.startswith("bounds") and "bps" in reason


def test_a_slippage_move_within_the_factor_passes() -> None:
    assert guard(max_change_factor=4).check(slippage(3.5), active_slippage(1.0), now_s=0.0) is None


def test_a_slippage_move_beyond_the_factor_is_refused() -> None:
    reason = guard(max_change_factor=4).check(slippage(5.0), active_slippage(1.0), now_s=0.0)
    assert reason is not None and reason.startswith("rate of change")


def test_a_tiny_slippage_mean_moves_by_the_floor_not_by_its_own_size() -> None:
    # 0.1 bps -> 2 bps is "20x" but only 1.9 bps: within (4 - 1) x the 1 bps floor.
    assert guard(max_change_factor=4).check(slippage(2.0), active_slippage(0.1), now_s=0.0) is None


def test_a_slippage_unit_change_is_refused() -> None:
    reason = guard().check(slippage(0.5, unit="price"), active_slippage(1.0, unit="bps"), now_s=0.0)
    assert reason is not None and "unit change" in reason


def test_guardrail_config_rejects_a_missing_unit() -> None:
    with pytest.raises(ValueError, match="missing price"):
        GuardrailsConfig(max_abs_slippage={"bps": 10, "ticks": 5})


def test_guardrail_config_rejects_inverted_latency_bounds() -> None:
    with pytest.raises(ValueError, match="max_latency_median_ms"):
        GuardrailsConfig(min_latency_median_ms=10, max_latency_median_ms=5)


def test_a_model_whose_figures_would_overflow_is_refused_naming_the_field() -> None:
    with pytest.raises(ValueError, match=r"model\.lognormal\.mu"):
        ModelProposal(kind="latency", scope="NIFTY", model={"type": "lognormal", "mu": 1e6, "sigma": 0.3})


def test_a_median_beyond_the_guardrail_bounds_is_refused_not_raised() -> None:
    slow = ModelProposal(kind="latency", scope="NIFTY", model={"type": "lognormal", "mu": 12.0, "sigma": 0.3})
    reason = guard().check(slow, active_latency(50), now_s=0.0)
    assert reason is not None and reason.startswith("bounds")
