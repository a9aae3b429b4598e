"""The retry section of the config: shared values, per-bucket overrides, their validation, and the config hash."""

from __future__ import annotations

from typing import Any

import pytest

from imperium_desk.config import Config, ConfigError, config_from_mapping, merged_config
from imperium_desk.domain.enums import ErrorBucket
from imperium_desk.execution.config import Backoff, RetryConfig

TRANSIENT, THROTTLE = ErrorBucket.TRANSIENT, ErrorBucket.THROTTLE


def retry_errors(retry: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        config_from_mapping({"execution": {"retry": retry}}, "desk.yaml")
    return caught.value.errors


def test_both_buckets_default_to_the_shared_limits() -> None:
    config = RetryConfig()
    shared = Backoff(max_attempts=5, base_delay_ms=100.0, max_delay_ms=5_000.0)
    assert (config.backoff(TRANSIENT), config.backoff(THROTTLE)) == (shared, shared)


def test_shared_values_apply_to_both_buckets() -> None:
    config = RetryConfig(max_attempts=3, base_delay_ms=20, max_delay_ms=400)
    shared = Backoff(max_attempts=3, base_delay_ms=20.0, max_delay_ms=400.0)
    assert (config.backoff(TRANSIENT), config.backoff(THROTTLE)) == (shared, shared)


def test_a_bucket_override_changes_only_that_bucket_and_field() -> None:
    config = RetryConfig.model_validate({"max_attempts": 3, "throttle": {"base_delay_ms": 1_000}})
    assert config.backoff(THROTTLE) == Backoff(max_attempts=3, base_delay_ms=1_000.0, max_delay_ms=5_000.0)
    assert config.backoff(TRANSIENT) == Backoff(max_attempts=3, base_delay_ms=100.0, max_delay_ms=5_000.0)


@pytest.mark.parametrize(
    ("retry", "path"),
    [
        ({"throttle": {"max_attempts": 0}}, "execution.retry.throttle.max_attempts"),
        ({"transient": {"max_attempts": 51}}, "execution.retry.transient.max_attempts"),
        ({"transient": {"base_delay_ms": 0}}, "execution.retry.transient.base_delay_ms"),
        ({"throttle": {"max_delay_ms": -1}}, "execution.retry.throttle.max_delay_ms"),
        ({"throttle": {"retry_after_s": 1}}, "execution.retry.throttle.retry_after_s"),
        ({"risk": {"max_attempts": 2}}, "execution.retry.risk"),
    ],
)
def test_invalid_bucket_value_is_rejected_naming_its_path(retry: dict[str, Any], path: str) -> None:
    (error,) = retry_errors(retry)
    assert error.startswith(f"desk.yaml: {path}: ")


def test_a_config_without_overrides_dumps_without_the_bucket_sections() -> None:
    # What earlier versions dumped, so the config hash a run.json recorded still matches.
    assert RetryConfig().model_dump(mode="json") == {
        "max_attempts": 5, "base_delay_ms": 100.0, "max_delay_ms": 5_000.0, "lookup_attempts": 10,
    }


def test_an_override_survives_a_dump_and_reload() -> None:
    config = RetryConfig.model_validate({"throttle": {"max_attempts": 8}})
    dumped = config.model_dump(mode="json")
    assert dumped["throttle"] == {"max_attempts": 8, "base_delay_ms": None, "max_delay_ms": None}
    assert "transient" not in dumped
    assert RetryConfig.model_validate(dumped) == config


def test_overrides_change_the_config_hash() -> None:
    overridden = config_from_mapping({"execution": {"retry": {"throttle": {"max_attempts": 8}}}}, "desk.yaml")
    assert overridden.sha256() != Config().sha256()


def test_merging_a_bucket_override_keeps_the_shared_values() -> None:
    merged = merged_config(Config(), {"execution": {"retry": {"transient": {"max_attempts": 2}}}}, "scenario")
    assert merged.execution.retry.backoff(TRANSIENT).max_attempts == 2
    assert merged.execution.retry.backoff(THROTTLE).max_attempts == Config().execution.retry.max_attempts
