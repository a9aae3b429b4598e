"""A scenario outcome sums a run's records the same way for the run and its no-event baseline."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from imperium_desk.config import Config
from imperium_desk.desk import run_replay
from imperium_desk.scenarios.outcome import OutcomeMetrics, compare, outcome_rows
from imperium_desk.scenarios.spec import load_scenario

REPO = Path(__file__).resolve().parents[2]


def _parent(side: str, qty: int, filled: int, avg: float | None, decision: float) -> dict[str, Any]:
    return {"event": "parent", "side": side, "qty": qty,
            "parent": {"filled_qty": filled, "average_price": avg, "decision_price": decision}}


def _metrics(*records: dict[str, Any]) -> OutcomeMetrics:
    m = OutcomeMetrics()
    for r in records:
        m(r)
    return m


def test_fill_rate_is_filled_over_parent_quantity() -> None:
    m = _metrics(_parent("buy", 100, 100, 10.1, 10.0), _parent("sell", 100, 50, 9.9, 10.0))
    assert m.summary()["fill_rate"] == 0.75


def test_arrival_slippage_is_qty_weighted_and_adverse_positive() -> None:
    # buy 100 at 10.1 vs 10.0: +100 bps; sell 50 at 9.9 vs 10.0: +100 bps; sell 50 at 10.2: -200 bps
    m = _metrics(_parent("buy", 100, 100, 10.1, 10.0), _parent("sell", 50, 50, 9.9, 10.0),
                 _parent("sell", 50, 50, 10.2, 10.0))
    assert m.summary()["arrival_slippage_bps"] == pytest.approx((100 * 100 + 50 * 100 - 50 * 200) / 200)


def test_rejects_errors_and_retries_are_counted_per_bucket() -> None:
    m = _metrics({"event": "reject", "error_bucket": "risk"}, {"event": "error", "error_bucket": "transient"},
                 {"event": "error", "error_bucket": "transient"}, {"event": "retry", "error_bucket": "transient"})
    s = m.summary()
    assert s["rejects"]["risk"] == 1 and s["errors"]["transient"] == 2 and s["retries"]["transient"] == 1


def test_the_outcome_delta_is_run_minus_baseline_for_every_number() -> None:
    run = _metrics(_parent("buy", 100, 50, 10.2, 10.0), {"event": "fill", "latency_ms": 300.0}).summary()
    base = _metrics(_parent("buy", 100, 100, 10.1, 10.0), {"event": "fill", "latency_ms": 50.0}).summary()
    outcome = compare("x", 7, run, base)
    assert outcome["delta"]["fill_rate"] == -0.5
    assert outcome["delta"]["latency_ms"]["p50"] == 250.0
    assert outcome["delta"]["arrival_slippage_bps"] == pytest.approx(100.0)
    assert ("fill_rate", "0.5", "1", "-0.5") in outcome_rows(outcome)


def test_the_progress_bar_covers_the_run_then_its_baseline(tmp_path: Path) -> None:
    seen: list[float] = []
    scenario = load_scenario(REPO / "imperium_desk" / "configs" / "scenarios" / "news-gap.yaml")
    run_replay(scenario, Config(), tmp_path, progress=seen.append)
    assert seen == sorted(seen) and seen[-1] == 1.0
    assert 0.5 in seen  # the run with events ends at half way; the baseline fills the rest
    assert max(v for v in seen if v < 0.5) > 0.4
