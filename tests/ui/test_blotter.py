"""The orders blotter follows real parents on a running desk: rows, children, final state, no resets, a cap."""

from __future__ import annotations

from typing import Any

import pytest
from PySide6.QtCore import Qt
from pytestqt.modeltest import ModelTester
from pytestqt.qtbot import QtBot

from imperium_desk.desk import Desk
from imperium_desk.domain.enums import Algo, OptionRight, Side
from imperium_desk.domain.protection import ExitReason
from imperium_desk.execution.request import ExecutionRequest, RequestMetadata
from imperium_desk.ui.blotter.columns import column_index
from imperium_desk.ui.blotter.widget import OrdersBlotter
from imperium_desk.ui.bridge import DeskBridge
from imperium_desk.ui.paint_turns import PaintTurns

STATUS_COLUMN = column_index("status")
SLIP_COLUMN = column_index("slippage")
FILLED_COLUMN = column_index("filled")


def atm_call(desk: Desk) -> str:
    return desk.contract("NIFTY", desk.expiries("NIFTY", 1)[0], desk.atm_strike("NIFTY"), OptionRight.CE).symbol


def ladder_buy(desk: Desk, lots: int = 1, **fields: Any) -> ExecutionRequest:
    return ExecutionRequest(symbol=atm_call(desk), side=Side.BUY, quantity=lots * desk.lot_size("NIFTY"),
                            metadata=RequestMetadata(source="ladder"), **fields)


def shown_status(blotter: OrdersBlotter, parent_id: str) -> str | None:
    """The status the model shows for a parent once every change so far is published to the view (None before)."""
    index = blotter.model.index_of(parent_id)
    if not index.isValid() or blotter.model.has_pending_changes:
        return None
    return str(blotter.model.data(index.siblingAtColumn(STATUS_COLUMN)))


def visible_parents(blotter: OrdersBlotter) -> list[str]:
    shown = blotter.view.model()
    return [str(shown.data(shown.index(r, 0))) for r in range(shown.rowCount())]


@pytest.fixture
def blotter(qtbot: QtBot, desk: Desk, bridge: DeskBridge) -> OrdersBlotter:
    widget = OrdersBlotter(desk, bridge)
    qtbot.addWidget(widget)
    return widget


def test_a_ladder_order_ends_complete_with_the_fill_records_numbers(
    qtbot: QtBot, desk: Desk, bridge: DeskBridge, blotter: OrdersBlotter
) -> None:
    fills: list[dict[str, Any]] = []
    bridge.record.connect(lambda r: fills.append(r) if r["event"] in {"fill", "partial_fill"} else None)
    parent_id = desk.submit(ladder_buy(desk, lots=2)).parent_id
    qtbot.waitUntil(lambda: shown_status(blotter, parent_id) == "complete", timeout=2000)

    row = blotter.parent_row(parent_id)
    assert row is not None
    mine = [f for f in fills if f["parent_id"] == parent_id]
    qty = sum(f["qty"] for f in mine)
    assert row["source"] == "ladder" and row["side"] == "buy" and row["qty"] == qty
    assert row["filled_qty"] == qty
    assert row["avg_price"] == pytest.approx(sum(f["qty"] * f["executed_price"] for f in mine) / qty)
    assert row["slippage_bps"] == pytest.approx(sum(f["qty"] * f["slippage_bps"] for f in mine) / qty)
    [child] = row["children"]
    assert child["status"] == "filled" and child["order_id"] == mine[0]["order_id"]
    index = blotter.model.index_of(parent_id)
    assert blotter.model.rowCount(index) == 1
    assert blotter.model.data(index.siblingAtColumn(FILLED_COLUMN)) == str(qty)
    assert blotter.model.data(index.siblingAtColumn(SLIP_COLUMN)) == f"{row['slippage_bps']:,.2f}"


