"""Bad scenario events are refused at load with the field path; nothing runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from imperium_desk.config import ConfigError
from imperium_desk.scenarios.spec import LatencyBurstEvent, RandomEvent, load_scenario


def _load(tmp_path: Path, events: str) -> None:
    path = tmp_path / "s.yaml"
    path.write_text("id: x\nseed: 1\nduration_s: 10\nevents:\n" + events, encoding="utf-8")
    load_scenario(path)


@pytest.mark.parametrize(
    ("events", "message"),
    [
        ("  - {type: explode, at_s: 1}\n", "events.0: Input tag 'explode'"),
        ("  - {type: throttle, at_s: 99, rate: 0.5}\n", "events.0.at_s 99.0 is after duration_s 10.0"),
        ("  - {type: reject_storm, at_s: 1, rate: 2, error_bucket: risk}\n", "events.0.rate"),
        ("  - {type: reject_storm, at_s: 1, rate: 0.2, error_bucket: nope}\n", "events.0.error_bucket"),
        ("  - {type: latency_burst, at_s: 1, factor: 2, model: {type: constant, value_ms: 5}}\n",
         "exactly one of factor"),
        ("  - {type: latency_burst, at_s: 1, model: {type: normal, mean_ms: 5}}\n", "model: std_ms: Field required"),
        ("  - {type: risk_change, at_s: 1, risk: {max_order_lots: 0}}\n", "risk.max_order_lots"),
        ("  - {type: risk_change, at_s: 1, underlying: NIFTY, risk: {kill_switch: true}}\n", "every asset"),
        ("  - {type: news_shock, at_s: 1, jump_pct: 2, underlying: NIFTY, symbol: X}\n", "at most one of"),
        ("  - {type: random, rate_per_min: 2, event: {type: throttle, rate: {dist: uniform, low: 0.5}}}\n",
         "event.rate: Value error, uniform needs high"),
        ("  - {type: random, rate_per_min: 2, event: {type: throttle, rate: {dist: gamma, k: 1}}}\n",
         "event.rate.dist"),
        ("  - {type: random, rate_per_min: 2, event: {type: throttle, rate: 0.3, speed: 2}}\n", "event.speed"),
        ("  - {type: random, rate_per_min: 2, event: {type: random, rate_per_min: 1, event: {}}}\n",
         "cannot be 'random'"),
        ("  - {type: random, rate_per_min: 2, until_s: 50, event: {type: throttle, rate: 0.3}}\n",
         "events.0.until_s 50.0 is after duration_s 10.0"),
    ],
)
def test_a_bad_event_is_refused_naming_the_field(tmp_path: Path, events: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        _load(tmp_path, events)
    assert message in str(caught.value)


def test_a_latency_burst_model_is_validated_and_parsed(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text("id: x\nseed: 1\nduration_s: 10\nevents:\n"
                    "  - {type: latency_burst, at_s: 1, model: {type: constant, value_ms: 5}}\n", encoding="utf-8")
    (event,) = load_scenario(path).spec.events
    assert isinstance(event, LatencyBurstEvent) and event.parsed.value_ms == 5


def test_lost_answers_true_means_every_timed_out_order_was_accepted(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text("id: x\nseed: 1\nduration_s: 10\nevents:\n"
                    "  - {type: broker_outage, at_s: 1, lost_answers: true}\n", encoding="utf-8")
    (event,) = load_scenario(path).spec.events
    assert event.lost_answers == 1.0 and event.rate == 1.0  # type: ignore[union-attr]


def test_a_random_template_keeps_its_distributions(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text("id: x\nseed: 1\nduration_s: 10\nevents:\n  - {type: random, rate_per_min: 2, event: "
                    "{type: volatility_spike, vol_mult: {dist: lognormal, median: 2, sigma: 0.3}}}\n",
                    encoding="utf-8")
    (event,) = load_scenario(path).spec.events
    assert isinstance(event, RandomEvent) and set(event.distributions) == {"vol_mult"}
