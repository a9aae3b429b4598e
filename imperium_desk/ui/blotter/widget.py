"""The orders and fills panel: the blotter tree, its status filter, and the drill events under it."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QAbstractItemModel, Qt
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QSplitter, QTreeView, QVBoxLayout, QWidget

from imperium_desk.desk import Desk
from imperium_desk.ui.blotter.columns import COLUMNS
from imperium_desk.ui.blotter.model import FILTERS, FLUSH_INTERVAL_MS, MAX_PARENTS, BlotterFilter, BlotterModel
from imperium_desk.ui.blotter_view import BlotterView
from imperium_desk.ui.bridge import DeskBridge
from imperium_desk.ui.drills_live import DrillEventsTable
from imperium_desk.ui.paint_turns import PaintTurns


class OrdersBlotter(QWidget):
    """The orders and fills panel. `model` holds the data; `view` shows it directly ("all") or through a status
    filter (`proxy`, only while one is chosen: a proxy maps every row again after each insert, doubling the cost)."""

    def __init__(self, desk: Desk, bridge: DeskBridge, parent: QWidget | None = None, *,
                 max_parents: int = MAX_PARENTS, flush_interval_ms: int = FLUSH_INTERVAL_MS,
                 turns: PaintTurns | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("ordersBlotter")
        self.desk = desk
        self.model = BlotterModel(desk, self, max_parents=max_parents, flush_interval_ms=flush_interval_ms,
                                  turns=turns)
        self.proxy: BlotterFilter | None = None

        self.filter = QComboBox()
        self.filter.setObjectName("blotterFilter")
        self.filter.addItems(list(FILTERS))
        self.filter.currentTextChanged.connect(self.set_filter)

        self.view = BlotterView(self.model)
        self.view.setObjectName("blotterView")
        self.view.setModel(self.model)
        self.view.setUniformRowHeights(True)  # lets the view skip measuring every row
        self.view.setAlternatingRowColors(True)
        self.view.setSelectionBehavior(QTreeView.SelectionBehavior.SelectRows)
        self.view.setAllColumnsShowFocus(True)
        header = self.view.header()
        header.setStretchLastSection(True)
        for i, column in enumerate(COLUMNS):
            header.resizeSection(i, column.width)

        # Injected drill events under the orders they hit (the table appears with a drill's first event).
        self.drill_events = DrillEventsTable(bridge)
        split = QSplitter(Qt.Orientation.Vertical)
        split.setObjectName("blotterSplitter")
        split.addWidget(self.view)
        split.addWidget(self.drill_events)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 1)

        bar = QHBoxLayout()
        bar.addWidget(QLabel("Show"))
        bar.addWidget(self.filter)
        bar.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(bar)
        layout.addWidget(split)

        if turns is not None:
            # A flush that adds rows makes the tree lay out every row, then repaint: 3-8 ms and 3-6 ms at a
            # thousand parents. Back to back they were the window's longest pause; here the layout runs in the
            # flush's turn and the repaint waits for the next one.
            self.model.flushing.connect(self.view.hold_paint)
            self.model.flushed.connect(lambda: self._lay_out_and_paint_next_turn(turns))
        bridge.record.connect(self.model.on_record)
        bridge.parent_started.connect(self.model.on_parent_started)
        bridge.parent_finished.connect(self.model.on_parent_finished)

    def _lay_out_and_paint_next_turn(self, turns: PaintTurns) -> None:
        self.view.lay_out_now()
        turns.run(self.view.release_paint)

    def set_filter(self, mode: str) -> None:
        """"all", "working" or "done" (the combo calls this)."""
        if mode == "all":
            if self.proxy is not None:
                self._show(self.model)
                self.proxy.deleteLater()
                self.proxy = None
            return
        if self.proxy is None:
            self.proxy = BlotterFilter(self.model, self)
            self.proxy.set_mode(mode)
            self._show(self.proxy)
        else:
            self.proxy.set_mode(mode)

    def _show(self, model: QAbstractItemModel) -> None:
        header_state = self.view.header().saveState()  # a new model would reset the column widths
        old_selection = self.view.selectionModel()
        self.view.setModel(model)
        self.view.header().restoreState(header_state)
        if old_selection is not None:
            old_selection.deleteLater()

    def parent_row(self, parent_id: str) -> dict[str, Any] | None:
        """A snapshot of one parent's values (raw numbers) and its children, or None if unknown/dropped."""
        return self.model.parent_row(parent_id)