@pytest.mark.qt_log_level_fail("WARNING")
def test_a_twap_parent_shows_one_child_row_per_slice(
    qtbot: QtBot, qtmodeltester: ModelTester, desk: Desk, bridge: DeskBridge, blotter: OrdersBlotter
) -> None:
    # Qt's model tester stays attached and warns (a failure under qt_log_level_fail) on any inconsistent signal.
    qtmodeltester.check(blotter.model)  # type: ignore[no-untyped-call]
    fills: list[dict[str, Any]] = []
    bridge.record.connect(lambda r: fills.append(r) if r["event"] in {"fill", "partial_fill"} else None)
    request = ladder_buy(desk, lots=3, algo=Algo.TWAP, max_child_orders=3, horizon_s=0.3, randomize_slices=False)
    parent_id = desk.submit(request).parent_id
    qtbot.waitUntil(lambda: shown_status(blotter, parent_id) == "complete", timeout=2500)

    index = blotter.model.index_of(parent_id)
    assert blotter.model.rowCount(index) == 3
    children = [blotter.model.index(r, 0, index) for r in range(3)]
    assert [blotter.model.data(c) for c in children] == ["#0", "#1", "#2"]
    assert [blotter.model.data(c.siblingAtColumn(STATUS_COLUMN)) for c in children] == ["filled"] * 3
    row = blotter.parent_row(parent_id)
    assert row is not None and row["algo"] == "TWAP"
    qty = sum(f["qty"] for f in fills)
    assert len(fills) >= 3 and row["filled_qty"] == qty
    assert row["slippage_bps"] == pytest.approx(sum(f["qty"] * f["slippage_bps"] for f in fills) / qty)


def test_a_kill_switch_rejection_shows_rejected_with_its_reason(
    qtbot: QtBot, desk: Desk, blotter: OrdersBlotter
) -> None:
    desk.set_kill_switch(True)
    parent_id = desk.submit(ladder_buy(desk)).parent_id
    qtbot.waitUntil(lambda: shown_status(blotter, parent_id) == "rejected", timeout=2000)
    qtbot.waitUntil(lambda: desk.parents_in_flight == 0, timeout=2000)

    row = blotter.parent_row(parent_id)
    assert row is not None and "kill switch" in row["reason"]
    assert row["children"] == [] and row["filled_qty"] == 0
    reason = blotter.model.data(blotter.model.index_of(parent_id).siblingAtColumn(column_index("reason")))
    assert "kill switch" in str(reason)


def test_the_model_is_never_reset_while_parents_arrive(
    qtbot: QtBot, desk: Desk, blotter: OrdersBlotter
) -> None:
    resets: list[None] = []
    blotter.model.modelReset.connect(lambda: resets.append(None))
    assert blotter.view.model() is blotter.model
    inserted: list[int] = []  # top-level rows (a parent's children already known come in with it)
    blotter.model.rowsInserted.connect(
        lambda parent, first, last: None if parent.isValid() else inserted.append(last - first + 1))
    first = desk.submit(ladder_buy(desk)).parent_id
    qtbot.waitUntil(lambda: shown_status(blotter, first) == "complete", timeout=2000)
    more = [desk.submit(ladder_buy(desk)).parent_id for _ in range(3)]
    qtbot.waitUntil(lambda: all(shown_status(blotter, p) == "complete" for p in more), timeout=2000)

    assert resets == []
    assert blotter.model.rowCount() == 4
    assert sum(inserted) == 4  # each parent inserted once
    assert blotter.model.index_of(more[-1]).row() == 0  # newest on top


@pytest.mark.qt_log_level_fail("WARNING")
def test_history_is_capped_at_max_parents(
    qtbot: QtBot, qtmodeltester: ModelTester, desk: Desk, bridge: DeskBridge
) -> None:
    blotter = OrdersBlotter(desk, bridge, max_parents=3)
    qtbot.addWidget(blotter)
    qtmodeltester.check(blotter.model)  # type: ignore[no-untyped-call]
    ids = [desk.submit(ladder_buy(desk)).parent_id for _ in range(5)]
    qtbot.waitUntil(lambda: all(shown_status(blotter, p) == "complete" for p in ids[2:]), timeout=2500)
    qtbot.waitUntil(lambda: blotter.model.rowCount() == 3, timeout=1000)

    assert blotter.parent_row(ids[0]) is None and blotter.parent_row(ids[1]) is None
    shown = [blotter.model.data(blotter.model.index(r, 0)) for r in range(3)]
    assert shown == list(reversed(ids[2:]))


