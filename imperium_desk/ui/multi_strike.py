"""The multi-strike Buy/Exit panel: buy a band of strikes around ATM as one grouped action, each strike protected by
the same optional stop-loss, target and trailing stop, or exit every position of one option type.

The preview comes from `Desk.multi_strike_legs`, so the panel shows exactly the requests the stack would get.
It is rebuilt when an input changes and on a 2 Hz timer while the panel is visible: prices move every tick, but
a per-tick rebuild would be wasted work nobody can read. BUY only opens a confirmation; nothing is sent before
Confirm, and Confirm rebuilds the confirmed strikes at current prices under one group id. EXIT asks nothing
(exits must be fast) and is never disabled: the desk guarantees exits pass the risk gate and the kill switch.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, replace
from datetime import date
from typing import Any

import shiboken6
from pydantic import ValidationError
from PySide6.QtCore import (
    QModelIndex,
    QPersistentModelIndex,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import QBrush, QColor, QHideEvent, QShowEvent
from PySide6.QtWidgets import (
    QButtonGroup,
    QDialog,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from imperium_desk.desk import Desk, InvalidOrder, LegPreview, ParentFinished, Submitted
from imperium_desk.domain.enums import Algo, OptionRight, OrderType, ParentStatus, Side
from imperium_desk.domain.instruments import InstrumentError
from imperium_desk.domain.protection import ProtectionError, ProtectionLevels, ProtectionSpec, levels
from imperium_desk.domain.validation import field_error_text
from imperium_desk.ui import palette
from imperium_desk.ui.bridge import DeskBridge
from imperium_desk.ui.protection_fields import ProtectionFields
from imperium_desk.ui.protection_text import levels_text
from imperium_desk.ui.row_table_model import RowTableModel
from imperium_desk.ui.widgets import chosen, enum_combo, row_table, spin_box

MAX_STRIKES_EACH_SIDE = 20
PREVIEW_REFRESH_MS = 500
CONFIRM_ROWS_WITHOUT_SCROLL = 15
FORM_COLUMNS = 3  # label | field pairs per row of the inputs
# Confirm rebuilds a band this much wider than the confirmed one, so the confirmed strikes are still found when
# ATM has moved a step or two while the dialog was open.
CONFIRM_SLACK_STRIKES = 2

# What building legs can raise for inputs the trader (or the header) chose: the desk's field errors, an
# underlying/expiry pair that names no contract, a request pydantic rejects (e.g. a quote with no bid), and a
# protection whose level makes no sense for a strike's premium.
INPUT_ERRORS = (InvalidOrder, InstrumentError, ValidationError, ProtectionError)


def describe_input_error(exc: Exception) -> str:
    """One line naming the field, the way the ticket shows InvalidOrder."""
    if isinstance(exc, ValidationError):
        return field_error_text(exc)
    return str(exc)


def right_label(right: OptionRight) -> str:
    return "CALL" if right is OptionRight.CE else "PUT"


def rows_height(view: QTableView, rows: int) -> int:
    """The height `view` needs to show its header and `rows` rows without a vertical scroll bar."""
    return (view.horizontalHeader().sizeHint().height() + 2 * view.frameWidth()
            + rows * view.verticalHeader().defaultSectionSize())


def leg_levels(leg: LegPreview) -> ProtectionLevels | None:
    """The levels of the leg's protections if it fills where the preview expects (its limit, else the estimate's
    price); None without protections. ProtectionError names the field, and the strike."""
    spec = leg.request.protection
    if spec is None:
        return None
    request = leg.request
    entry = request.limit_price if request.limit_price is not None else leg.estimate.expected_price
    try:
        return levels(spec, request.side, entry, request.quantity, leg.contract.tick_size)
    except ProtectionError as exc:
        raise ProtectionError(exc.field, f"{str(exc).removeprefix(f'{exc.field}: ')} (strike "
                                         f"{leg.contract.strike:g})") from None


def protected(leg: LegPreview, spec: ProtectionSpec | None) -> LegPreview:
    """`leg` with `spec` on its request, once its levels are known to make sense (ProtectionError if not)."""
    if spec is None:
        return leg
    leg = replace(leg, request=leg.request.model_copy(update={"protection": spec}))
    leg_levels(leg)
    return leg


@dataclass(frozen=True, slots=True)
class MultiStrikeInputs:
    """What the trader asked for; legs are rebuilt from it at the prices of the moment."""

    underlying: str
    expiry: date
    right: OptionRight
    strikes_below: int
    strikes_above: int
    lots: int
    order_type: OrderType
    algo: Algo
    protection: ProtectionSpec | None = None  # the same distances on every strike; levels from each one's price

    def legs(self, desk: Desk, *, group: str | None = None, slack: int = 0) -> list[LegPreview]:
        legs = desk.multi_strike_legs(
            underlying=self.underlying, expiry=self.expiry, right=self.right,
            strikes_below=self.strikes_below + slack, strikes_above=self.strikes_above + slack, lots=self.lots,
            side=Side.BUY, order_type=self.order_type, algo=self.algo, group=group,
        )
        return [protected(leg, self.protection) for leg in legs]

    @property
    def title(self) -> str:
        return f"BUY {self.underlying} {self.expiry:%d %b %Y} {self.right.value}"


@dataclass(frozen=True, slots=True)
class LegTotals:
    """The totals of a multi-strike preview or confirmation: units, lots, premium and expected cost."""

    quantity: int  # units
    lots: int
    premium: float  # rupees
    cost: float  # rupees: sum of (expected - arrival) * qty, adverse positive
    cost_bps: float  # premium-weighted

    @classmethod
    def of(cls, legs: list[LegPreview]) -> LegTotals:
        quantity = sum(leg.request.quantity for leg in legs)
        lots = sum(leg.request.quantity // leg.contract.lot_size for leg in legs)
        premium = sum(leg.estimate.premium for leg in legs)
        cost = sum(
            (leg.estimate.expected_price - leg.estimate.arrival_price) * leg.request.quantity * leg.request.side.sign
            for leg in legs
        )
        weighted = sum(leg.estimate.cost_bps * leg.estimate.premium for leg in legs)
        return cls(quantity, lots, premium, cost, weighted / premium if premium else 0.0)

    def text(self) -> str:
        return (
            f"Total {self.quantity:,} units ({self.lots} lots) · est. premium ₹{self.premium:,.2f}"
            f" · est. cost ₹{self.cost:,.2f} ({self.cost_bps:.1f} bps)"
        )


class LegTableModel(RowTableModel[LegPreview]):
    """One row per strike, lowest first; the ATM row is highlighted. The last column has the levels each strike's
    protections would trigger at (empty without protections)."""

    HEADERS = ("Strike", "Symbol", "Qty", "Limit", "Est. price", "Est. premium", "Cost bps", "Protection")
    STRIKE, SYMBOL, QTY, LIMIT, PRICE, PREMIUM, BPS, PROTECTION = range(8)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._atm: float | None = None
        self._levels: dict[str, str] = {}  # symbol -> its levels on one line

    def set_legs(self, legs: list[LegPreview], atm: float | None) -> None:
        """Prices move tick by tick while the strikes stay: then the rows repaint in place. The legs' levels must
        make sense (as `MultiStrikeInputs.legs` checks): ProtectionError otherwise."""
        same_rows = [leg.request.symbol for leg in legs] == [leg.request.symbol for leg in self._rows]
        self._atm = atm
        found = {leg.request.symbol: leg_levels(leg) for leg in legs}
        self._levels = {symbol: levels_text(lv) for symbol, lv in found.items() if lv is not None}
        self._replace_rows(legs, same_rows, self._commit)

    def _commit(self, legs: list[LegPreview]) -> None:
        self._rows = legs

    def leg(self, row: int) -> LegPreview:
        return self._rows[row]

    @property
    def legs(self) -> list[LegPreview]:
        return list(self._rows)

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        leg = self._rows[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return self._text(leg, index.column())
        if role == Qt.ItemDataRole.TextAlignmentRole and index.column() not in (self.SYMBOL, self.PROTECTION):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.BackgroundRole and leg.contract.strike == self._atm:
            return QBrush(QColor(palette.ATM_ROW))
        return None

    def _text(self, leg: LegPreview, column: int) -> str:
        est = leg.estimate
        match column:
            case self.STRIKE:
                return f"{leg.contract.strike:g}"
            case self.SYMBOL:
                return leg.request.symbol
            case self.QTY:
                return f"{leg.request.quantity:,}"
            case self.LIMIT:
                limit = leg.request.limit_price
                return "MKT" if limit is None else f"{limit:.2f}"
            case self.PRICE:
                return f"{est.expected_price:.2f}"
            case self.PREMIUM:
                return f"{est.premium:,.2f}"
            case self.BPS:
                return f"{est.cost_bps:.1f}"
            case _:
                return self._levels.get(leg.request.symbol, "")


class MultiStrikeConfirmDialog(QDialog):
    """Lists every strike and the totals of a multi-strike BUY; the panel sends only when it is accepted.
    Opened with `.open()` (never exec) so the engine keeps running while the trader reads it."""

    def __init__(self, inputs: MultiStrikeInputs, legs: list[LegPreview], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("multiStrikeConfirmDialog")
        self.setWindowTitle("Confirm multi-strike BUY")
        self.inputs = inputs
        self.symbols = [leg.request.symbol for leg in legs]
        layout = QVBoxLayout(self)

        heading = QLabel(
            f"{inputs.title}: {len(legs)} strikes × {inputs.lots} lots, {inputs.order_type.value}, {inputs.algo.value}",
            self,
        )
        heading.setObjectName("confirmHeading")
        layout.addWidget(heading)

        self.legs_model = LegTableModel(self)
        self.legs_model.set_legs(legs, None)
        self.legs_view = row_table(QTableView(self), self.legs_model, "confirmLegs")
        # Tall enough to list every strike without scrolling, up to a screenful.
        self.legs_view.setMinimumHeight(rows_height(self.legs_view, min(len(legs), CONFIRM_ROWS_WITHOUT_SCROLL)))
        layout.addWidget(self.legs_view)

        self.totals_label = QLabel(LegTotals.of(legs).text(), self)
        self.totals_label.setObjectName("confirmTotals")
        layout.addWidget(self.totals_label)
        note = QLabel("Prices are estimates; Confirm sends at the prices of that moment.", self)
        note.setObjectName("confirmNote")
        layout.addWidget(note)

        buttons = QHBoxLayout()
        buttons.addStretch(1)
        self.cancel_button = QPushButton("Cancel", self)
        self.cancel_button.setObjectName("cancelButton")
        self.cancel_button.clicked.connect(self.reject)
        self.confirm_button = QPushButton(f"Confirm BUY {len(legs)} strikes", self)
        self.confirm_button.setObjectName("confirmButton")
        self.confirm_button.setDefault(True)
        self.confirm_button.clicked.connect(self.accept)
        buttons.addWidget(self.cancel_button)
        buttons.addWidget(self.confirm_button)
        layout.addLayout(buttons)
        self.resize(680, self.sizeHint().height())


class MultiStrikePanel(QWidget):
    """The multi-strike Buy/Exit panel: inputs, a live preview of the legs, BUY (after a confirmation) and EXIT.
    `submitted` carries the parents of a confirmed BUY, `exit_started` the exit's task."""

    submitted = Signal(object)  # list[Submitted], one per strike of a confirmed BUY
    exit_started = Signal(object)  # asyncio.Task[list[Submitted]] from Desk.start_exit

    def __init__(self, desk: Desk, bridge: DeskBridge, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("multiStrikePanel")
        self._desk = desk
        self._underlying = desk.underlyings[0]
        self._expiry = desk.expiries(self._underlying, 1)[0]
        self._legs: list[LegPreview] = []
        self._group_status: dict[str, ParentStatus | None] = {}  # parents of the last confirmed BUY
        self._group = ""
        self._preview_error = ""  # the inputs cannot be previewed: BUY is disabled
        self._send_error = ""  # the last Confirm failed: shown until the inputs change or a send succeeds
        self.confirm_dialog: MultiStrikeConfirmDialog | None = None

        self._build()
        bridge.parent_finished.connect(self._on_parent_finished)
        self._timer = QTimer(self)
        self._timer.setInterval(PREVIEW_REFRESH_MS)
        self._timer.timeout.connect(self.refresh_preview)
        self._update_exit_text()
        self.refresh_preview()

    # -- construction ----------------------------------------------------------------------------------------
    def _build(self) -> None:
        layout = QVBoxLayout(self)

        rights = QHBoxLayout()
        self._rights = QButtonGroup(self)
        self._rights.setExclusive(True)
        self.call_button = self._right_button("CALL", "callButton", OptionRight.CE)
        self.put_button = self._right_button("PUT", "putButton", OptionRight.PE)
        self.call_button.setChecked(True)
        rights.addWidget(self.call_button)
        rights.addWidget(self.put_button)
        rights.addStretch(1)
        self.instrument_label = QLabel(self)
        self.instrument_label.setObjectName("multiStrikeInstrument")
        rights.addWidget(self.instrument_label)
        layout.addLayout(rights)
        self._rights.idToggled.connect(self._on_right_toggled)

        form = QGridLayout()
        max_lots = self._desk.config.risk.max_order_lots  # the risk gate refuses more, so the box offers no more
        self.strikes_below_spin = spin_box(self, "strikesBelowSpin", range=(0, MAX_STRIKES_EACH_SIDE), value=1)
        self.strikes_above_spin = spin_box(self, "strikesAboveSpin", range=(0, MAX_STRIKES_EACH_SIDE), value=1)
        self.lots_spin = spin_box(self, "multiStrikeLotsSpin", range=(1, max_lots), value=1)
        self.order_type_combo = enum_combo(self, "orderTypeCombo", OrderType, OrderType.MARKET)
        self.algo_combo = enum_combo(self, "algoCombo", Algo, self._desk.config.execution.algo)
        for spin in (self.strikes_below_spin, self.strikes_above_spin, self.lots_spin):
            spin.valueChanged.connect(self._on_input_changed)
        for combo in (self.order_type_combo, self.algo_combo):
            combo.currentIndexChanged.connect(self._on_input_changed)
        # Two rows of label | field pairs rather than a five-row form: the panel shares its column with the
        # charts, and every row it saves is height the plots can use.
        fields = (("Strikes below ATM", self.strikes_below_spin), ("Strikes above ATM", self.strikes_above_spin),
                  ("Lots per strike", self.lots_spin), ("Order type", self.order_type_combo),
                  ("Algo", self.algo_combo))
        for i, (text, field) in enumerate(fields):
            label = QLabel(text, self)
            label.setBuddy(field)
            form.addWidget(label, i // FORM_COLUMNS, 2 * (i % FORM_COLUMNS))
            form.addWidget(field, i // FORM_COLUMNS, 2 * (i % FORM_COLUMNS) + 1)
        for column in range(FORM_COLUMNS):
            form.setColumnStretch(2 * column + 1, 1)
        layout.addLayout(form)
        # One line for the three protections: the preview's last column shows the levels per strike.
        self.protection = ProtectionFields("multiStrike", self, compact=True)
        self.protection.changed.connect(self._on_input_changed)
        layout.addWidget(self.protection)

        self.preview_model = LegTableModel(self)
        self.preview_view = row_table(QTableView(self), self.preview_model, "multiStrikePreview")
        # Never shorter than the default band (strikes below + ATM + above) with a horizontal scroll bar: the
        # panel's first look shows the whole preview.
        default_rows = self.strikes_below_spin.value() + 1 + self.strikes_above_spin.value()
        self.preview_view.setMinimumHeight(rows_height(self.preview_view, default_rows)
                                           + self.preview_view.horizontalScrollBar().sizeHint().height())
        layout.addWidget(self.preview_view, 1)

        self.totals_label = QLabel(self)
        self.totals_label.setObjectName("multiStrikeTotals")
        layout.addWidget(self.totals_label)
        self.error_label = QLabel(self)
        self.error_label.setObjectName("multiStrikeError")
        self.error_label.setWordWrap(True)
        self.error_label.setStyleSheet(f"color: {palette.ERROR};")
        self.error_label.setVisible(False)
        layout.addWidget(self.error_label)
        self.status_label = QLabel(self)
        self.status_label.setObjectName("multiStrikeStatus")
        layout.addWidget(self.status_label)

        actions = QHBoxLayout()
        self.buy_button = QPushButton("BUY…", self)
        self.buy_button.setObjectName("buyButton")
        self.buy_button.clicked.connect(self._on_buy)
        self.exit_button = QPushButton(self)
        self.exit_button.setObjectName("exitButton")
        self.exit_button.clicked.connect(self._on_exit)
        actions.addWidget(self.buy_button)
        actions.addWidget(self.exit_button)
        layout.addLayout(actions)

    def _right_button(self, text: str, name: str, right: OptionRight) -> QPushButton:
        button = QPushButton(text, self)
        button.setObjectName(name)
        button.setCheckable(True)
        self._rights.addButton(button, 0 if right is OptionRight.CE else 1)
        return button

    # -- public ----------------------------------------------------------------------------------------------
    def set_instrument(self, underlying: str, expiry: date) -> None:
        self._underlying, self._expiry = underlying, expiry
        self._update_exit_text()
        self._on_input_changed()

    def set_lots(self, lots: int) -> None:
        self.lots_spin.setValue(lots)  # valueChanged refreshes the preview

    @property
    def right(self) -> OptionRight:
        return OptionRight.PE if self.put_button.isChecked() else OptionRight.CE

    def inputs(self) -> MultiStrikeInputs:
        """The inputs as they stand; ProtectionError names a protection distance that is not above zero."""
        return MultiStrikeInputs(
            underlying=self._underlying, expiry=self._expiry, right=self.right,
            strikes_below=self.strikes_below_spin.value(), strikes_above=self.strikes_above_spin.value(),
            lots=self.lots_spin.value(), order_type=chosen(self.order_type_combo, OrderType),
            algo=chosen(self.algo_combo, Algo), protection=self.protection.spec(),
        )

    def refresh_preview(self) -> None:
        """Rebuild the legs at current prices; an input the desk rejects shows inline and disables BUY."""
        if self._desk.stopped:
            return
        self.instrument_label.setText(f"{self._underlying} {self._expiry:%d %b %Y}")
        try:
            inputs = self.inputs()
            legs = inputs.legs(self._desk)
            atm = self._desk.atm_strike(inputs.underlying)
        except INPUT_ERRORS as exc:
            self._show_legs([], None)
            self._preview_error = describe_input_error(exc)
        else:
            self._show_legs(legs, atm)
            self._preview_error = "" if legs else "strikes: no strike of this band is above zero"
        self._render_error()

    # -- preview ---------------------------------------------------------------------------------------------
    def _show_legs(self, legs: list[LegPreview], atm: float | None) -> None:
        self._legs = legs
        self.preview_model.set_legs(legs, atm)
        self.totals_label.setText(LegTotals.of(legs).text() if legs else "")

    def _render_error(self) -> None:
        message = self._preview_error or self._send_error
        self.error_label.setText(message)
        self.error_label.setVisible(bool(message))
        self.buy_button.setEnabled(not self._preview_error and bool(self._legs))

    def _on_input_changed(self) -> None:
        self._send_error = ""
        self.refresh_preview()

    def _on_right_toggled(self, _id: int, checked: bool) -> None:
        if checked:  # the exclusive group toggles twice per switch; act on the new one only
            self._update_exit_text()
            self._on_input_changed()

    def _update_exit_text(self) -> None:
        self.exit_button.setText(f"EXIT all {self._underlying} {self.right.value}")

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802
        super().showEvent(event)
        self.refresh_preview()
        self._timer.start()

    def hideEvent(self, event: QHideEvent) -> None:  # noqa: N802
        self._timer.stop()
        super().hideEvent(event)

    # -- BUY -------------------------------------------------------------------------------------------------
    def _on_buy(self) -> None:
        self.refresh_preview()  # confirm what the market shows now, not up to half a second ago
        if self._preview_error or not self._legs:
            return
        if self.confirm_dialog is not None:
            self.confirm_dialog.reject()
        dialog = MultiStrikeConfirmDialog(self.inputs(), self._legs, self)
        dialog.finished.connect(lambda result: self._on_confirm_finished(dialog, result))
        self.confirm_dialog = dialog
        dialog.open()

    def _on_confirm_finished(self, dialog: MultiStrikeConfirmDialog, result: int) -> None:
        if self.confirm_dialog is dialog:
            self.confirm_dialog = None
        dialog.deleteLater()
        if result == QDialog.DialogCode.Accepted:
            self._send(dialog.inputs, dialog.symbols)

    def _send(self, inputs: MultiStrikeInputs, symbols: list[str]) -> None:
        """Rebuild the confirmed strikes at current prices under one group id and send them all, or nothing."""
        group = self._desk.new_group("MS")
        try:
            by_symbol = {leg.request.symbol: leg for leg in inputs.legs(self._desk, group=group,
                                                                       slack=CONFIRM_SLACK_STRIKES)}
            missing = [s for s in symbols if s not in by_symbol]
            if missing:
                raise InvalidOrder(f"strikes: ATM moved too far since the preview ({', '.join(missing)}); "
                                   "review and BUY again")
            sent = self._desk.submit_many([by_symbol[s].request for s in symbols])
        except INPUT_ERRORS as exc:
            self._send_error = describe_input_error(exc)
            self._render_error()
            return
        self._send_error = ""
        self._render_error()
        self._group = group
        self._group_status = {s.parent_id: None for s in sent}
        self._render_group_status()
        self.submitted.emit(sent)

    def _on_parent_finished(self, event: ParentFinished) -> None:
        result = event.result
        if result.parent_id in self._group_status:
            self._group_status[result.parent_id] = result.status
            self._render_group_status()

    def _render_group_status(self) -> None:
        statuses = list(self._group_status.values())
        done = [s for s in statuses if s is not None]
        counts = ", ".join(f"{done.count(s)} {s.value}" for s in ParentStatus if s in done)
        self.status_label.setText(
            f"{self._group}: {len(statuses)} parents sent, {len(done)} finished" + (f" ({counts})" if counts else "")
        )

    # -- EXIT ------------------------------------------------------------------------------------------------
    def _on_exit(self) -> None:
        right, underlying = self.right, self._underlying
        task = self._desk.start_exit(right=right, underlying=underlying, source="multi_strike_exit")
        task.add_done_callback(lambda t: self._on_exit_done(t, f"{underlying} {right.value}"))
        self.exit_started.emit(task)

    def _on_exit_done(self, task: asyncio.Task[list[Submitted]], what: str) -> None:
        if not shiboken6.isValid(self):  # the window closed while the exit was being prepared
            return
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            self.status_label.setText(f"EXIT all {what} failed: {exc}")
            return
        exits = task.result()
        self.status_label.setText(
            f"EXIT all {what}: {len(exits)} exit orders sent" if exits else f"EXIT all {what}: no open positions"
        )
