"""`since` of `GET /feedback/metrics`: an ISO-8601 time or an opaque cursor that a previous page returned.

A cursor stands for "after this seq": seq is the log's own order, so following `next_cursor` visits every record
exactly once however the timestamps run.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Final

_PREFIX: Final = "c"
# What `since` may be, as the API document publishes it: a cursor (`c<seq>`, up to 18 digits: SQLite's signed 64-bit
# integer holds it) or an ISO-8601 date or time from 1970 to 2999 (a time without a zone is UTC). Days run to 28 in
# every month, 30 where a month has them, 31 where it has that, and 29 February in leap years only (every fourth
# year but the centuries not divisible by 400), so whatever fits the pattern is a real date.
_DAY: Final = r"(?:(?:0[1-9]|1[0-2])-(?:0[1-9]|1[0-9]|2[0-8])|(?:0[13-9]|1[0-2])-(?:29|30)|(?:0[13578]|1[02])-31)"
_TIME: Final = (r"(?:[T ](?:[01][0-9]|2[0-3])(?::[0-5][0-9](?::[0-5][0-9](?:\.[0-9]{1,6})?)?)?"
                r"(?:Z|[+-](?:[01][0-9]|2[0-3]):?[0-5][0-9])?)?")
_LEAP_YEAR: Final = r"(?:19(?:7[26]|8[048]|9[26])|2[0-9](?:0[48]|[2468][048]|[13579][26])|2[048]00)"
SINCE_PATTERN: Final = (rf"^(?:c[0-9]{{1,18}}|(?:(?:19[7-9][0-9]|2[0-9]{{3}})-{_DAY}|{_LEAP_YEAR}-02-29){_TIME})$")
_SINCE: Final = re.compile(SINCE_PATTERN)


class SinceError(ValueError):
    """`since` is neither an ISO-8601 time nor a cursor; the message shows both forms (the API answers 422)."""


def encode_cursor(seq: int) -> str:
    return f"{_PREFIX}{seq}"


def parse_since(since: str | None) -> tuple[int | None, float | None]:
    """(after this seq, from this epoch time): one of them set, or neither for `None`."""
    if since is None:
        return None, None
    if _SINCE.fullmatch(since) is None:
        raise _refused(since)
    if since.startswith(_PREFIX):
        return int(since[len(_PREFIX):]), None
    try:
        moment = datetime.fromisoformat(since)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)  # the desk's times are UTC
        return None, moment.timestamp()
    except (ValueError, OverflowError):
        raise _refused(since) from None


def _refused(since: str) -> SinceError:
    return SinceError(
        f"{since!r} is neither an ISO-8601 date or time from 1970 to 2999 (e.g. 2026-11-23T03:45:00Z) nor a cursor"
        " from next_cursor"
    )
