"""The trading calendar and trading time: sessions, nights, weekends, holidays, and the mapping's exactness."""

from __future__ import annotations

from datetime import date, datetime
from itertools import pairwise

import pytest

from imperium_desk.domain.instruments import IST
from imperium_desk.domain.sessions import TradingCalendar, TradingTime

SESSION_S = 6 * 3600 + 15 * 60  # 09:15-15:30


def ist(year: int, month: int, day: int, hour: int, minute: int) -> float:
    return datetime(year, month, day, hour, minute, tzinfo=IST).timestamp()


def test_a_moment_in_a_session_is_in_that_days_session() -> None:
    session = TradingCalendar.nse().session(ist(2026, 11, 23, 12, 0))
    assert session == (ist(2026, 11, 23, 9, 15), ist(2026, 11, 23, 15, 30))


def test_the_close_instant_belongs_to_the_next_session() -> None:
    opened, _ = TradingCalendar.nse().session(ist(2026, 11, 23, 15, 30))
    assert opened == ist(2026, 11, 24, 9, 15)


def test_friday_evening_leads_to_monday_morning() -> None:
    opened, _ = TradingCalendar.nse().session(ist(2026, 11, 27, 20, 0))
    assert opened == ist(2026, 11, 30, 9, 15)


def test_a_listed_holiday_is_skipped() -> None:
    calendar = TradingCalendar.nse([date(2026, 11, 24)])
    opened, _ = calendar.session(ist(2026, 11, 23, 16, 0))
    assert opened == ist(2026, 11, 25, 9, 15)


def test_a_session_that_closes_before_it_opens_is_refused() -> None:
    with pytest.raises(ValueError):
        TradingCalendar(open=datetime(2026, 1, 1, 15, 30).time(), close=datetime(2026, 1, 1, 9, 15).time())


def test_within_the_first_session_trading_time_is_start_plus_t_exactly() -> None:
    start = ist(2026, 11, 23, 9, 15) + 0.123
    time = TradingTime(TradingCalendar.nse(), start)
    for t in (0.0, 0.1, 0.25, 1234.5678, 22000.1):
        assert time.epoch(t) == start + t


def test_a_start_while_closed_begins_at_the_next_open() -> None:
    time = TradingTime(TradingCalendar.nse(), ist(2026, 11, 28, 11, 0))  # a Saturday
    assert time.start == ist(2026, 11, 30, 9, 15)
    assert time.epoch(0.0) == ist(2026, 11, 30, 9, 15)


def test_the_last_trading_second_of_a_session_is_its_close() -> None:
    time = TradingTime(TradingCalendar.nse(), ist(2026, 11, 23, 9, 15))
    assert time.epoch(SESSION_S) == ist(2026, 11, 23, 15, 30)


def test_trading_seconds_past_the_close_continue_from_the_next_open() -> None:
    time = TradingTime(TradingCalendar.nse(), ist(2026, 11, 27, 15, 0))  # Friday
    assert time.epoch(1800.25) == ist(2026, 11, 30, 9, 15) + 0.25


def test_the_mapping_never_goes_back() -> None:
    time = TradingTime(TradingCalendar.nse([date(2026, 12, 1)]), ist(2026, 11, 23, 10, 0))
    epochs = [time.epoch(k * 997.5) for k in range(200)]
    assert all(b > a for a, b in pairwise(epochs))


def test_an_earlier_trading_second_maps_the_same_after_later_ones() -> None:
    time = TradingTime(TradingCalendar.nse(), ist(2026, 11, 23, 9, 15))
    first = time.epoch(100.0)
    time.epoch(5 * SESSION_S)
    assert time.epoch(100.0) == first


def test_next_close_is_strictly_after_the_given_second() -> None:
    time = TradingTime(TradingCalendar.nse(), ist(2026, 11, 23, 15, 0))
    assert time.next_close(0.0) == 1800.0
    assert time.next_close(1800.0) == 1800.0 + SESSION_S


def test_segment_gives_the_sessions_offset_and_close() -> None:
    time = TradingTime(TradingCalendar.nse(), ist(2026, 11, 23, 15, 0))
    offset, end = time.segment(1800.5)
    assert end == 1800.0 + SESSION_S
    assert offset + 1800.5 == ist(2026, 11, 24, 9, 15) + 0.5


def test_sessions_counts_those_touched() -> None:
    time = TradingTime(TradingCalendar.nse(), ist(2026, 11, 23, 9, 15))
    assert [time.sessions(t) for t in (0.0, SESSION_S, SESSION_S + 1, 2 * SESSION_S + 1)] == [1, 1, 2, 3]
