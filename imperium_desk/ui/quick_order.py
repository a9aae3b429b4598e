"""Quick order ticket for one ladder click: side, lots, order type, algo and its parameters, a live pre-trade
estimate, and an inline error instead of sending anything the desk would refuse.

Non-modal: open it with `.open()` and listen to `placed`; Enter places (Place is the default button), Esc cancels.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from enum import StrEnum
from typing import override

from pydantic import ValidationError
from PySide6.QtCore import QTimer, Signal
from PySide6.QtWidgets import (
    QAbstractButton,
    QButtonGroup,
    QComboBox,
    QDialog,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from imperium_desk.desk import Desk, InvalidOrder, PreTradeEstimate, Submitted
from imperium_desk.domain.enums import Algo, OrderType, Side, Urgency
from imperium_desk.execution.request import ExecutionRequest, RequestMetadata
from imperium_desk.market.port import Quote
from imperium_desk.ui.bridge import DeskBridge
from imperium_desk.ui.ladder import LadderClick, format_strike

# Semantic colours only: the checked BUY/SELL toggle and the inline error.
COLOURS: dict[str, str] = {"buy": "#1f8f4e", "sell": "#c0392b", "error": "#ff6b61", "on_colour": "#ffffff"}

ESTIMATE_THROTTLE_MS = 250  # at most four estimate refreshes a second from ticks
MAX_LOTS = 10_000  # risk limits reject bigger orders; this only bounds the spin box
MAX_PRICE = 1_000_000.0
MAX_HORIZON_S = 6.5 * 3600  # one session
MAX_CHILD_ORDERS = 1000
SOURCE = "ladder"

# Which parameter rows each algo uses.
ALGO_PARAMS: dict[Algo, frozenset[str]] = {
    Algo.IMMEDIATE: frozenset(),
    Algo.IS: frozenset({"horizon", "children", "urgency"}),
    Algo.TWAP: frozenset({"horizon", "children"}),
    Algo.VWAP: frozenset({"horizon", "children"}),
    Algo.POV: frozenset({"participation", "horizon"}),
}


def describe_validation(exc: ValidationError) -> str:
    """pydantic errors as `field: message`, one per problem."""
    return "; ".join(f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors())


def format_estimate(estimate: PreTradeEstimate) -> str:
    return (
        f"est. {estimate.expected_price:.2f} ({estimate.cost_bps:.1f} bps, half-spread {estimate.half_spread:.2f}, "
        f"impact {estimate.impact:.2f}) premium {estimate.premium:,.2f}"
    )


def _positive(price: float) -> float | None:
    # A one-sided book shows 0; the request wants a positive price or none.
    return price if price > 0 else None


class QuickOrderDialog(QDialog):
    """The ticket for one ladder click. `submitted` holds the desk's `Submitted` once placed."""

    placed = Signal(object)  # Submitted

    def __init__(
        self,
        desk: Desk,
        click: LadderClick,
        lots: int,
        parent: QWidget | None = None,
        *,
        bridge: DeskBridge | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("quickOrderDialog")
        self.desk = desk
        self.click = click
        self.submitted: Submitted | None = None
        contract = desk.contract(click.underlying, click.expiry, click.strike, click.right)
        self.lot_size = contract.lot_size
        self._limit_edited = False  # the trader typed a limit price: side flips leave it alone
        self._prefilling = False
        self._bridge = bridge

        self.setWindowTitle(f"{click.symbol}")
        self.symbol_label = QLabel(
            f"{click.underlying} {format_strike(click.strike)} {click.right.value}   {click.expiry:%d %b %Y}", self
        )
        self.symbol_label.setObjectName("ticketSymbol")
        self.symbol_label.setToolTip(click.symbol)

        self.buy_button = self._side_button("BUY", "ticketBuy", COLOURS["buy"])
        self.sell_button = self._side_button("SELL", "ticketSell", COLOURS["sell"])
        self._sides = QButtonGroup(self)
        self._sides.setExclusive(True)
        self._sides.addButton(self.buy_button)
        self._sides.addButton(self.sell_button)
        (self.buy_button if click.side is Side.BUY else self.sell_button).setChecked(True)
        sides = QHBoxLayout()
        sides.addWidget(self.buy_button)
        sides.addWidget(self.sell_button)

        self.lots_spin = QSpinBox(self)
        self.lots_spin.setObjectName("ticketLots")
        self.lots_spin.setRange(1, MAX_LOTS)
        self.lots_spin.setValue(max(1, min(lots, MAX_LOTS)))
        self.units_label = QLabel(self)
        self.units_label.setObjectName("ticketUnits")
        lots_row = QHBoxLayout()
        lots_row.addWidget(self.lots_spin)
        lots_row.addWidget(self.units_label, 1)

        self.order_type_combo = self._combo("ticketOrderType", list(OrderType), OrderType.MARKET)
        self.limit_spin = QDoubleSpinBox(self)
        self.limit_spin.setObjectName("ticketLimitPrice")
        self.limit_spin.setDecimals(2)
        self.limit_spin.setSingleStep(contract.tick_size)
        self.limit_spin.setRange(0.0, MAX_PRICE)  # 0 is typeable on purpose: it is shown as an error, not hidden

        execution = desk.config.execution
        self.algo_combo = self._combo("ticketAlgo", list(Algo), execution.algo)
        self.horizon_spin = QDoubleSpinBox(self)
        self.horizon_spin.setObjectName("ticketHorizon")
        self.horizon_spin.setDecimals(1)
        self.horizon_spin.setRange(0.0, MAX_HORIZON_S)
        self.horizon_spin.setSuffix(" s")
        self.horizon_spin.setValue(execution.horizon_s)
        self.children_spin = QSpinBox(self)
        self.children_spin.setObjectName("ticketChildren")
        self.children_spin.setRange(1, MAX_CHILD_ORDERS)
        self.children_spin.setValue(execution.max_child_orders)
        self.participation_spin = QDoubleSpinBox(self)
        self.participation_spin.setObjectName("ticketParticipation")
        self.participation_spin.setDecimals(1)
        self.participation_spin.setRange(0.0, 100.0)
        self.participation_spin.setSuffix(" %")
        self.participation_spin.setValue(execution.participation_rate * 100.0)
        self.urgency_combo = self._combo("ticketUrgency", list(Urgency), execution.urgency)

        self.estimate_label = QLabel(self)
        self.estimate_label.setObjectName("ticketEstimate")
        self.error_label = QLabel(self)
        self.error_label.setObjectName("ticketError")
        self.error_label.setWordWrap(True)
        self.error_label.setStyleSheet(f"color: {COLOURS['error']};")

        self.place_button = QPushButton("Place", self)
        self.place_button.setObjectName("ticketPlace")
        self.place_button.setDefault(True)
        self.cancel_button = QPushButton("Cancel", self)
        self.cancel_button.setObjectName("ticketCancel")
        self.cancel_button.setAutoDefault(False)  # Enter always means Place, wherever the focus is
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.cancel_button)
        buttons.addWidget(self.place_button)

        self._form = QFormLayout()
        self._form.addRow("Side", sides)
        self._form.addRow("Lots", lots_row)
        self._form.addRow("Type", self.order_type_combo)
        self._form.addRow("Limit", self.limit_spin)
        self._form.addRow("Algo", self.algo_combo)
        self._form.addRow("Horizon", self.horizon_spin)
        self._form.addRow("Max children", self.children_spin)
        self._form.addRow("Participation", self.participation_spin)
        self._form.addRow("Urgency", self.urgency_combo)
        layout = QVBoxLayout(self)
        layout.addWidget(self.symbol_label)
        layout.addLayout(self._form)
        layout.addWidget(self.estimate_label)
        layout.addWidget(self.error_label)
        layout.addLayout(buttons)

        self._tick_timer = QTimer(self)
        self._tick_timer.setSingleShot(True)
        self._tick_timer.setInterval(ESTIMATE_THROTTLE_MS)
        self._tick_timer.timeout.connect(self.refresh)
        if bridge is not None:
            bridge.ticks.connect(self._on_ticks)

        self._sides.buttonToggled.connect(self._on_side_toggled)
        self.lots_spin.valueChanged.connect(self.refresh)
        self.order_type_combo.currentIndexChanged.connect(self._on_order_type_changed)
        self.limit_spin.valueChanged.connect(self._on_limit_changed)
        self.algo_combo.currentIndexChanged.connect(self.refresh)
        self.horizon_spin.valueChanged.connect(self.refresh)
        self.children_spin.valueChanged.connect(self.refresh)
        self.participation_spin.valueChanged.connect(self.refresh)
        self.urgency_combo.currentIndexChanged.connect(self.refresh)
        self.place_button.clicked.connect(self.place)
        self.cancel_button.clicked.connect(self.reject)

        self._prefill_limit()
        self._apply_side_look()
        self.refresh()
        self.lots_spin.setFocus()
        self.lots_spin.selectAll()

    # -- what the ticket says ------------------------------------------------------------------------------
    @property
    def side(self) -> Side:
        return Side.BUY if self.buy_button.isChecked() else Side.SELL

    @property
    def lots(self) -> int:
        return self.lots_spin.value()

    @property
    def order_type(self) -> OrderType:
        return OrderType(self.order_type_combo.currentData())

    @property
    def algo(self) -> Algo:
        return Algo(self.algo_combo.currentData())

    @property
    def urgency(self) -> Urgency:
        return Urgency(self.urgency_combo.currentData())

    def build_request(self) -> ExecutionRequest:
        """The request as the ticket stands; pydantic's ValidationError names a bad field."""
        quote = self._quote()
        params = ALGO_PARAMS[self.algo]
        return ExecutionRequest(
            symbol=self.click.symbol,
            side=self.side,
            quantity=self.lots * self.lot_size,
            order_type=self.order_type,
            limit_price=round(self.limit_spin.value(), 2) if self.order_type is OrderType.LIMIT else None,
            algo=self.algo,
            horizon_s=self.horizon_spin.value() if "horizon" in params else None,
            max_child_orders=self.children_spin.value() if "children" in params else None,
            participation_rate=self.participation_spin.value() / 100.0 if "participation" in params else None,
            urgency=self.urgency if "urgency" in params else None,
            ltp=_positive(quote.ltp),
            bid=_positive(quote.bid),
            ask=_positive(quote.ask),
            metadata=RequestMetadata(source=SOURCE),
        )

    # -- actions -------------------------------------------------------------------------------------------
    def refresh(self) -> None:
        """Re-validate and re-estimate: the units line, parameter rows, estimate, error and Place state."""
        self.units_label.setText(f"x {self.lot_size} = {self.lots * self.lot_size:,} units")
        self.limit_spin.setEnabled(self.order_type is OrderType.LIMIT)
        params = ALGO_PARAMS[self.algo]
        self._form.setRowVisible(self.horizon_spin, "horizon" in params)
        self._form.setRowVisible(self.children_spin, "children" in params)
        self._form.setRowVisible(self.participation_spin, "participation" in params)
        self._form.setRowVisible(self.urgency_combo, "urgency" in params)
        estimate = self._checked(self.desk.preview)
        if estimate is None:
            return
        self.error_label.setText("")
        self.place_button.setEnabled(True)
        self.estimate_label.setText(format_estimate(estimate))

    def _checked[T](self, action: Callable[[ExecutionRequest], T]) -> T | None:
        """Build the request and hand it to `action` (preview or submit); a problem is shown inline -> None."""
        try:
            return action(self.build_request())
        except ValidationError as exc:
            self._show_invalid(describe_validation(exc))
        except InvalidOrder as exc:
            self._show_invalid(str(exc))
        return None

    def place(self) -> None:
        """Send the order; on a problem show it inline, send nothing and stay open."""
        if self.submitted is not None:
            return
        submitted = self._checked(self.desk.submit)
        if submitted is None:
            return
        self.submitted = submitted
        self.placed.emit(submitted)
        self.accept()

    @override
    def done(self, result: int) -> None:
        # A closed ticket stops listening, so a hidden dialog never re-estimates on ticks.
        self._tick_timer.stop()
        if self._bridge is not None:
            self._bridge.ticks.disconnect(self._on_ticks)
            self._bridge = None
        super().done(result)

    # -- internals -----------------------------------------------------------------------------------------
    def _side_button(self, text: str, name: str, colour: str) -> QPushButton:
        button = QPushButton(text, self)
        button.setObjectName(name)
        button.setCheckable(True)
        button.setAutoDefault(False)  # Enter on a focused toggle still places
        button.setStyleSheet(
            f"QPushButton#{name}:checked {{ background-color: {colour}; color: {COLOURS['on_colour']}; }}"
        )
        return button

    def _combo(self, name: str, choices: Sequence[StrEnum], current: StrEnum) -> QComboBox:
        combo = QComboBox(self)
        combo.setObjectName(name)
        for choice in choices:  # Qt hands a StrEnum back as a plain str: store the value, convert on read
            combo.addItem(choice.value, choice.value)
        combo.setCurrentIndex(max(0, combo.findData(current.value)))
        return combo

    def _quote(self) -> Quote:
        return self.desk.quote(self.click.symbol)

    def _prefill_limit(self) -> None:
        """Limit at the touch this side trades against (ask to buy, bid to sell), unless the trader typed one."""
        if self._limit_edited:
            return
        quote = self._quote()
        touch = quote.ask if self.side is Side.BUY else quote.bid
        self._prefilling = True
        try:
            self.limit_spin.setValue(touch)
        finally:
            self._prefilling = False

    def _apply_side_look(self) -> None:
        side = self.side
        self.place_button.setText(f"Place {side.value.upper()}")
        self.setWindowTitle(f"{side.value.upper()} {self.click.symbol}")

    def _on_side_toggled(self, _button: QAbstractButton, checked: bool) -> None:
        if not checked:  # the other button's toggle carries the new side
            return
        self._prefill_limit()
        self._apply_side_look()
        self.refresh()

    def _on_order_type_changed(self) -> None:
        if self.order_type is OrderType.LIMIT:
            self._prefill_limit()  # a fresh touch, not the one from when the ticket opened
        self.refresh()

    def _on_limit_changed(self) -> None:
        if not self._prefilling:
            self._limit_edited = True
        self.refresh()

    def _on_ticks(self, quotes: Sequence[Quote]) -> None:
        if not self._tick_timer.isActive() and any(q.symbol == self.click.symbol for q in quotes):
            self._tick_timer.start()

    def _show_invalid(self, message: str) -> None:
        self.error_label.setText(message)
        self.place_button.setEnabled(False)
        self.estimate_label.setText("est. -")
