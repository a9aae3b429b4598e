"""When a failed delivery is tried again: exponential backoff with jitter, or the receiver's `Retry-After`."""

from __future__ import annotations

import random
from email.utils import parsedate_to_datetime


def backoff_delay(attempts: int, base_s: float, max_s: float, rng: random.Random) -> float:
    """Seconds to wait after the `attempts`-th failure: base * 2**(attempts-1), capped, times a factor in [1/2, 1]."""
    exponent = min(attempts - 1, 60)  # 2**60 * any sane base is far past any cap: no float overflow
    return min(max_s, base_s * 2.0**exponent) * rng.uniform(0.5, 1.0)


def parse_retry_after(value: str | None, now: float) -> float | None:
    """A `Retry-After` header as seconds from `now` (epoch): delta-seconds or an HTTP date; None if absent or
    unreadable (the normal backoff applies then). A date in the past means at once (0)."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None  # an HTTP date is always GMT; without a zone it is not one
    return max(0.0, when.timestamp() - now)


def next_delay(
    attempts: int, retry_after_s: float | None, *, base_s: float, max_s: float, retry_after_max_s: float,
    rng: random.Random,
) -> float:
    """The wait before the next attempt: the receiver's Retry-After when it gave one (up to the configured cap),
    otherwise the backoff."""
    if retry_after_s is not None:
        return min(retry_after_s, retry_after_max_s)
    return backoff_delay(attempts, base_s, max_s, rng)
