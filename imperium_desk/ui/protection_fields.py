"""The stop-loss, target and trailing stop inputs of an entry, shared by the ticket and the multi-strike panel: per
protection a distance (empty: off) and its unit (pts, ₹ or %), and beside it the price it would trigger at.

The widget holds no opinion on the entry: its owner asks for the spec (`spec()`), works out the levels for the price
it expects to fill at (`levels()` from domain/protection.py) and hands them back (`show_levels`) or clears them.
Both `spec()` and the levels raise `ProtectionError` naming the field, which the owner shows the way it shows any
invalid input. Qt thread only.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import Signal
from PySide6.QtGui import QDoubleValidator
from PySide6.QtWidgets import QComboBox, QGridLayout, QLabel, QLineEdit, QWidget

from imperium_desk.domain.protection import (
    Offset,
    OffsetUnit,
    ProtectionError,
    ProtectionKind,
    ProtectionLevels,
    ProtectionSpec,
)
from imperium_desk.ui.protection_text import UNIT_MARKS, price_text

MAX_DISTANCE = 1_000_000.0  # rupees on a large entry; the levels refuse what makes no sense for the entry
CAPTIONS: dict[ProtectionKind, str] = {
    ProtectionKind.STOP_LOSS: "Stop-loss",
    ProtectionKind.TARGET: "Target",
    ProtectionKind.TRAILING_STOP: "Trailing stop",
}
SHORT_CAPTIONS: dict[ProtectionKind, str] = {
    ProtectionKind.STOP_LOSS: "Stop", ProtectionKind.TARGET: "Target", ProtectionKind.TRAILING_STOP: "Trail",
}
_NAMES: dict[ProtectionKind, str] = {
    ProtectionKind.STOP_LOSS: "StopLoss", ProtectionKind.TARGET: "Target", ProtectionKind.TRAILING_STOP: "Trail",
}


@dataclass(frozen=True, slots=True)
class ProtectionRow:
    """One protection's inputs: the distance, its unit, and the level it works out to."""

    kind: ProtectionKind
    distance: QLineEdit
    unit: QComboBox
    level: QLabel

    @property
    def chosen_unit(self) -> OffsetUnit:
        return OffsetUnit(self.unit.currentData())

    def offset(self) -> Offset | None:
        """The distance asked for, None when the field is empty; ProtectionError for one not above zero."""
        text = self.distance.text().strip()
        if not text:
            return None
        try:
            value = float(text)
        except ValueError:
            raise ProtectionError(self.kind.value, f"{text!r} is not a number") from None
        if not value > 0:
            raise ProtectionError(self.kind.value, f"{text} is not a distance above zero (leave it empty for none)")
        return Offset(value=value, unit=self.chosen_unit)


class ProtectionFields(QWidget):
    """Stop-loss, target and trailing stop for one entry, each a distance and a unit, with the level it gives.

    `name` prefixes the children's object names (`{name}StopLoss`, `{name}StopLossUnit`, `{name}StopLossLevel`...)
    so tests and the stylesheet find them. The three are laid out one per line with their levels beside them (the
    ticket's form), or `compact`: on one line with short captions and no levels (the multi-strike panel, where
    height is scarce, shows each strike's levels in its preview table). `changed` fires on any edit."""

    changed = Signal()

    def __init__(self, name: str, parent: QWidget | None = None, *, compact: bool = False) -> None:
        super().__init__(parent)
        self.setObjectName(f"{name}Protection")
        grid = QGridLayout(self)
        grid.setContentsMargins(0, 0, 0, 0)
        self.rows: dict[ProtectionKind, ProtectionRow] = {}
        for i, kind in enumerate(ProtectionKind):
            row = self._row(name, kind)
            self.rows[kind] = row
            caption = QLabel((SHORT_CAPTIONS if compact else CAPTIONS)[kind], self)
            caption.setBuddy(row.distance)
            line, column = (0, 3 * i) if compact else (i, 0)
            grid.addWidget(caption, line, column)
            grid.addWidget(row.distance, line, column + 1)
            grid.addWidget(row.unit, line, column + 2)
            grid.setColumnStretch(column + 1, 1)
            if compact:
                row.level.setVisible(False)
            else:
                grid.addWidget(row.level, line, column + 3)

    def _row(self, name: str, kind: ProtectionKind) -> ProtectionRow:
        prefix = f"{name}{_NAMES[kind]}"
        distance = QLineEdit(self)
        distance.setObjectName(prefix)
        distance.setPlaceholderText("off")
        validator = QDoubleValidator(0.0, MAX_DISTANCE, 2, distance)
        validator.setNotation(QDoubleValidator.Notation.StandardNotation)
        distance.setValidator(validator)
        distance.setMaximumWidth(90)
        unit = QComboBox(self)
        unit.setObjectName(f"{prefix}Unit")
        for offset_unit, mark in UNIT_MARKS.items():
            unit.addItem(mark, offset_unit.value)
        level = QLabel(self)
        level.setObjectName(f"{prefix}Level")
        level.setMinimumWidth(level.fontMetrics().horizontalAdvance("→ 00000.00"))
        distance.textChanged.connect(self.changed)
        unit.currentIndexChanged.connect(self.changed)
        return ProtectionRow(kind, distance, unit, level)

    # -- what the trader asked -------------------------------------------------------------------------------
    def spec(self) -> ProtectionSpec | None:
        """The protections entered, None when every field is empty; ProtectionError names a field not above 0."""
        offsets = {kind.value: row.offset() for kind, row in self.rows.items()}
        if all(offset is None for offset in offsets.values()):
            return None
        return ProtectionSpec.model_validate(offsets)

    def set_distance(self, kind: ProtectionKind, value: float | None, unit: OffsetUnit = OffsetUnit.POINTS) -> None:
        """Fill one protection (None empties it), as a trader would type it."""
        row = self.rows[kind]
        row.unit.setCurrentIndex(row.unit.findData(unit.value))
        row.distance.setText("" if value is None else f"{value:g}")

    # -- what it works out to --------------------------------------------------------------------------------
    def show_levels(self, found: ProtectionLevels | None) -> None:
        """Beside each field the price it triggers at (the trailing stop's first level), or nothing."""
        for kind, row in self.rows.items():
            price = None if found is None else getattr(found, kind.value)
            row.level.setText("" if price is None else f"→ {price_text(price)}")
