"""domain/protection.py: the levels a spec works out to per unit and side, the trailing rule, the crossing rule, and
refusals that name the field."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from imperium_desk.domain.enums import Side
from imperium_desk.domain.protection import (
    Offset,
    OffsetUnit,
    ProtectionError,
    ProtectionKind,
    ProtectionSpec,
    crossed,
    levels,
    trailed,
)

TICK = 0.05


def spec(**kw: object) -> ProtectionSpec:
    return ProtectionSpec.model_validate(kw)


def test_points_stop_and_target_of_a_long_sit_below_and_above_the_entry() -> None:
    lv = levels(spec(stop_loss={"value": 5}, target={"value": 10}), Side.BUY, 100.0, 65, TICK)
    assert (lv.stop_loss, lv.target) == (95.0, 110.0)


def test_points_stop_and_target_of_a_short_sit_above_and_below_the_entry() -> None:
    lv = levels(spec(stop_loss={"value": 5}, target={"value": 10}), Side.SELL, 100.0, 65, TICK)
    assert (lv.stop_loss, lv.target) == (105.0, 90.0)


def test_percent_offset_is_of_the_entry_price() -> None:
    lv = levels(spec(stop_loss={"value": 10, "unit": "percent"}), Side.BUY, 80.0, 65, TICK)
    assert lv.stop_loss == 72.0


def test_rupee_offset_is_spread_over_the_quantity() -> None:
    lv = levels(spec(stop_loss={"value": 650, "unit": "rupees"}), Side.BUY, 100.0, 130, TICK)
    assert lv.stop_loss == 95.0  # 650 / 130 = 5 points


def test_levels_are_on_the_tick_grid() -> None:
    lv = levels(spec(stop_loss={"value": 3, "unit": "percent"}), Side.BUY, 101.3, 65, TICK)
    assert lv.stop_loss is not None
    assert round(lv.stop_loss / TICK, 6) == round(lv.stop_loss / TICK)


def test_first_trailing_stop_is_its_distance_from_the_entry() -> None:
    lv = levels(spec(trailing_stop={"value": 4}), Side.BUY, 100.0, 65, TICK)
    assert (lv.trailing_stop, lv.trail_points) == (96.0, 4.0)


def test_stop_wider_than_the_premium_is_refused_naming_stop_loss() -> None:
    with pytest.raises(ProtectionError) as caught:
        levels(spec(stop_loss={"value": 120}), Side.BUY, 100.0, 65, TICK)
    assert caught.value.field == "stop_loss"


def test_offset_under_one_tick_is_refused_naming_target() -> None:
    with pytest.raises(ProtectionError) as caught:
        levels(spec(target={"value": 0.01}), Side.BUY, 100.0, 65, TICK)
    assert caught.value.field == "target"


def test_trail_narrower_than_a_tick_is_refused_naming_trailing_stop() -> None:
    with pytest.raises(ProtectionError) as caught:
        levels(spec(trailing_stop={"value": 0.01}), Side.BUY, 100.0, 65, TICK)
    assert caught.value.field == "trailing_stop"


def test_zero_offset_is_refused_by_validation() -> None:
    with pytest.raises(ValidationError):
        Offset(value=0, unit=OffsetUnit.POINTS)


def test_spec_without_any_protection_is_refused() -> None:
    with pytest.raises(ValidationError):
        ProtectionSpec()


def test_trail_follows_a_better_price_of_a_long() -> None:
    lv = levels(spec(trailing_stop={"value": 4}), Side.BUY, 100.0, 65, TICK)
    assert trailed(lv, 110.0, TICK) == 106.0


def test_trail_never_moves_back_for_a_worse_price() -> None:
    lv = levels(spec(trailing_stop={"value": 4}), Side.SELL, 100.0, 65, TICK)
    assert trailed(lv, 103.0, TICK) == 104.0  # a short's trail stays at 104 when the ask rises


@pytest.mark.parametrize(
    ("kind", "side", "price", "expected"),
    [
        (ProtectionKind.STOP_LOSS, Side.BUY, 95.0, True),
        (ProtectionKind.STOP_LOSS, Side.BUY, 95.05, False),
        (ProtectionKind.STOP_LOSS, Side.SELL, 95.0, True),
        (ProtectionKind.STOP_LOSS, Side.SELL, 94.95, False),
        (ProtectionKind.TARGET, Side.BUY, 95.0, True),
        (ProtectionKind.TARGET, Side.BUY, 94.95, False),
    ],
)
def test_crossing_is_at_or_beyond_the_level_against_or_for_the_position(
    kind: ProtectionKind, side: Side, price: float, expected: bool
) -> None:
    assert crossed(kind, side, 95.0, price) is expected
