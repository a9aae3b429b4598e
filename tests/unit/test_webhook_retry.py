"""When a failed delivery is retried: exponential backoff with jitter, capped, or the receiver's Retry-After."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from email.utils import format_datetime

from imperium_desk.feedback.webhooks.retry import backoff_delay, next_delay, parse_retry_after

NOW = 1_795_412_700.0


def test_backoff_doubles_per_attempt_within_the_jitter_band() -> None:
    rng = random.Random(1)
    for attempts, full in [(1, 1.0), (2, 2.0), (3, 4.0), (6, 32.0)]:
        delay = backoff_delay(attempts, 1.0, 600.0, rng)
        assert full / 2 <= delay <= full


def test_backoff_stops_at_the_cap() -> None:
    assert backoff_delay(40, 1.0, 600.0, random.Random(2)) <= 600.0
    assert backoff_delay(10_000, 1.0, 600.0, random.Random(2)) >= 300.0


def test_jitter_spreads_subscribers_that_failed_together() -> None:
    rng = random.Random(3)
    assert len({round(backoff_delay(4, 1.0, 600.0, rng), 6) for _ in range(20)}) > 10


def test_retry_after_in_seconds() -> None:
    assert parse_retry_after("120", NOW) == 120.0


def test_retry_after_as_http_date() -> None:
    when = format_datetime(datetime.fromtimestamp(NOW + 90, UTC), usegmt=True)
    assert parse_retry_after(when, NOW) == 90.0


def test_retry_after_in_the_past_means_now() -> None:
    when = format_datetime(datetime.fromtimestamp(NOW - 90, UTC), usegmt=True)
    assert parse_retry_after(when, NOW) == 0.0


def test_unreadable_retry_after_is_ignored() -> None:
    assert parse_retry_after("soon", NOW) is None
    assert parse_retry_after(None, NOW) is None


def test_retry_after_replaces_the_backoff_up_to_its_cap() -> None:
    rng = random.Random(4)
    assert next_delay(1, 30.0, base_s=0.01, max_s=0.1, retry_after_max_s=3600.0, rng=rng) == 30.0
    assert next_delay(1, 7200.0, base_s=0.01, max_s=0.1, retry_after_max_s=3600.0, rng=rng) == 3600.0
    assert next_delay(1, None, base_s=0.01, max_s=0.1, retry_after_max_s=3600.0, rng=rng) <= 0.01
