"""The blotter's plain state (`BlotterBook`) and its columns, without Qt: records in the DESIGN §5 shape a child
writes, parents started and finished as the desk reports them, and the history cap's bookkeeping."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest

from imperium_desk.desk import ParentFinished, ParentStarted
from imperium_desk.domain.enums import Algo, ParentStatus, Side
from imperium_desk.domain.protection import ExitReason
from imperium_desk.execution.request import ExecutionRequest, ParentResult, RequestMetadata
from imperium_desk.ui import palette
from imperium_desk.ui.blotter.book import BlotterBook, ChildStatus, ParentState
from imperium_desk.ui.blotter.columns import COLUMNS, column_index

SYMBOL = "NIFTY24DEC24000CE"


def child_record(event: str, parent_id: str = "P1", tag: str | None = "P1C0", **fields: Any) -> dict[str, Any]:
    return {"event": event, "parent_id": parent_id, "client_tag": tag, "order_id": None, "asset": SYMBOL,
            "underlying": "NIFTY", "side": "buy", "qty": 75, "execution_algo": "IMMEDIATE", "child_index": 0,
            "children": 1, "route": "take", **fields}


def fill(qty: int, price: float, bps: float, *, event: str = "fill", **fields: Any) -> dict[str, Any]:
    return child_record(event, qty=qty, executed_price=price, slippage_bps=bps, **fields)


def started(book: BlotterBook, parent_id: str = "P1", *, algo: Algo | None = None) -> None:
    request = ExecutionRequest(symbol=SYMBOL, side=Side.SELL, quantity=150, algo=algo,
                               metadata=RequestMetadata(source="ladder"))
    book.started(ParentStarted(parent_id, request))


def finished(book: BlotterBook, parent_id: str = "P1", status: ParentStatus = ParentStatus.COMPLETE,
             *, filled_qty: int = 150, average_price: float = 101.0) -> None:
    book.finished(ParentFinished(ParentResult(parent_id, SYMBOL, Side.SELL, 150, status, filled_qty, average_price)))


def text(key: str, item: Any) -> str:
    return COLUMNS[column_index(key)].text(item)


def test_importing_the_book_and_its_columns_loads_no_qt() -> None:
    probe = ("import sys, imperium_desk.ui.blotter.book, imperium_desk.ui.blotter.columns, imperium_desk.ui.palette; "
             "print(sorted(m for m in sys.modules if m.split('.')[0] in {'PySide6', 'shiboken6', 'pyqtgraph'}))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_a_started_parent_takes_its_fields_from_the_request_and_works_until_it_finishes() -> None:
    book = BlotterBook(default_algo="IS")
    started(book)
    [parent] = book.parents.values()
    assert (parent.symbol, parent.side, parent.algo, parent.source, parent.qty) == (SYMBOL, "sell", "IS", "ladder", 150)
    assert parent.working and parent.status_text == "working"
    finished(book)
    assert parent.status is ParentStatus.COMPLETE and not parent.working
    assert parent.filled_qty == 150 and parent.avg_price == 101.0


def test_fills_are_summed_into_quantity_weighted_price_and_slippage() -> None:
    book = BlotterBook("IMMEDIATE")
    book.record(child_record("placed"))
    book.record(fill(25, 100.0, 2.0, event="partial_fill"))
    book.record(fill(50, 103.0, 8.0))
    parent = book.parents["P1"]
    [child] = parent.children
    assert child.status is ChildStatus.FILLED and child.filled_qty == 75 and parent.filled_qty == 75
    assert child.avg_price == pytest.approx((25 * 100.0 + 50 * 103.0) / 75)
    assert parent.slippage_bps == pytest.approx((25 * 2.0 + 50 * 8.0) / 75)


def test_a_partial_fill_leaves_the_child_partial() -> None:
    book = BlotterBook("IMMEDIATE")
    book.record(child_record("placed"))
    book.record(fill(25, 100.0, 2.0, event="partial_fill"))
    assert book.parents["P1"].children[0].status is ChildStatus.PARTIAL


def test_errors_and_retries_are_summed_on_the_parent_and_an_ack_clears_the_childs_error() -> None:
    book = BlotterBook("IMMEDIATE")
    book.record(child_record("placed"))
    for attempt in (1, 2):
        book.record(child_record("error", error_bucket="throttle", error="429", attempt=attempt))
        book.record(child_record("retry", error_bucket="throttle", attempt=attempt))
    book.record(child_record("ack", order_id="42", latency_ms=7.5))
    parent = book.parents["P1"]
    [child] = parent.children
    assert child.status is ChildStatus.ACKED and child.order_id == "42" and child.latency_ms == 7.5
    assert (parent.errors, parent.retries) == (2, 2)
    assert text("errors", parent) == "2 err (throttle) / 2 retries"
    assert text("errors", child) == "throttle #2"


def test_a_late_error_does_not_overwrite_a_fill() -> None:
    book = BlotterBook("IMMEDIATE")
    book.record(child_record("placed"))
    book.record(fill(75, 100.0, 1.0))
    book.record(child_record("error", error_bucket="network", attempt=1))
    assert book.parents["P1"].children[0].status is ChildStatus.FILLED


def test_a_risk_gate_rejection_before_any_child_rejects_the_parent_with_its_reason() -> None:
    book = BlotterBook("IMMEDIATE")
    book.record(child_record("reject", tag=None, error="kill switch is on", error_bucket="risk"))
    parent = book.parents["P1"]
    assert parent.status is ParentStatus.REJECTED and parent.reason == "kill switch is on"
    assert parent.children == [] and parent.errors == 1
    assert COLUMNS[column_index("status")].colour(parent) == palette.ERROR


def test_records_about_the_desk_rather_than_an_order_are_ignored() -> None:
    book = BlotterBook("IMMEDIATE")
    book.record({"event": "drill_start", "parent_id": None})
    assert book.parents == {} and book.take_new() == []


def test_take_new_and_take_dirty_hand_each_change_over_once() -> None:
    book = BlotterBook("IMMEDIATE")
    started(book, "P1")
    started(book, "P2")
    assert [p.parent_id for p in book.take_new()] == ["P1", "P2"]
    assert [p.parent_id for p in book.take_dirty()] == ["P1", "P2"]
    assert book.take_new() == [] and book.take_dirty() == []
    finished(book, "P2")
    assert book.take_new() == [] and [p.parent_id for p in book.take_dirty()] == ["P2"]


def test_only_the_oldest_finished_parents_beyond_the_cap_are_evictable() -> None:
    book = BlotterBook("IMMEDIATE")
    for parent_id in ("P1", "P2", "P3", "P4"):
        started(book, parent_id)
    finished(book, "P2")
    finished(book, "P3")
    finished(book, "P4")
    assert [p.parent_id for p in book.evictable(2)] == ["P2", "P3"]  # P1 works, so it stays
    assert book.evictable(4) == []


def test_a_forgotten_parent_is_not_brought_back_by_a_late_record() -> None:
    book = BlotterBook("IMMEDIATE")
    started(book)
    finished(book)
    book.forget(book.parents["P1"])
    book.record(child_record("ack", order_id="42"))
    assert book.parents == {} and book.take_new() == [] and book.take_dirty() == []


def test_a_parent_side_is_coloured_as_a_buy_or_a_sell_and_a_child_side_is_not() -> None:
    side = COLUMNS[column_index("side")]
    buy, sell = ParentState(1, "P1", side="buy"), ParentState(2, "P2", side="sell")
    book = BlotterBook("IMMEDIATE")
    book.record(child_record("placed"))
    child = book.parents["P1"].children[0]
    assert (side.colour(buy), side.colour(sell), side.colour(child)) == (palette.BUY, palette.SELL, None)
    assert side.text(buy) == "BUY"


def test_every_column_key_is_unique_and_found() -> None:
    keys = [column.key for column in COLUMNS]
    assert len(set(keys)) == len(keys)
    assert [column_index(key) for key in keys] == list(range(len(COLUMNS)))
    with pytest.raises(KeyError):
        column_index("no such column")


@pytest.mark.parametrize(
    ("reason", "shown"),
    [
        (ExitReason.STOP_LOSS, "stop-loss exit"),
        (ExitReason.TARGET, "target exit"),
        (ExitReason.TRAILING_STOP, "trailing stop exit"),
        (ExitReason.DAILY_LOSS_LIMIT, "daily loss limit exit"),
        (ExitReason.PROFIT_LOCK, "profit lock exit"),
    ],
)
def test_an_exit_the_desk_sent_itself_shows_its_reason_as_its_source(reason: ExitReason, shown: str) -> None:
    book = BlotterBook("IMMEDIATE")
    request = ExecutionRequest(symbol=SYMBOL, side=Side.SELL, quantity=150,
                               metadata=RequestMetadata(source="protection", is_exit=True, exit_reason=reason))
    book.started(ParentStarted("P1", request))
    parent = book.parents["P1"]
    assert parent.exit_reason is reason and parent.snapshot()["exit_reason"] == reason.value
    assert COLUMNS[column_index("source")].text(parent) == shown
    assert COLUMNS[column_index("source")].colour(parent) == palette.NOTICE


def test_an_order_the_trader_sent_shows_its_source_uncoloured() -> None:
    book = BlotterBook("IMMEDIATE")
    started(book)
    parent = book.parents["P1"]
    assert parent.exit_reason is None
    assert COLUMNS[column_index("source")].text(parent) == "ladder"
    assert COLUMNS[column_index("source")].colour(parent) is None
