"""Kite client tags: per-day unique across restarts and desks, at most 20 alphanumerics, reversible for our session."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pytest

from imperium_desk.broker.kite.tags import (
    MAX_CHILD_INDEX,
    MAX_ID_PREFIX,
    MAX_PARENT_SEQ,
    MAX_TAG_LENGTH,
    KiteTagError,
    KiteTags,
    claim_session,
    desk_code,
    parse_tag,
    trading_day,
    validate_tag,
)

DAY = date(2026, 1, 7)
DESK = desk_code("host-a:0123abcd")
LARGEST_STACK_TAG = f"{'Z' * MAX_ID_PREFIX}P{MAX_PARENT_SEQ:06d}C{MAX_CHILD_INDEX}"


def test_tags_stay_unique_across_a_restart_on_the_same_day(tmp_path: Path) -> None:
    morning = claim_session(tmp_path, DAY, DESK)
    after_restart = claim_session(tmp_path, DAY, DESK)
    assert morning.encode("P000001C0") != after_restart.encode("P000001C0")


def test_a_restarted_session_does_not_adopt_the_mornings_tags(tmp_path: Path) -> None:
    morning = claim_session(tmp_path, DAY, DESK)
    after_restart = claim_session(tmp_path, DAY, DESK)
    assert after_restart.decode(morning.encode("P000001C0")) is None


def test_two_desks_on_one_account_get_different_tags(tmp_path: Path) -> None:
    desk_a = claim_session(tmp_path / "home-a", DAY, desk_code("host-a:0123abcd"))
    desk_b = claim_session(tmp_path / "home-b", DAY, desk_code("host-b:0123abcd"))
    assert desk_a.encode("P000001C0") != desk_b.encode("P000001C0")


def test_two_desks_sharing_a_home_claim_different_sessions(tmp_path: Path) -> None:
    first = claim_session(tmp_path, DAY, "AAA")
    second = claim_session(tmp_path, DAY, "AAA")
    assert first.session != second.session


def test_a_new_day_starts_counting_again(tmp_path: Path) -> None:
    claim_session(tmp_path, DAY, DESK)
    assert claim_session(tmp_path, date(2026, 1, 8), DESK).session == 1


def test_desk_code_is_stable_for_a_desk_id() -> None:
    assert desk_code("host-a:0123abcd") == desk_code("host-a:0123abcd")


def test_largest_stack_tag_fits_twenty_characters() -> None:
    assert len(KiteTags("ZZZ", 1295).encode(LARGEST_STACK_TAG)) == MAX_TAG_LENGTH


@pytest.mark.parametrize(
    "stack_tag",
    [f"P{MAX_PARENT_SEQ + 1}C0", f"P000001C{MAX_CHILD_INDEX + 1}", f"{'Z' * (MAX_ID_PREFIX + 1)}P000001C0"],
    ids=["seq", "index", "prefix"],
)
def test_stack_tag_too_large_for_twenty_characters_raises(stack_tag: str) -> None:
    with pytest.raises(KiteTagError):
        KiteTags(DESK, 1).encode(stack_tag)


@pytest.mark.parametrize("stack_tag", ["P000001C0", "P000042C7", "RP000003C12", LARGEST_STACK_TAG])
def test_tags_are_only_ascii_letters_and_digits(stack_tag: str) -> None:
    assert re.fullmatch(r"[A-Za-z0-9]+", KiteTags(DESK, 7).encode(stack_tag))


@pytest.mark.parametrize("stack_tag", ["P000001C0", "P000042C7", "RP000003C12", "P1234567C3", LARGEST_STACK_TAG])
def test_our_tag_decodes_to_the_stack_tag(stack_tag: str) -> None:
    tags = KiteTags(DESK, 7)
    assert tags.decode(tags.encode(stack_tag)) == stack_tag


@pytest.mark.parametrize("stack_tag", ["P1C0", "P000001C00", "p000001C0", "P000001", "P-00001C0"])
def test_malformed_stack_tag_raises_before_sending(stack_tag: str) -> None:
    with pytest.raises(KiteTagError):
        KiteTags(DESK, 1).encode(stack_tag)


@pytest.mark.parametrize("tag", ["", "A" * 21, "ab-12", "tag@x", "ÄBC"])
def test_tag_that_breaks_kites_rules_is_refused(tag: str) -> None:
    with pytest.raises(KiteTagError):
        validate_tag(tag)


@pytest.mark.parametrize("tag", [None, "openalgo", "mktp", "A" * 12 + "-"])
def test_foreign_tag_is_not_ours(tag: str | None) -> None:
    assert KiteTags(DESK, 1).decode(tag) is None


def test_another_desks_tag_parses_but_is_not_ours() -> None:
    theirs = KiteTags("QQQ", 1).encode("P000001C0")
    assert (parse_tag(theirs) is not None, KiteTags("AAA", 1).decode(theirs)) == (True, None)


@pytest.mark.parametrize(("desk", "session"), [("AB", 1), ("abc", 1), ("AAA", 0), ("AAA", 1296)])
def test_invalid_session_identity_is_refused(desk: str, session: int) -> None:
    with pytest.raises(KiteTagError):
        KiteTags(desk, session)


def test_trading_day_rolls_over_at_ist_midnight() -> None:
    # 2026-01-07 18:30 UTC is 2026-01-08 00:00 IST.
    assert (trading_day(1767810599.0), trading_day(1767810600.0)) == (date(2026, 1, 7), date(2026, 1, 8))


def test_bad_desk_code_uses_up_no_session(tmp_path: Path) -> None:
    with pytest.raises(KiteTagError):
        claim_session(tmp_path, DAY, "bad")
    assert claim_session(tmp_path, DAY, DESK).session == 1
