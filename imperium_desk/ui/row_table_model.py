"""A table model over a list of rows under fixed headers: the shared part of the panels' small tables."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt


class RowTableModel[R](QAbstractTableModel):
    """A read-only table over a list of rows under `HEADERS`; subclasses say how a row reads and replace their
    rows through `_replace_rows`."""

    HEADERS: ClassVar[tuple[str, ...]] = ()

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._rows: list[R] = []

    def _replace_rows(self, rows: list[R], same_keys: bool, commit: Callable[[list[R]], None]) -> None:
        """Take new rows. When they are the same rows with new values, repaint in place so the selection and
        the scroll position stay; otherwise reset. `commit` stores the rows (and anything derived from them)."""
        if same_keys and rows:
            commit(rows)
            self.dataChanged.emit(self.index(0, 0), self.index(len(rows) - 1, len(self.HEADERS) - 1))
            return
        self.beginResetModel()
        commit(rows)
        self.endResetModel()

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008, N802
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008, N802
        return 0 if parent.isValid() else len(self.HEADERS)

    def headerData(  # noqa: N802
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return self.HEADERS[section]
        return None
