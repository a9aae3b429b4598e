"""Strike ladder: the option chain around ATM as one table model and view, where a click starts a single-strike order.

One row per strike, lowest first, ATM in the middle; calls on the left of the strike column, puts on the right.
Ticks only store the new quotes and mark the cells whose numbers changed; a ~10 Hz timer turns those marks into
`dataChanged` for just those cells, so the view keeps its selection and scroll. When the spot drifts to a new ATM
strike the rows shift (removed at one end, inserted at the other) instead of resetting the model.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal, override

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import QBrush, QColor, QFont, QKeyEvent, QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QSpinBox,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from imperium_desk.desk import ChainRow, Desk
from imperium_desk.domain.enums import OptionRight, Side
from imperium_desk.market.port import Quote
from imperium_desk.ui import palette
from imperium_desk.ui.bridge import DeskBridge
from imperium_desk.ui.paint_turns import PaintTurns
from imperium_desk.ui.text_delegate import CellLook, TextCellDelegate
from imperium_desk.ui.widgets import SteadyLabel

# The tones cells name (the ATM row, the strike column, buy/sell touch text), in the palette's colours.
COLOURS: dict[str, str] = {
    "atm_background": palette.ATM_ROW,
    "strike_background": palette.STRIKE_COLUMN,
    "buy_text": palette.BUY,
    "sell_text": palette.SELL,
}

FLUSH_INTERVAL_MS = 100  # ticks are coalesced into one repaint pass per interval (~10 Hz)
MIN_STRIKES_EACH_SIDE = 1
MAX_STRIKES_EACH_SIDE = 30

RAW_ROLE = int(Qt.ItemDataRole.UserRole)  # the cell's number (float), for code and tests
ATM_ROLE = int(Qt.ItemDataRole.UserRole) + 1  # True on the ATM row

CellField = Literal["oi", "bid", "ask", "ltp", "strike"]
_Index = QModelIndex | QPersistentModelIndex
_ROOT = QModelIndex()
_CENTRE = Qt.AlignmentFlag.AlignCenter.value
_NUMBER = (Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter).value


@dataclass(frozen=True, slots=True)
class LadderColumn:
    """One ladder column: its title, the option right it shows (None for the strike column) and the quote field."""

    title: str
    right: OptionRight | None  # None for the strike column
    field: CellField


# The one place that says which column shows what.
COLUMNS: tuple[LadderColumn, ...] = (
    LadderColumn("CE OI", OptionRight.CE, "oi"),
    LadderColumn("CE bid", OptionRight.CE, "bid"),
    LadderColumn("CE ask", OptionRight.CE, "ask"),
    LadderColumn("CE LTP", OptionRight.CE, "ltp"),
    LadderColumn("STRIKE", None, "strike"),
    LadderColumn("PE LTP", OptionRight.PE, "ltp"),
    LadderColumn("PE bid", OptionRight.PE, "bid"),
    LadderColumn("PE ask", OptionRight.PE, "ask"),
    LadderColumn("PE OI", OptionRight.PE, "oi"),
)
STRIKE_COLUMN = next(i for i, c in enumerate(COLUMNS) if c.field == "strike")
# right -> [(quote field, column)], to find the cells a tick touched
_SIDE_CELLS: dict[OptionRight, list[tuple[str, int]]] = {
    right: [(c.field, i) for i, c in enumerate(COLUMNS) if c.right is right] for right in OptionRight
}
# Which order a price cell starts (at the touch that side trades against): the trader lifts the ask, hits the
# bid; LTP means buy.
_CLICK_ACTIONS: dict[CellField, Side] = {"ask": Side.BUY, "bid": Side.SELL, "ltp": Side.BUY}


def column_of(right: OptionRight, field: CellField) -> int:
    """The column showing `field` of the `right` side (e.g. the CE ask column)."""
    for i, c in enumerate(COLUMNS):
        if c.right is right and c.field == field:
            return i
    raise KeyError(f"no {right} {field} column")


@dataclass(frozen=True, slots=True)
class LadderClick:
    """A price cell the trader clicked (or pressed Enter on): what to trade, which way, at which touch."""

    symbol: str
    underlying: str
    expiry: date
    strike: float
    right: OptionRight
    side: Side
    price: float


@dataclass(slots=True)
class _LadderRow:
    strike: float
    atm: bool
    quotes: dict[OptionRight, Quote]

    @classmethod
    def of(cls, row: ChainRow) -> _LadderRow:
        return cls(row.strike, row.atm, {OptionRight.CE: row.call, OptionRight.PE: row.put})


def format_strike(strike: float) -> str:
    return f"{strike:.0f}" if strike.is_integer() else f"{strike:.2f}"


def _format_cell(field: CellField, value: float) -> str:
    if field == "oi":
        return f"{int(value):,}"
    if field == "strike":
        return format_strike(value)
    return f"{value:.2f}"


def _runs(columns: set[int]) -> list[tuple[int, int]]:
    """Contiguous (first, last) column runs, so one dataChanged covers neighbouring cells only."""
    out: list[tuple[int, int]] = []
    for c in sorted(columns):
        if out and out[-1][1] == c - 1:
            out[-1] = (out[-1][0], c)
        else:
            out.append((c, c))
    return out


class StrikeLadderModel(QAbstractTableModel):
    """The chain around ATM: one row per strike; CE | STRIKE | PE columns as `COLUMNS` says."""

    recentred = Signal()  # rows shifted to follow a new ATM strike (or the width changed)
    refreshed = Signal()  # one coalesced batch of tick updates reached the view

    def __init__(self, desk: Desk, bridge: DeskBridge, parent: QObject | None = None,
                 turns: PaintTurns | None = None) -> None:
        super().__init__(parent)
        self.desk = desk
        self._rows: list[_LadderRow] = []
        self._index: dict[str, tuple[int, OptionRight]] = {}  # symbol -> (row, side)
        self._dirty: dict[int, set[int]] = {}  # row -> columns whose text changed since the last flush
        self._underlying: str | None = None
        self._expiry: date | None = None
        self._width = MIN_STRIKES_EACH_SIDE
        self._atm_strike: float | None = None
        self._bold = QFont()
        self._bold.setBold(True)
        self._brushes = {name: QBrush(QColor(colour)) for name, colour in COLOURS.items()}
        self._colours = {name: brush.color() for name, brush in self._brushes.items()}
        self._flush_timer = QTimer(self)
        self._flush_timer.setSingleShot(True)
        self._flush_timer.setInterval(FLUSH_INTERVAL_MS)
        self._flush_timer.timeout.connect(self.flush if turns is None else lambda: turns.run(self.flush))
        bridge.ticks.connect(self.on_ticks)

    # -- what it shows -------------------------------------------------------------------------------------
    @property
    def underlying(self) -> str | None:
        return self._underlying

    @property
    def expiry(self) -> date | None:
        return self._expiry

    @property
    def strikes_each_side(self) -> int:
        return self._width

    @property
    def atm_strike(self) -> float | None:
        return self._atm_strike

    @property
    def atm_row(self) -> int | None:
        return next((i for i, r in enumerate(self._rows) if r.atm), None)

    def strike_at(self, row: int) -> float:
        return self._rows[row].strike

    def row_of_strike(self, strike: float) -> int | None:
        return next((i for i, r in enumerate(self._rows) if r.strike == strike), None)

    def quote_at(self, row: int, right: OptionRight) -> Quote:
        return self._rows[row].quotes[right]

    def click_at(self, index: _Index) -> LadderClick | None:
        """The order a click on this cell starts, or None for OI and strike cells."""
        if not index.isValid():
            return None
        side = _CLICK_ACTIONS.get(COLUMNS[index.column()].field)
        return None if side is None else self.order_at(index, side)

    def order_at(self, index: _Index, side: Side) -> LadderClick | None:
        """A `side` order for the option of this cell (any CE/PE cell, OI included) at the touch it trades
        against (ask to buy, bid to sell); None for the strike column."""
        column = COLUMNS[index.column()] if index.isValid() else None
        if column is None or column.right is None or self._underlying is None or self._expiry is None:
            return None
        row = self._rows[index.row()]
        quote = row.quotes[column.right]
        price = quote.ask if side is Side.BUY else quote.bid
        return LadderClick(quote.symbol, self._underlying, self._expiry, row.strike, column.right, side, price)

    # -- building rows -------------------------------------------------------------------------------------
    def set_chain(self, underlying: str, expiry: date, strikes_each_side: int) -> None:
        """Show a new underlying/expiry: a full reset (selection and scroll start over). The only other reset is a
        spot jump so large that no row of the old ladder survives."""
        self._underlying, self._expiry, self._width = underlying, expiry, strikes_each_side
        self._reset_rows(self._fetch())

    def set_strikes_each_side(self, n: int) -> None:
        """Widen or narrow the ladder around ATM, keeping the rows (and selection) that stay."""
        self._width = n
        if self._underlying is not None:
            self._sync_rows(self._fetch())
            self.recentred.emit()

    def recentre(self) -> None:
        """Follow the ATM strike: shift rows in/out at the ends; rows that stay keep their selection."""
        if self._underlying is not None:
            self._sync_rows(self._fetch())
            self.recentred.emit()

    def _fetch(self) -> list[ChainRow]:
        assert self._underlying is not None and self._expiry is not None
        return self.desk.chain(self._underlying, self._expiry, self._width)

    def _reset_rows(self, chain: list[ChainRow]) -> None:
        self.beginResetModel()
        self._rows = [_LadderRow.of(r) for r in chain]
        self._after_rows_changed(chain)
        self.endResetModel()

    def _sync_rows(self, chain: list[ChainRow]) -> None:
        old = [r.strike for r in self._rows]
        new = [r.strike for r in chain]
        kept = set(old)
        common = [s for s in new if s in kept]
        if not common:
            self._reset_rows(chain)
            return
        i0, j0, k = old.index(common[0]), new.index(common[0]), len(common)
        if old[i0 : i0 + k] != common or new[j0 : j0 + k] != common:  # cannot happen on one strike grid
            self._reset_rows(chain)
            return
        if i0:
            self.beginRemoveRows(_ROOT, 0, i0 - 1)
            del self._rows[:i0]
            self.endRemoveRows()
        if len(self._rows) > k:
            self.beginRemoveRows(_ROOT, k, len(self._rows) - 1)
            del self._rows[k:]
            self.endRemoveRows()
        for row, fresh in zip(self._rows, chain[j0 : j0 + k], strict=True):
            row.atm = fresh.atm
            row.quotes = {OptionRight.CE: fresh.call, OptionRight.PE: fresh.put}
        if j0:
            self.beginInsertRows(_ROOT, 0, j0 - 1)
            self._rows[0:0] = [_LadderRow.of(r) for r in chain[:j0]]
            self.endInsertRows()
        tail = chain[j0 + k :]
        if tail:
            self.beginInsertRows(_ROOT, len(self._rows), len(self._rows) + len(tail) - 1)
            self._rows.extend(_LadderRow.of(r) for r in tail)
            self.endInsertRows()
        self._after_rows_changed(chain)
        # The rows that stayed got fresh quotes and maybe a new ATM flag: one repaint of that block.
        self.dataChanged.emit(self.index(j0, 0), self.index(j0 + k - 1, len(COLUMNS) - 1))

    def _after_rows_changed(self, chain: list[ChainRow]) -> None:
        self._index = {}
        for i, row in enumerate(self._rows):
            for right, quote in row.quotes.items():
                self._index[quote.symbol] = (i, right)
        self._dirty.clear()  # row numbers moved; the rows that stay are repainted whole
        # The ATM the chain was built around (its row may be missing only if strikes near zero were cut).
        assert self._underlying is not None
        self._atm_strike = next((r.strike for r in chain if r.atm), self.desk.atm_strike(self._underlying))

    # -- ticks ---------------------------------------------------------------------------------------------
    def on_ticks(self, quotes: Sequence[Quote]) -> None:
        """Store the new quotes of our contracts and mark the cells whose numbers changed (no repaint yet)."""
        ours = False
        for quote in quotes:
            where = self._index.get(quote.symbol)
            if where is None:
                continue
            ours = True
            row_no, right = where
            row = self._rows[row_no]
            old = row.quotes[right]
            row.quotes[right] = quote
            changed = {col for field, col in _SIDE_CELLS[right] if getattr(old, field) != getattr(quote, field)}
            if changed:
                self._dirty.setdefault(row_no, set()).update(changed)
        if ours and not self._flush_timer.isActive():
            self._flush_timer.start()

    def flush(self) -> None:
        """Repaint the marked cells, or re-centre if the spot has moved to a new ATM strike."""
        if self._underlying is not None and self.desk.atm_strike(self._underlying) != self._atm_strike:
            self.recentre()
        else:
            dirty, self._dirty = self._dirty, {}
            for row_no in sorted(dirty):
                for first, last in _runs(dirty[row_no]):
                    self.dataChanged.emit(self.index(row_no, first), self.index(row_no, last))
        self.refreshed.emit()

    # -- QAbstractTableModel -------------------------------------------------------------------------------
    @override
    def rowCount(self, parent: _Index = _ROOT) -> int:
        return 0 if parent.isValid() else len(self._rows)

    @override
    def columnCount(self, parent: _Index = _ROOT) -> int:
        return 0 if parent.isValid() else len(COLUMNS)

    @override
    def flags(self, index: _Index) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable

    @override
    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation is not Qt.Orientation.Horizontal or not 0 <= section < len(COLUMNS):
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section].title
        if role == Qt.ItemDataRole.TextAlignmentRole:
            return Qt.AlignmentFlag.AlignCenter
        return None

    @override
    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._rows):
            return None
        row = self._rows[index.row()]
        column = COLUMNS[index.column()]
        if role == Qt.ItemDataRole.DisplayRole:
            return _format_cell(column.field, self._value(row, column))
        if role == RAW_ROLE:
            return self._value(row, column)
        if role == ATM_ROLE:
            return row.atm
        if role == Qt.ItemDataRole.TextAlignmentRole:
            if column.right is None:
                return Qt.AlignmentFlag.AlignCenter
            return Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
        if role == Qt.ItemDataRole.FontRole:
            return self._bold if row.atm else None
        if role == Qt.ItemDataRole.BackgroundRole:
            background = _background(row, column)
            return self._brushes[background] if background is not None else None
        if role == Qt.ItemDataRole.ForegroundRole:
            foreground = _foreground(column.field)
            return self._brushes[foreground] if foreground is not None else None
        if role == Qt.ItemDataRole.ToolTipRole:
            if column.right is None:
                return f"{row.quotes[OptionRight.CE].symbol} / {row.quotes[OptionRight.PE].symbol}"
            return row.quotes[column.right].symbol
        return None

    def cell(self, index: _Index) -> CellLook | None:
        """The cell as `TextCellDelegate` paints it: the same text, alignment, colours and font as `data()`."""
        row_no = index.row()
        if not 0 <= row_no < len(self._rows):
            return None
        row = self._rows[row_no]
        column = COLUMNS[index.column()]
        foreground, background = _foreground(column.field), _background(row, column)
        return (
            _format_cell(column.field, self._value(row, column)),
            _CENTRE if column.right is None else _NUMBER,
            self._colours[foreground] if foreground is not None else None,
            self._brushes[background] if background is not None else None,
            row.atm,
        )

    @staticmethod
    def _value(row: _LadderRow, column: LadderColumn) -> float:
        if column.right is None:
            return row.strike
        return float(getattr(row.quotes[column.right], column.field))


def _foreground(field: CellField) -> str | None:
    """The colour (a key of COLOURS) of a cell's text: the ask buys, the bid sells."""
    return "buy_text" if field == "ask" else ("sell_text" if field == "bid" else None)


