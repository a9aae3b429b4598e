"""The blotter's tree view, painting each row in one pass.

A tree view paints a row cell by cell through its delegate: one call from C++ into Python per cell, a dozen per
row. After each flush the blotter repaints a screenful of rows, and in a drill at 50 orders a second that
repaint, with the tree's layout before it, was the longest thing the Qt thread did
(benchmarks/ui_responsiveness.py: the largest gap of a 10 ms timer). Here `drawRow` asks the model for the
row's cells in view (`RowLooks.row_looks`; the columns in view are found once per paint) and draws them with
`CellText`; the branch arrow is still the style's (`drawBranches`). Rows look as a plain delegate draws them:
alternating background, the selection across the row, the focus frame around the current row, a text elided
where its column is too narrow. In a drill this halved the blotter's repaint (p90 7.3 -> 4.6 ms).
"""

from __future__ import annotations

from typing import Protocol, override

from PySide6.QtCore import QAbstractProxyModel, QModelIndex, QPersistentModelIndex, QRect
from PySide6.QtGui import QPainter, QPaintEvent
from PySide6.QtWidgets import QStyleOptionViewItem, QTreeView, QWidget

from imperium_desk.ui.text_delegate import ALTERNATE, CellLook, CellText

Index = QModelIndex | QPersistentModelIndex


class RowLooks(Protocol):
    """What `BlotterView` asks of its model to paint a row in one pass (`BlotterModel` provides it)."""

    def row_looks(self, index: Index, columns: list[int]) -> list[CellLook] | None:
        """The row's cells in these columns, in their order (None: the row is gone)."""
        ...

    def is_child(self, index: Index) -> bool:
        """The row sits one level down (a child), not at the top."""
        ...


class BlotterView(QTreeView):
    """The blotter's tree: paints each row in one pass from `RowLooks.row_looks`; `hold_paint`/`release_paint`
    and `lay_out_now` let the blotter split a flush's layout and repaint across paint turns."""

    def __init__(self, rows: RowLooks, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._rows = rows  # the model (a filter may sit between it and the view)
        self._cells = CellText(self.palette())
        # Per paint: the columns in view as (logical column, x, width), the tree column, the focus row's index.
        self._columns: list[tuple[int, int, int]] = []
        self._column_ids: list[int] = []
        self._tree_column = 0
        self._focus: QModelIndex | None = None

    def hold_paint(self) -> None:
        """No repaint until `release_paint` (the rows may change meanwhile; what is on screen stays)."""
        self.setUpdatesEnabled(False)

    def lay_out_now(self) -> None:
        """Lay the rows out now rather than on the view's next timer (a no-op when nothing changed)."""
        self.executeDelayedItemsLayout()

    def release_paint(self) -> None:
        """Repaint what changed since `hold_paint` (Qt repaints the whole view when updates come back on)."""
        self.setUpdatesEnabled(True)

    @override
    def paintEvent(self, event: QPaintEvent) -> None:
        header = self.header()
        right_edge = self.viewport().width()
        columns = []
        for column in range(header.count()):
            if header.isSectionHidden(column):
                continue
            x, w = header.sectionViewportPosition(column), header.sectionSize(column)
            if x + w > 0 and x < right_edge:
                columns.append((column, x, w))
        self._columns = columns
        self._column_ids = [column for column, _, _ in columns]
        self._tree_column = header.logicalIndex(self.treePosition())
        self._focus = self.currentIndex() if self.hasFocus() else None
        super().paintEvent(event)

    @override
    def drawRow(self, painter: QPainter, options: QStyleOptionViewItem, index: Index) -> None:
        source = index
        model = index.model()
        if isinstance(model, QAbstractProxyModel):
            source = model.mapToSource(index)
        columns = self._columns
        looks = self._rows.row_looks(source, self._column_ids)
        if looks is None:
            return
        rect = options.rect
        y, h = rect.y(), rect.height()
        row_rect = QRect(0, y, self.viewport().width(), h)
        cells = self._cells
        selection = self.selectionModel()
        selected = selection is not None and selection.isSelected(index)
        if selected:
            painter.fillRect(row_rect, cells.highlight)
        elif options.features.value & ALTERNATE:
            painter.fillRect(row_rect, cells.alternate)
        tree_column = self._tree_column
        for (column, left, width), look in zip(columns, looks, strict=True):
            x, w = left, width
            if column == tree_column:
                level = 1 if self._rows.is_child(source) else 0
                indent = self.indentation() * (level + (1 if self.rootIsDecorated() else 0))
                self.drawBranches(painter, QRect(x, y, indent, h), index)
                x, w = x + indent, w - indent
            cells.draw(painter, x, y, w, h, look, selected)
        if self._focus is not None and _same_row(self._focus, index):
            painter.setPen(cells.focus)
            painter.drawRect(row_rect.adjusted(0, 0, -1, -1))


def _same_row(a: Index, b: Index) -> bool:
    return a.isValid() and a.row() == b.row() and a.parent() == b.parent()
