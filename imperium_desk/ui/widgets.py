"""Small widgets the panels share: a named, word-wrapping label, a label for live figures, a named push button,
named spin boxes and combo boxes (plain text, or the members of a StrEnum), and the panels' read-only row tables."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from enum import StrEnum
from typing import overload, override

from PySide6.QtCore import QAbstractItemModel, QEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDoubleSpinBox,
    QHeaderView,
    QLabel,
    QPushButton,
    QSpinBox,
    QTableView,
    QWidget,
)


def wrapped_label(parent: QWidget, name: str) -> QLabel:
    """A label tests and the stylesheet find by `name`, wrapping long messages instead of widening the dock."""
    label = QLabel(parent)
    label.setObjectName(name)
    label.setWordWrap(True)
    return label


class SteadyLabel(QLabel):
    """A label for a figure that changes many times a second (clock, orders in flight, P&L).

    A plain label asks for a new layout at every new text, and the request climbs to the main window, whose layout
    pass (docks, toolbar, status bar) cost ~1 ms here, up to 90 times a second under a drill
    (benchmarks/ui_responsiveness.py). This one fixes its size to the widest text it has shown, so only a text
    wider than all before it costs a layout; a shorter one leaves room to spare. A new font or style (the
    stylesheet reaches a label once it is in the window) fits it to its text afresh.
    """

    @override
    def setText(self, text: str, /) -> None:
        if text == self.text():
            return
        super().setText(text)
        self._fit(grow_only=True)

    @override
    def event(self, event: QEvent) -> bool:
        handled = super().event(event)
        if event.type() in _RESTYLED:
            self._fit(grow_only=False)
        return handled

    def _fit(self, *, grow_only: bool) -> None:
        hint = self.sizeHint()
        width = max(hint.width(), self.minimumWidth()) if grow_only else hint.width()
        if (width, hint.height()) != (self.minimumWidth(), self.minimumHeight()):
            self.setFixedSize(width, hint.height())


_RESTYLED = frozenset({QEvent.Type.Polish, QEvent.Type.FontChange, QEvent.Type.StyleChange})


def push_button(parent: QWidget, text: str, name: str, action: Callable[[], object]) -> QPushButton:
    """A button named `name` that calls `action` with no arguments (Qt's `checked` flag is dropped)."""
    button = QPushButton(text, parent)
    button.setObjectName(name)
    button.clicked.connect(lambda _checked=False: action())
    return button


@overload
def spin_box(parent: QWidget, name: str, *, range: tuple[int, int], value: int, decimals: None = None,
             suffix: str = "") -> QSpinBox: ...
@overload
def spin_box(parent: QWidget, name: str, *, range: tuple[float, float], value: float, decimals: int,
             suffix: str = "") -> QDoubleSpinBox: ...
def spin_box(parent: QWidget, name: str, *, range: tuple[float, float], value: float, decimals: int | None = None,
             suffix: str = "") -> QSpinBox | QDoubleSpinBox:
    """A spin box named `name` over `range` (both ends allowed), showing `value`: whole numbers without
    `decimals`, else a decimal box with that many places. `suffix` is a unit shown after the number and a space."""
    spin: QSpinBox | QDoubleSpinBox
    if decimals is None:
        spin = QSpinBox(parent)
        spin.setRange(int(range[0]), int(range[1]))
        spin.setValue(int(value))
    else:
        spin = QDoubleSpinBox(parent)
        spin.setDecimals(decimals)  # before the range and value, which it rounds
        spin.setRange(range[0], range[1])
        spin.setValue(value)
    spin.setObjectName(name)
    if suffix:
        spin.setSuffix(f" {suffix}")
    return spin


def combo_box(parent: QWidget, name: str, items: Iterable[str]) -> QComboBox:
    """A combo box named `name` offering `items` as plain text (the first is current)."""
    combo = QComboBox(parent)
    combo.setObjectName(name)
    combo.addItems(list(items))
    return combo


def enum_combo(parent: QWidget, name: str, choices: Iterable[StrEnum], current: StrEnum) -> QComboBox:
    """A combo box named `name` offering `choices` by value, `current` chosen. Read it with `chosen`."""
    combo = QComboBox(parent)
    combo.setObjectName(name)
    for choice in choices:  # Qt hands a StrEnum back as a plain str: store the value, convert on read
        combo.addItem(choice.value, choice.value)
    combo.setCurrentIndex(max(0, combo.findData(current.value)))
    return combo


def chosen[E: StrEnum](combo: QComboBox, kind: type[E]) -> E:
    """The member of `kind` an `enum_combo` shows."""
    return kind(combo.currentData())


def row_table[V: QTableView](
    view: V,
    model: QAbstractItemModel,
    name: str,
    *,
    selection: QAbstractItemView.SelectionMode | None = None,
    word_wrap: bool = True,
) -> V:
    """`view` set up as the panels' read-only tables are: `model`, found by `name`, whole rows selected (in
    `selection` mode when given), no editing, no row numbers, columns fitted to their contents with the last one
    stretched."""
    view.setObjectName(name)
    view.setModel(model)
    view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    if selection is not None:
        view.setSelectionMode(selection)
    view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    view.verticalHeader().setVisible(False)
    view.setWordWrap(word_wrap)
    header = view.horizontalHeader()
    header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    header.setStretchLastSection(True)
    return view
