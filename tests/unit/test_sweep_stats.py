from __future__ import annotations

import pytest

from imperium_desk.scenarios.sweep_stats import aggregate, flatten, parse_seeds, sweep_rows


def test_seed_ranges_and_lists_expand_in_order_without_repeats() -> None:
    assert parse_seeds("1..3,7,2..4") == [1, 2, 3, 7, 4]


@pytest.mark.parametrize("text", ["", "a", "3..1", "-1", "1..x"])
def test_a_bad_seed_list_is_refused_naming_the_part(text: str) -> None:
    with pytest.raises(ValueError, match=r"seed|range|upwards|non-negative"):
        parse_seeds(text)


def test_flatten_names_every_number_by_its_path_and_skips_missing_ones() -> None:
    doc = {"fill_rate": 0.5, "latency_ms": {"p50": 40, "p95": None}, "rejects": {"risk": 2}}
    assert flatten(doc) == {"fill_rate": 0.5, "latency_ms.p50": 40.0, "rejects.risk": 2.0}


def test_aggregate_summarises_each_metric_across_runs() -> None:
    docs = [{"run": {"fill_rate": v}, "delta": {"fill_rate": v - 1}} for v in (0.5, 0.7, 0.9)]
    agg = aggregate(docs)
    assert agg["run"]["fill_rate"]["mean"] == pytest.approx(0.7)
    assert agg["run"]["fill_rate"]["n"] == 3 and agg["run"]["fill_rate"]["min"] == 0.5
    assert agg["delta"]["fill_rate"]["max"] == pytest.approx(-0.1)
    assert "baseline" not in agg


def test_a_metric_missing_from_some_runs_is_counted_over_the_runs_that_have_it() -> None:
    agg = aggregate([{"run": {"latency_ms": {"p50": 40}}}, {"run": {"latency_ms": {"p50": None}}}])
    assert agg["run"]["latency_ms.p50"]["n"] == 1


def test_rows_leave_out_metrics_that_are_zero_everywhere() -> None:
    agg = aggregate([{"run": {"rejects": {"risk": 0}, "fill_rate": 1.0}}])
    assert [row[0] for row in sweep_rows(agg)] == ["fill_rate"]
