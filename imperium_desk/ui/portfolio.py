"""Positions and account: what the trader holds and what it costs, from the desk's portfolio events, and how each
position is protected (stop-loss, target, trailing stop), from its protections events.

Portfolio events arrive about once a second (and after fills); rows are updated in place with `dataChanged`,
inserted or removed only when a symbol appears or disappears, never reset. Protections events change the last
column only.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, override

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QSortFilterProxyModel,
    Qt,
)
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import QCheckBox, QGridLayout, QHBoxLayout, QLabel, QTableView, QVBoxLayout, QWidget

from imperium_desk.desk import AccountView, Desk, PortfolioEvent, PositionView
from imperium_desk.desk.events import ProtectionsEvent, ProtectionView
from imperium_desk.ui import palette
from imperium_desk.ui.bridge import DeskBridge
from imperium_desk.ui.day_limit import DayLimitLabel
from imperium_desk.ui.protection_text import shown, view_text, view_tooltip
from imperium_desk.ui.rupees import grouped
from imperium_desk.ui.widgets import SteadyLabel

# The tones P&L figures name, in the palette's colours.
COLOURS: dict[str, str] = {"profit": palette.PROFIT, "loss": palette.LOSS, "flat": palette.MUTED}
_BRUSHES = {name: QBrush(QColor(hex_)) for name, hex_ in COLOURS.items()}
_UNPROTECTED = QBrush(QColor(palette.ERROR))
SORT_ROLE = Qt.ItemDataRole.UserRole  # raw values, so numeric columns sort as numbers
Index = QModelIndex | QPersistentModelIndex
_ROOT = QModelIndex()


def money(value: float) -> str:
    """Rupees with Indian digit grouping (12,34,567.89)."""
    return grouped(value, 2)


def pnl_tone(value: float) -> str | None:
    if value > 0:
        return "profit"
    if value < 0:
        return "loss"
    return None


@dataclass(frozen=True, slots=True)
class PositionColumn:
    """One positions column: its title, the raw value (for sorting), the text, and whether it is P&L-coloured or
    numeric (right-aligned)."""

    title: str
    value: Callable[[PositionView], Any]
    text: Callable[[PositionView], str]
    pnl: bool = False
    numeric: bool = False


POSITION_COLUMNS: tuple[PositionColumn, ...] = (
    PositionColumn("Symbol", lambda p: p.symbol, lambda p: p.symbol),
    PositionColumn("Underlying", lambda p: p.underlying, lambda p: p.underlying),
    PositionColumn("Type", lambda p: p.right.value, lambda p: p.right.value),
    PositionColumn("Net qty", lambda p: p.quantity, lambda p: str(p.quantity), numeric=True),
    PositionColumn("Avg price", lambda p: p.average_price, lambda p: f"{p.average_price:.2f}", numeric=True),
    PositionColumn("LTP", lambda p: p.ltp, lambda p: f"{p.ltp:.2f}", numeric=True),
    PositionColumn("Realised P&L", lambda p: p.realised_pnl, lambda p: money(p.realised_pnl), pnl=True,
                   numeric=True),
    PositionColumn("Unrealised P&L", lambda p: p.unrealised_pnl, lambda p: money(p.unrealised_pnl), pnl=True,
                   numeric=True),
)
NET_QTY_COLUMN = 3
# After the position's own columns: its protections, from ProtectionsEvent rather than the position view.
PROTECTION_COLUMN = len(POSITION_COLUMNS)
PROTECTION_TITLE = "Protection"


class PositionsModel(QAbstractTableModel):
    """One row per symbol, in the order symbols first appeared. The last column shows the symbol's protections that
    are still in force or need the trader (a failed or unrestored one: red, its reason in the tooltip), whichever
    product they are on (a position row is one symbol)."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._rows: list[PositionView] = []
        self._row_of: dict[str, int] = {}
        self._protections: dict[str, list[ProtectionView]] = {}  # symbol -> shown protections, the desk's order

    def apply_protections(self, views: Sequence[ProtectionView]) -> None:
        """Every protection the desk holds (as a ProtectionsEvent carries them): rows whose protections changed
        repaint their last cell. A symbol with no row yet shows its protections once its position arrives."""
        incoming: dict[str, list[ProtectionView]] = {}
        for view in shown(views):
            incoming.setdefault(view.symbol, []).append(view)
        changed = {s for s in incoming.keys() | self._protections.keys()
                   if incoming.get(s) != self._protections.get(s)}
        self._protections = incoming
        for row in sorted(r for s in changed if (r := self._row_of.get(s)) is not None):
            cell = self.index(row, PROTECTION_COLUMN)
            self.dataChanged.emit(cell, cell)

    def protections(self, symbol: str) -> list[ProtectionView]:
        return list(self._protections.get(symbol, ()))

    def apply(self, positions: Sequence[PositionView]) -> None:
        incoming = {p.symbol: p for p in positions}
        self._remove_gone(incoming)
        changed = [i for i, old in enumerate(self._rows) if incoming[old.symbol] != old]
        for i in changed:
            self._rows[i] = incoming[self._rows[i].symbol]
        if changed:
            last = PROTECTION_COLUMN - 1  # the protections cell changes on its own events
            self.dataChanged.emit(self.index(min(changed), 0), self.index(max(changed), last))
        new = [p for p in positions if p.symbol not in self._row_of]
        if new:
            start = len(self._rows)
            self.beginInsertRows(QModelIndex(), start, start + len(new) - 1)
            self._rows.extend(new)
            self._row_of.update((p.symbol, start + i) for i, p in enumerate(new))
            self.endInsertRows()

    def _remove_gone(self, incoming: dict[str, PositionView]) -> None:
        gone = [i for i, p in enumerate(self._rows) if p.symbol not in incoming]
        if not gone:
            return
        for i in reversed(gone):
            self.beginRemoveRows(QModelIndex(), i, i)
            del self._rows[i]
            self.endRemoveRows()
        self._row_of = {p.symbol: i for i, p in enumerate(self._rows)}

    def position(self, symbol: str) -> PositionView | None:
        row = self._row_of.get(symbol)
        return None if row is None else self._rows[row]

    def row_of(self, symbol: str) -> int | None:
        return self._row_of.get(symbol)

    def is_flat(self, row: int) -> bool:
        return self._rows[row].quantity == 0

    @override
    def rowCount(self, parent: Index = _ROOT) -> int:
        return 0 if parent.isValid() else len(self._rows)

    @override
    def columnCount(self, parent: Index = _ROOT) -> int:
        return 0 if parent.isValid() else len(POSITION_COLUMNS) + 1

    @override
    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        position = self._rows[index.row()]
        if index.column() == PROTECTION_COLUMN:
            return self._protection_data(position.symbol, role)
        column = POSITION_COLUMNS[index.column()]
        if role == Qt.ItemDataRole.DisplayRole:
            return column.text(position)
        if role == SORT_ROLE:
            return column.value(position)
        if role == Qt.ItemDataRole.ForegroundRole:
            if position.quantity == 0:
                return _BRUSHES["flat"]
            if column.pnl:
                tone = pnl_tone(column.value(position))
                return _BRUSHES[tone] if tone is not None else None
            return None
        if role == Qt.ItemDataRole.TextAlignmentRole and column.numeric:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    def _protection_data(self, symbol: str, role: int) -> Any:
        views = self._protections.get(symbol)
        if not views:
            return "" if role in (Qt.ItemDataRole.DisplayRole, SORT_ROLE) else None
        if role in (Qt.ItemDataRole.DisplayRole, SORT_ROLE):
            return " | ".join(view_text(v) for v in views)
        if role == Qt.ItemDataRole.ToolTipRole:
            return "\n".join(view_tooltip(v) for v in views)
        if role == Qt.ItemDataRole.ForegroundRole and any(v.status.unprotected for v in views):
            return _UNPROTECTED
        return None

    @override
    def headerData(self, section: int, orientation: Qt.Orientation,
                   role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return PROTECTION_TITLE if section == PROTECTION_COLUMN else POSITION_COLUMNS[section].title
        return None


class FlatPositionsFilter(QSortFilterProxyModel):
    """Hides flat (net zero) positions unless asked to show them; sorts numeric columns as numbers."""

    def __init__(self, source: PositionsModel, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._source = source
        self._show_flat = True
        self.setSourceModel(source)
        self.setSortRole(SORT_ROLE)

    def set_show_flat(self, show: bool) -> None:
        self.beginFilterChange()
        self._show_flat = show
        self.endFilterChange(QSortFilterProxyModel.Direction.Rows)

    @override
    def filterAcceptsRow(self, source_row: int, source_parent: Index) -> bool:
        return self._show_flat or not self._source.is_flat(source_row)


class PositionsTable(QWidget):
    """Open and closed positions with their protections; flat ones greyed, or hidden with "show flat" unticked."""

    def __init__(self, desk: Desk, bridge: DeskBridge, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("positionsTable")
        self.model = PositionsModel(self)
        self.proxy = FlatPositionsFilter(self.model, self)

        self.show_flat = QCheckBox("show flat")
        self.show_flat.setObjectName("showFlat")
        self.show_flat.setChecked(True)
        self.show_flat.toggled.connect(self.proxy.set_show_flat)

        self.view = QTableView()
        self.view.setObjectName("positionsView")
        self.view.setModel(self.proxy)
        self.view.setSortingEnabled(True)
        self.view.sortByColumn(0, Qt.SortOrder.AscendingOrder)
        self.view.setSelectionBehavior(QTableView.SelectionBehavior.SelectRows)
        self.view.setAlternatingRowColors(True)
        self.view.verticalHeader().setVisible(False)
        self.view.horizontalHeader().setStretchLastSection(True)

        bar = QHBoxLayout()
        bar.addWidget(self.show_flat)
        bar.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(bar)
        layout.addWidget(self.view)

        bridge.portfolio.connect(self.on_portfolio)
        bridge.protections.connect(self.on_protections)
        self.on_portfolio(desk.last_portfolio)
        # Protections restored before the window opened (a failed restore must show red at once): the desk's
        # current ones when it has them; every later change comes as an event.
        self.model.apply_protections(getattr(desk, "protections", ()))

    def on_portfolio(self, event: PortfolioEvent) -> None:
        self.model.apply(event.positions)

    def on_protections(self, event: ProtectionsEvent) -> None:
        self.model.apply_protections(event.protections)


# (objectName, caption, value from the account)
ACCOUNT_FIELDS: tuple[tuple[str, str, Callable[[AccountView], float]], ...] = (
    ("capital", "Capital", lambda a: a.capital),
    ("marginUsed", "Margin used", lambda a: a.margin_used),
    ("marginAvailable", "Margin available", lambda a: a.margin_available),
    ("realisedPnl", "Realised P&L", lambda a: a.realised_pnl),
    ("unrealisedPnl", "Unrealised P&L", lambda a: a.unrealised_pnl),
    ("totalPnl", "Total P&L", lambda a: a.realised_pnl + a.unrealised_pnl),
)
_PNL_FIELDS = frozenset({"realisedPnl", "unrealisedPnl", "totalPnl"})


class AccountSummary(QWidget):
    """Capital, margin and P&L figures; `values[objectName]` is each figure's label; `day_limit` the day's P&L
    limits against the P&L (red once one has fired)."""

    def __init__(self, desk: Desk, bridge: DeskBridge, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("accountSummary")
        self.values: dict[str, QLabel] = {}
        grid = QGridLayout(self)
        for row, (name, caption, _) in enumerate(ACCOUNT_FIELDS):
            label = QLabel(caption)
            label.setObjectName(f"{name}Caption")
            value = SteadyLabel()
            value.setObjectName(name)
            value.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            value.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            grid.addWidget(label, row, 0)
            grid.addWidget(value, row, 1)
            self.values[name] = value
        # The day's P&L limits (risk.daily_loss_limit / profit_lock), under the figures they are measured on.
        limit_caption = QLabel("Day limit")
        limit_caption.setObjectName("dayLimitCaption")
        self.day_limit = DayLimitLabel()
        self.day_limit.setObjectName("dayLimit")
        self.day_limit.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        grid.addWidget(limit_caption, len(ACCOUNT_FIELDS), 0)
        grid.addWidget(self.day_limit, len(ACCOUNT_FIELDS), 1)
        grid.setRowStretch(len(ACCOUNT_FIELDS) + 1, 1)
        bridge.portfolio.connect(self.on_portfolio)
        self.on_portfolio(desk.last_portfolio)

    def on_portfolio(self, event: PortfolioEvent) -> None:
        account = event.account
        for name, _, value_of in ACCOUNT_FIELDS:
            value = value_of(account)
            label = self.values[name]
            text = money(value)
            if label.text() != text:
                label.setText(text)
            if name in _PNL_FIELDS:
                self._colour(label, pnl_tone(value))
        self.day_limit.show_account(account)

    @staticmethod
    def _colour(label: QLabel, tone: str | None) -> None:
        sign = tone or "none"
        if label.property("pnlSign") == sign:
            return  # re-polishing a style sheet is not free; skip when nothing changed
        label.setProperty("pnlSign", sign)
        label.setStyleSheet(f"color: {COLOURS[tone]};" if tone is not None else "")