def _background(row: _LadderRow, column: LadderColumn) -> str | None:
    """The colour (a key of COLOURS) behind a cell: the ATM row, else the strike column."""
    if row.atm:
        return "atm_background"
    return "strike_background" if column.right is None else None


class LadderView(QTableView):
    """The ladder's table; Enter/Return on the selected cell is a keyboard click."""

    enter_pressed = Signal(QModelIndex)

    @override
    def keyPressEvent(self, event: QKeyEvent) -> None:
        current = self.currentIndex()
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and current.isValid():
            selection = self.selectionModel()
            if selection is not None and selection.isSelected(current):
                self.enter_pressed.emit(current)
                event.accept()
                return
        super().keyPressEvent(event)


class StrikeLadder(QWidget):
    """The strike ladder panel: a toolbar (underlying/spot/expiry, strikes each side) over the ladder table."""

    price_clicked = Signal(object)  # LadderClick

    def __init__(self, desk: Desk, bridge: DeskBridge, parent: QWidget | None = None,
                 turns: PaintTurns | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("strikeLadderPanel")
        self.desk = desk
        self.model = StrikeLadderModel(desk, bridge, self, turns)
        self._centre_on_show = True

        self.info = SteadyLabel(self)
        self.info.setObjectName("ladderInfo")
        self.strikes_spin = QSpinBox(self)
        self.strikes_spin.setObjectName("ladderStrikes")
        self.strikes_spin.setRange(MIN_STRIKES_EACH_SIDE, MAX_STRIKES_EACH_SIDE)
        self.strikes_spin.setPrefix("± ")
        self.strikes_spin.setToolTip("Strikes each side of ATM")
        self.strikes_spin.setKeyboardTracking(False)  # typing "12" rebuilds once, not for "1" then "12"
        self.strikes_spin.setValue(
            min(max(desk.config.market.strikes_each_side, MIN_STRIKES_EACH_SIDE), MAX_STRIKES_EACH_SIDE)
        )
        strikes_label = QLabel("Strikes", self)
        strikes_label.setBuddy(self.strikes_spin)

        self.view = LadderView(self)
        self.view.setObjectName("strikeLadder")
        self.view.setModel(self.model)
        self.view.setItemDelegate(TextCellDelegate(self.view))  # text cells only: a repaint at half the cost
        self.view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectItems)
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.view.setWordWrap(False)
        self.view.setCornerButtonEnabled(False)
        self.view.verticalHeader().setVisible(False)
        self.view.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)

        toolbar = QHBoxLayout()
        toolbar.setContentsMargins(0, 0, 0, 0)
        toolbar.addWidget(self.info, 1)
        toolbar.addWidget(strikes_label)
        toolbar.addWidget(self.strikes_spin)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(toolbar)
        layout.addWidget(self.view, 1)

        self.strikes_spin.valueChanged.connect(self._on_strikes_changed)
        self.view.clicked.connect(self._emit_click)
        self.view.enter_pressed.connect(self._emit_click)
        self.model.recentred.connect(self._keep_atm_in_view)
        self.model.refreshed.connect(self._update_info)

        if desk.underlyings:  # usable on its own: the first underlying, nearest expiry
            first = desk.underlyings[0]
            self.set_instrument(first, desk.expiries(first, 1)[0])

    # -- public --------------------------------------------------------------------------------------------
    def set_instrument(self, underlying: str, expiry: date) -> None:
        self.model.set_chain(underlying, expiry, self.strikes_spin.value())
        self._update_info()
        self.scroll_to_atm()

    def set_strikes_each_side(self, n: int) -> None:
        self.strikes_spin.setValue(n)  # valueChanged rebuilds (clamped to the spin's range)

    def selected_click(self, side: Side) -> LadderClick | None:
        """A `side` order for the option under the selected cell (keyboard B/S tickets); None without one."""
        current = self.view.currentIndex()
        selection = self.view.selectionModel()
        if not current.isValid() or selection is None or not selection.isSelected(current):
            return None
        return self.model.order_at(current, side)

    def scroll_to_atm(self) -> None:
        row = self.model.atm_row
        if row is None:
            return
        if not self.view.isVisible():  # no geometry yet: centre when first shown
            self._centre_on_show = True
            return
        self.view.scrollTo(self.model.index(row, STRIKE_COLUMN), QAbstractItemView.ScrollHint.PositionAtCenter)

    # -- internals -----------------------------------------------------------------------------------------
    @override
    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if self._centre_on_show:
            self._centre_on_show = False
            QTimer.singleShot(0, self.scroll_to_atm)  # after the layout has sized the view

    def _on_strikes_changed(self, n: int) -> None:
        self.model.set_strikes_each_side(n)
        self.scroll_to_atm()

    def _emit_click(self, index: QModelIndex) -> None:
        click = self.model.click_at(index)
        if click is not None:
            self.price_clicked.emit(click)

    def _keep_atm_in_view(self) -> None:
        row = self.model.atm_row
        if row is not None and self.view.isVisible():
            self.view.scrollTo(self.model.index(row, STRIKE_COLUMN), QAbstractItemView.ScrollHint.EnsureVisible)
        self._update_info()

    def _update_info(self) -> None:
        model = self.model
        if model.underlying is None or model.expiry is None:
            self.info.setText("")
            return
        atm = model.atm_strike
        self.info.setText(
            f"{model.underlying}   spot {self.desk.spot(model.underlying):,.2f}   "
            f"ATM {format_strike(atm) if atm is not None else '-'}   exp {model.expiry:%d %b %Y}"
        )
