"""`since` of `GET /feedback/metrics`: an ISO-8601 time or an opaque cursor that a previous page returned.

A cursor stands for "after this seq": seq is the log's own order, so following `next_cursor` visits every record
exactly once however the timestamps run.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Final

_PREFIX: Final = "c"
_MAX_DIGITS: Final = 19  # a seq fits in SQLite's signed 64-bit integer


class SinceError(ValueError):
    """`since` is neither an ISO-8601 time nor a cursor; the message shows both forms (the API answers 422)."""


def encode_cursor(seq: int) -> str:
    return f"{_PREFIX}{seq}"


def parse_since(since: str | None) -> tuple[int | None, float | None]:
    """(after this seq, from this epoch time): one of them set, or neither for `None`."""
    if since is None:
        return None, None
    digits = since[len(_PREFIX):]
    if since.startswith(_PREFIX) and 0 < len(digits) <= _MAX_DIGITS and digits.isascii() and digits.isdigit():
        return int(digits), None
    try:
        moment = datetime.fromisoformat(since)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)  # the desk's times are UTC
        return None, moment.timestamp()
    except (ValueError, OverflowError):
        raise SinceError(
            f"{since!r} is neither an ISO-8601 time (e.g. 2026-11-23T03:45:00Z) nor a cursor from next_cursor"
        ) from None
