"""RiskGate: order size and value limits, the kill switch, and exits that are never blocked."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from imperium_desk.domain.enums import OptionRight, Side
from imperium_desk.domain.instruments import InstrumentCatalog, OptionContract
from imperium_desk.execution.config import RiskConfig
from imperium_desk.execution.request import ExecutionRequest, RequestMetadata
from imperium_desk.execution.risk import RiskGate

INSTRUMENTS = Path(__file__).resolve().parents[2] / "imperium_desk" / "configs" / "instruments.yaml"
LOT = 65  # NIFTY


@pytest.fixture(scope="module")
def contract() -> OptionContract:
    return InstrumentCatalog.load(INSTRUMENTS).contract("NIFTY", date(2026, 12, 1), 26000, OptionRight.CE)


def request(lots: int, *, is_exit: bool = False, side: Side = Side.BUY) -> ExecutionRequest:
    return ExecutionRequest(
        symbol="NIFTY26D0126000CE",
        side=side,
        quantity=lots * LOT,
        metadata=RequestMetadata(is_exit=is_exit),
    )


def gate(**limits: float | bool) -> RiskGate:
    return RiskGate(RiskConfig.model_validate(limits))


def test_order_within_limits_passes(contract: OptionContract) -> None:
    assert gate(max_order_lots=10, max_order_value=100_000).check(request(10), contract, price=100.0) is None


def test_order_above_max_order_lots_is_blocked_naming_the_limit(contract: OptionContract) -> None:
    reason = gate(max_order_lots=10).check(request(11), contract, price=1.0)
    assert reason == "11 lots exceeds max_order_lots 10"


def test_order_above_max_order_value_is_blocked_naming_the_limit(contract: OptionContract) -> None:
    # 10 lots * 65 * 200.0 = 130,000 > 100,000
    reason = gate(max_order_lots=50, max_order_value=100_000).check(request(10), contract, price=200.0)
    assert reason == "order value 130,000.00 exceeds max_order_value 100,000.00"


def test_order_exactly_at_the_limits_passes(contract: OptionContract) -> None:
    # 10 lots * 65 * 100.0 = 65,000: at both limits, over neither.
    assert gate(max_order_lots=10, max_order_value=65_000).check(request(10), contract, price=100.0) is None


def test_kill_switch_blocks_a_new_order(contract: OptionContract) -> None:
    reason = gate(kill_switch=True).check(request(1), contract, price=1.0)
    assert reason is not None
    assert "kill switch" in reason


@pytest.mark.parametrize("side", [Side.BUY, Side.SELL])
def test_exit_passes_with_the_kill_switch_on(contract: OptionContract, side: Side) -> None:
    assert gate(kill_switch=True).check(request(1, is_exit=True, side=side), contract, price=1.0) is None


def test_exit_passes_above_every_limit(contract: OptionContract) -> None:
    strict = gate(max_order_lots=1, max_order_value=1, kill_switch=True)
    assert strict.check(request(500, is_exit=True), contract, price=5_000.0) is None


def test_the_same_order_not_marked_as_exit_is_blocked(contract: OptionContract) -> None:
    strict = gate(max_order_lots=1, max_order_value=1, kill_switch=True)
    assert strict.check(request(500, is_exit=False), contract, price=5_000.0) is not None


def test_update_replaces_the_limits(contract: OptionContract) -> None:
    risk = gate(max_order_lots=10)
    assert risk.check(request(20), contract, price=1.0) is not None
    risk.update(RiskConfig(max_order_lots=25))
    assert risk.check(request(20), contract, price=1.0) is None
    assert risk.check(request(26), contract, price=1.0) == "26 lots exceeds max_order_lots 25"


def test_update_can_turn_the_kill_switch_on_and_off(contract: OptionContract) -> None:
    risk = gate()
    risk.update(RiskConfig(kill_switch=True))
    assert risk.check(request(1), contract, price=1.0) is not None
    risk.update(RiskConfig(kill_switch=False))
    assert risk.check(request(1), contract, price=1.0) is None
