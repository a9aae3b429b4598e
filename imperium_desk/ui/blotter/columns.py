"""The blotter's columns: what a parent row and a child row show in each, how wide it starts, and which cells are
coloured. No Qt here (tested in tests/unit); the model turns `tone` colours into brushes.

Parent and child rows share columns where the meaning matches (qty under qty, route under algo...).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from imperium_desk.domain.enums import ParentStatus
from imperium_desk.ui import palette
from imperium_desk.ui.blotter.book import ChildState, ChildStatus, ParentState
from imperium_desk.ui.protection_text import exit_label

Item = ParentState | ChildState

STATUS_TONES: Final[dict[ParentStatus | ChildStatus, str]] = {
    ParentStatus.COMPLETE: palette.GOOD, ChildStatus.FILLED: palette.GOOD,
    ParentStatus.REJECTED: palette.ERROR, ParentStatus.FAILED: palette.ERROR, ChildStatus.ERROR: palette.ERROR,
    ChildStatus.REJECTED: palette.ERROR,
    ParentStatus.PARTIALLY_FILLED: palette.WARN, ChildStatus.PARTIAL: palette.WARN,
    ParentStatus.CANCELLED: palette.WARN, ChildStatus.CANCELLED: palette.WARN,
}
SIDE_TONES: Final = {"buy": palette.BUY, "sell": palette.SELL}


def _num(value: float | None, digits: int = 2) -> str:
    return "" if value is None else f"{value:,.{digits}f}"


def _child_error(c: ChildState) -> str:
    if c.error_bucket is None:
        return ""
    return f"{c.error_bucket} #{c.attempt}" if c.attempt is not None else c.error_bucket


def _source(p: ParentState) -> str:
    # An exit the desk sent itself says why ("stop-loss exit") rather than which part of the desk sent it.
    return p.source if p.exit_reason is None else exit_label(p.exit_reason)


def _source_tone(item: Item) -> str | None:
    return palette.NOTICE if isinstance(item, ParentState) and item.exit_reason is not None else None


def _status_tone(item: Item) -> str | None:
    return None if item.status is None else STATUS_TONES.get(item.status)


def _side_tone(item: Item) -> str | None:
    return SIDE_TONES.get(item.side) if isinstance(item, ParentState) else None  # children show no side


@dataclass(frozen=True, slots=True)
class Column:
    """One blotter column: `key` finds it, `title` heads it, `width` is its starting width in pixels; `parent` and
    `child` give a row's text, `tone` its text colour (a palette hex, None for the theme's). `numeric` columns
    align right; a `tooltip` column repeats its text as the tooltip (long reasons)."""

    key: str
    title: str
    width: int
    parent: Callable[[ParentState], str]
    child: Callable[[ChildState], str]
    numeric: bool = False
    tone: Callable[[Item], str | None] | None = None
    tooltip: bool = False

    def text(self, item: Item) -> str:
        return self.parent(item) if isinstance(item, ParentState) else self.child(item)

    def colour(self, item: Item) -> str | None:
        return None if self.tone is None else self.tone(item)


COLUMNS: Final[tuple[Column, ...]] = (
    Column("parent", "Parent / #", 110, lambda p: p.parent_id,
           lambda c: f"#{c.index}" if c.index is not None else c.tag),
    Column("symbol", "Symbol / order", 190, lambda p: p.symbol, lambda c: c.order_id or ""),
    Column("side", "Side", 50, lambda p: p.side.upper(), lambda c: "", tone=_side_tone),
    Column("algo", "Algo / route", 80, lambda p: p.algo, lambda c: c.route),
    Column("source", "Source", 120, _source, lambda c: "", tone=_source_tone),
    Column("qty", "Qty", 70, lambda p: str(p.qty) if p.qty else "", lambda c: str(c.qty), numeric=True),
    Column("filled", "Filled", 70, lambda p: str(p.filled_qty), lambda c: str(c.filled_qty), numeric=True),
    Column("avg_price", "Avg px", 80, lambda p: _num(p.avg_price), lambda c: _num(c.avg_price), numeric=True),
    Column("status", "Status", 110, lambda p: p.status_text, lambda c: c.status.value, tone=_status_tone),
    Column("slippage", "Slip bps", 70, lambda p: _num(p.slippage_bps), lambda c: _num(c.slippage_bps),
           numeric=True),
    Column("latency", "Latency ms", 80, lambda p: _num(p.avg_latency_ms, 1), lambda c: _num(c.latency_ms, 1),
           numeric=True),
    Column("errors", "Errors", 150, lambda p: p.errors_text, _child_error),
    Column("reason", "Reason", 260, lambda p: p.reason, lambda c: c.error, tooltip=True),
)
_INDEX: Final = {column.key: i for i, column in enumerate(COLUMNS)}


def column_index(key: str) -> int:
    """The position of the column `key` (KeyError for a key no column has)."""
    return _INDEX[key]