def test_the_done_filter_hides_working_parents(qtbot: QtBot, desk: Desk, blotter: OrdersBlotter) -> None:
    done = desk.submit(ladder_buy(desk)).parent_id
    qtbot.waitUntil(lambda: shown_status(blotter, done) == "complete", timeout=2000)
    request = ladder_buy(desk, lots=2, algo=Algo.TWAP, max_child_orders=2, horizon_s=0.8, randomize_slices=False)
    working = desk.submit(request).parent_id  # its second slice waits 0.4 s
    qtbot.waitUntil(lambda: shown_status(blotter, working) == "working", timeout=1000)

    qtbot.keyClick(blotter.filter, Qt.Key.Key_Down)  # type: ignore[no-untyped-call]
    assert blotter.filter.currentText() == "working" and visible_parents(blotter) == [working]
    qtbot.keyClick(blotter.filter, Qt.Key.Key_Down)  # type: ignore[no-untyped-call]
    assert blotter.filter.currentText() == "done" and visible_parents(blotter) == [done]
    qtbot.keyClick(blotter.filter, Qt.Key.Key_Home)  # type: ignore[no-untyped-call]
    assert blotter.filter.currentText() == "all" and visible_parents(blotter) == [working, done]


def test_with_paint_turns_a_flush_lays_out_at_once_and_repaints_in_the_next_turn(
    qtbot: QtBot, desk: Desk, bridge: DeskBridge
) -> None:
    turns = PaintTurns(spacing_ms=50)
    blotter = OrdersBlotter(desk, bridge, turns=turns)
    qtbot.addWidget(blotter)
    blotter.show()
    after_flush: list[tuple[bool, int]] = []
    blotter.model.flushed.connect(lambda: after_flush.append(
        (blotter.view.updatesEnabled(), turns.waiting)))
    parent_id = desk.submit(ladder_buy(desk)).parent_id
    qtbot.waitUntil(lambda: bool(after_flush), timeout=2000)
    assert after_flush[0] == (False, 1)  # the repaint waits for a turn of its own...
    assert blotter.view.visualRect(blotter.model.index_of(parent_id)).isValid()  # ...the rows are laid out
    qtbot.waitUntil(lambda: blotter.view.updatesEnabled() and turns.waiting == 0, timeout=1000)


def test_an_exit_the_desk_sent_for_a_stop_shows_as_a_stop_loss_exit(
    qtbot: QtBot, desk: Desk, blotter: OrdersBlotter
) -> None:
    entry = desk.submit(ladder_buy(desk)).parent_id
    qtbot.waitUntil(lambda: shown_status(blotter, entry) == "complete", timeout=2000)
    # The exit a triggered stop sends (the protection manager's request), straight to the desk.
    stop_exit = ExecutionRequest(symbol=atm_call(desk), side=Side.SELL, quantity=desk.lot_size("NIFTY"),
                                 metadata=RequestMetadata(source="protection", is_exit=True,
                                                          exit_reason=ExitReason.STOP_LOSS))
    exit_id = desk.submit(stop_exit).parent_id
    qtbot.waitUntil(lambda: shown_status(blotter, exit_id) == "complete", timeout=2000)

    source = column_index("source")
    assert blotter.model.data(blotter.model.index_of(exit_id).siblingAtColumn(source)) == "stop-loss exit"
    assert blotter.model.data(blotter.model.index_of(entry).siblingAtColumn(source)) == "ladder"
    row = blotter.parent_row(exit_id)
    assert row is not None and row["exit_reason"] == "stop_loss" and row["side"] == "sell"
