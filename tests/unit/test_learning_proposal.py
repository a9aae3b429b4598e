"""Model proposals and the learning config: validated like a config file, errors naming the field."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from imperium_desk.config import ConfigError, config_from_mapping
from imperium_desk.feedback.learning.config import LearningConfig, RecalibrationConfig
from imperium_desk.feedback.learning.proposal import ModelProposal
from imperium_desk.models.config import LognormalLatency


def test_a_valid_latency_proposal_carries_its_parsed_model() -> None:
    p = ModelProposal(kind="latency", scope="NIFTY", model={"type": "lognormal", "median_ms": 42, "sigma": 0.3})
    assert isinstance(p.parsed, LognormalLatency) and p.parsed.median_ms == 42


def test_a_bad_model_field_is_named_in_the_error() -> None:
    with pytest.raises(ValidationError, match=r"model\.lognormal\.median_ms"):
        ModelProposal(kind="latency", scope="NIFTY", model={"type": "lognormal", "median_ms": -1, "sigma": 0.3})


def test_a_slippage_proposal_for_a_latency_lane_is_refused() -> None:
    with pytest.raises(ValidationError, match="only the 'order' lane"):
        ModelProposal(kind="slippage", scope="NIFTY", lane="cancel",
                      model={"type": "constant", "value": 1, "unit": "bps"})


def test_a_historical_model_is_refused_in_a_proposal() -> None:
    with pytest.raises(ValidationError, match="historical"):
        ModelProposal(kind="latency", scope="NIFTY", model={"type": "historical", "source": "/etc/passwd"})


def test_an_unknown_proposal_field_is_refused() -> None:
    with pytest.raises(ValidationError, match="confidence"):
        ModelProposal.model_validate({"kind": "latency", "scope": "NIFTY", "confidence": 1,
                                      "model": {"type": "constant", "value_ms": 5}})


def test_the_default_config_leaves_learning_off() -> None:
    assert config_from_mapping({}, "t").feedback.learning.enabled is False


def test_a_bad_learning_field_is_reported_with_its_path() -> None:
    with pytest.raises(ConfigError) as info:
        config_from_mapping({"feedback": {"learning": {"recalibration": {"min_samples": 2}}}}, "t")
    assert any("feedback.learning.recalibration.min_samples" in e for e in info.value.errors)


def test_a_learner_listed_twice_is_refused() -> None:
    with pytest.raises(ValidationError, match="listed twice"):
        LearningConfig(learners=("recalibration", "recalibration"))


def test_the_window_must_hold_a_refit() -> None:
    with pytest.raises(ValidationError, match="min_samples"):
        RecalibrationConfig(window=30, min_samples=40, slippage_samples=20)
