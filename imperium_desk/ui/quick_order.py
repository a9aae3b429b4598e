"""Quick order ticket for one ladder click: side, lots, order type, algo and its parameters, the entry's optional
stop-loss, target and trailing stop with the prices they would trigger at, a live pre-trade estimate, and an inline
error instead of sending anything the desk would refuse.

Non-modal: open it with `.open()` and listen to `placed`; Enter places (Place is the default button), Esc cancels.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, override

from pydantic import ValidationError
from PySide6.QtCore import QTimer, Signal
from PySide6.QtWidgets import (
    QAbstractButton,
    QButtonGroup,
    QDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from imperium_desk.desk import Desk, InvalidOrder, PreTradeEstimate, Submitted
from imperium_desk.domain.enums import Algo, OrderType, Side, Urgency
from imperium_desk.domain.protection import ProtectionError, ProtectionLevels, ProtectionSpec, levels
from imperium_desk.domain.validation import field_error_text
from imperium_desk.execution.request import ExecutionRequest, RequestMetadata
from imperium_desk.market.port import Quote
from imperium_desk.ui import palette
from imperium_desk.ui.bridge import DeskBridge
from imperium_desk.ui.ladder import LadderClick, format_strike
from imperium_desk.ui.protection_fields import ProtectionFields
from imperium_desk.ui.widgets import chosen, enum_combo, spin_box

ESTIMATE_THROTTLE_MS = 250  # at most four estimate refreshes a second from ticks
MAX_PRICE = 1_000_000.0
MAX_HORIZON_S = 6.5 * 3600  # one session
MAX_CHILD_ORDERS = 1000
SOURCE = "ladder"

# Which algo parameters (ExecutionRequest fields) each algo uses; the others are hidden and sent as None.
ALGO_PARAMS: dict[Algo, frozenset[str]] = {
    Algo.IMMEDIATE: frozenset(),
    Algo.IS: frozenset({"horizon_s", "max_child_orders", "urgency"}),
    Algo.TWAP: frozenset({"horizon_s", "max_child_orders"}),
    Algo.VWAP: frozenset({"horizon_s", "max_child_orders"}),
    Algo.POV: frozenset({"participation_rate", "horizon_s"}),
}


def format_estimate(estimate: PreTradeEstimate) -> str:
    return (
        f"est. {estimate.expected_price:.2f} ({estimate.cost_bps:.1f} bps, half-spread {estimate.half_spread:.2f}, "
        f"impact {estimate.impact:.2f}) premium {estimate.premium:,.2f}"
    )


def _positive(price: float) -> float | None:
    # A one-sided book shows 0; the request wants a positive price or none.
    return price if price > 0 else None


@dataclass(frozen=True, slots=True)
class AlgoParamField:
    """One algo parameter on the ticket: the widget on its form row, and its value as the request wants it."""

    widget: QWidget
    value: Callable[[], Any]


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
        self._tick_size = contract.tick_size
        self._limit_edited = False  # the trader typed a limit price: side flips leave it alone
        self._prefilling = False
        self._bridge = bridge

        self._build_fields(lots)
        self._lay_out()
        self._tick_timer = QTimer(self)
        self._tick_timer.setSingleShot(True)
        self._tick_timer.setInterval(ESTIMATE_THROTTLE_MS)
        self._connect_signals()

        self._prefill_limit()
        self._apply_side_look()
        self.refresh()
        self.lots_spin.setFocus()
        self.lots_spin.selectAll()

    # -- construction --------------------------------------------------------------------------------------
    def _build_fields(self, lots: int) -> None:
        click = self.click
        self.symbol_label = QLabel(
            f"{click.underlying} {format_strike(click.strike)} {click.right.value}   {click.expiry:%d %b %Y}", self
        )
        self.symbol_label.setObjectName("ticketSymbol")
        self.symbol_label.setToolTip(click.symbol)

        self.buy_button = self._side_button("BUY", "ticketBuy", palette.BUY_FILL)
        self.sell_button = self._side_button("SELL", "ticketSell", palette.SELL_FILL)
        self._sides = QButtonGroup(self)
        self._sides.setExclusive(True)
        self._sides.addButton(self.buy_button)
        self._sides.addButton(self.sell_button)
        (self.buy_button if click.side is Side.BUY else self.sell_button).setChecked(True)

        max_lots = self.desk.config.risk.max_order_lots  # the risk gate refuses more, so the box offers no more
        self.lots_spin = spin_box(self, "ticketLots", range=(1, max_lots), value=max(1, min(lots, max_lots)))
        self.units_label = QLabel(self)
        self.units_label.setObjectName("ticketUnits")

        self.order_type_combo = enum_combo(self, "ticketOrderType", OrderType, OrderType.MARKET)
        # 0 is typeable on purpose: it is shown as an error, not hidden
        self.limit_spin = spin_box(self, "ticketLimitPrice", range=(0.0, MAX_PRICE), value=0.0, decimals=2)
        self.limit_spin.setSingleStep(self._tick_size)

        execution = self.desk.config.execution
        self.algo_combo = enum_combo(self, "ticketAlgo", Algo, execution.algo)
        self.horizon_spin = spin_box(self, "ticketHorizon", range=(0.0, MAX_HORIZON_S), value=execution.horizon_s,
                                     decimals=1, suffix="s")
        self.children_spin = spin_box(self, "ticketChildren", range=(1, MAX_CHILD_ORDERS),
                                      value=execution.max_child_orders)
        self.participation_spin = spin_box(self, "ticketParticipation", range=(0.0, 100.0),
                                           value=execution.participation_rate * 100.0, decimals=1, suffix="%")
        self.urgency_combo = enum_combo(self, "ticketUrgency", Urgency, execution.urgency)
        # Keyed by ExecutionRequest field, as ALGO_PARAMS names them: drives the rows shown and the request sent.
        self._algo_params: dict[str, AlgoParamField] = {
            "horizon_s": AlgoParamField(self.horizon_spin, self.horizon_spin.value),
            "max_child_orders": AlgoParamField(self.children_spin, self.children_spin.value),
            "participation_rate": AlgoParamField(self.participation_spin,
                                                 lambda: self.participation_spin.value() / 100.0),
            "urgency": AlgoParamField(self.urgency_combo, lambda: self.urgency),
        }

        # Off by default: a distance typed in a field arms that protection on what the entry fills.
        self.protection = ProtectionFields("ticket", self)

        self.estimate_label = QLabel(self)
        self.estimate_label.setObjectName("ticketEstimate")
        self.error_label = QLabel(self)
        self.error_label.setObjectName("ticketError")
        self.error_label.setWordWrap(True)
        self.error_label.setStyleSheet(f"color: {palette.ERROR};")

        self.place_button = QPushButton("Place", self)
        self.place_button.setObjectName("ticketPlace")
        self.place_button.setDefault(True)
        self.cancel_button = QPushButton("Cancel", self)
        self.cancel_button.setObjectName("ticketCancel")
        self.cancel_button.setAutoDefault(False)  # Enter always means Place, wherever the focus is

    def _lay_out(self) -> None:
        sides = QHBoxLayout()
        sides.addWidget(self.buy_button)
        sides.addWidget(self.sell_button)
        lots_row = QHBoxLayout()
        lots_row.addWidget(self.lots_spin)
        lots_row.addWidget(self.units_label, 1)
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
        self._form.addRow("Protect", self.protection)
        layout = QVBoxLayout(self)
        layout.addWidget(self.symbol_label)
        layout.addLayout(self._form)
        layout.addWidget(self.estimate_label)
        layout.addWidget(self.error_label)
        layout.addLayout(buttons)

    def _connect_signals(self) -> None:
        self._tick_timer.timeout.connect(self.refresh)
        if self._bridge is not None:
            self._bridge.ticks.connect(self._on_ticks)
        self._sides.buttonToggled.connect(self._on_side_toggled)
        self.order_type_combo.currentIndexChanged.connect(self._on_order_type_changed)
        self.limit_spin.valueChanged.connect(self._on_limit_changed)
        for refreshing in (self.lots_spin, self.horizon_spin, self.children_spin, self.participation_spin):
            refreshing.valueChanged.connect(self.refresh)
        self.algo_combo.currentIndexChanged.connect(self.refresh)
        self.urgency_combo.currentIndexChanged.connect(self.refresh)
        self.protection.changed.connect(self.refresh)
        self.place_button.clicked.connect(self.place)
        self.cancel_button.clicked.connect(self.reject)

    # -- what the ticket says ------------------------------------------------------------------------------
    @property
    def side(self) -> Side:
        return Side.BUY if self.buy_button.isChecked() else Side.SELL

    @property
    def lots(self) -> int:
        return self.lots_spin.value()

    @property
    def order_type(self) -> OrderType:
        return chosen(self.order_type_combo, OrderType)

    @property
    def algo(self) -> Algo:
        return chosen(self.algo_combo, Algo)

    @property
    def urgency(self) -> Urgency:
        return chosen(self.urgency_combo, Urgency)

    def build_request(self) -> ExecutionRequest:
        """The request as the ticket stands; pydantic's ValidationError names a bad field, ProtectionError a
        protection distance that is not above zero."""
        quote = self._quote()
        used = ALGO_PARAMS[self.algo]
        return ExecutionRequest.model_validate({
            "symbol": self.click.symbol,
            "side": self.side,
            "quantity": self.lots * self.lot_size,
            "order_type": self.order_type,
            "limit_price": round(self.limit_spin.value(), 2) if self.order_type is OrderType.LIMIT else None,
            "algo": self.algo,
            **{key: param.value() if key in used else None for key, param in self._algo_params.items()},
            "ltp": _positive(quote.ltp),
            "bid": _positive(quote.bid),
            "ask": _positive(quote.ask),
            "metadata": RequestMetadata(source=SOURCE),
            "protection": self.protection.spec(),
        })

    def protection_levels(self, request: ExecutionRequest, estimate: PreTradeEstimate) -> ProtectionLevels | None:
        """The levels the request's protections work out to if it fills where the ticket expects: at its limit, or
        at the estimate's price for a market order; None without protections. ProtectionError names a field whose
        level makes no sense for this entry (at or below zero, a trail narrower than a tick)."""
        spec: ProtectionSpec | None = request.protection
        if spec is None:
            return None
        entry = request.limit_price if request.limit_price is not None else estimate.expected_price
        return levels(spec, request.side, entry, request.quantity, self._tick_size)

    # -- actions -------------------------------------------------------------------------------------------
    def refresh(self) -> None:
        """Re-validate and re-estimate: the units line, parameter rows, estimate, error and Place state."""
        self.units_label.setText(f"x {self.lot_size} = {self.lots * self.lot_size:,} units")
        self.limit_spin.setEnabled(self.order_type is OrderType.LIMIT)
        used = ALGO_PARAMS[self.algo]
        for key, param in self._algo_params.items():
            self._form.setRowVisible(param.widget, key in used)
        estimate = self._checked(lambda _request, estimate: estimate)
        if estimate is None:
            return
        self.error_label.setText("")
        self.place_button.setEnabled(True)
        self.estimate_label.setText(format_estimate(estimate))

    def _checked[T](self, action: Callable[[ExecutionRequest, PreTradeEstimate], T]) -> T | None:
        """Build the request, estimate it, show its protections' levels, and hand both to `action` (keep the
        estimate, or submit); a problem is shown inline -> None."""
        try:
            request = self.build_request()
            estimate = self.desk.preview(request)
            self.protection.show_levels(self.protection_levels(request, estimate))
            return action(request, estimate)
        except ValidationError as exc:
            self._show_invalid(field_error_text(exc))
        except (InvalidOrder, ProtectionError) as exc:
            self._show_invalid(str(exc))
        return None

    def place(self) -> None:
        """Send the order; on a problem show it inline, send nothing and stay open."""
        if self.submitted is not None:
            return
        submitted = self._checked(lambda request, _estimate: self.desk.submit(request))
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
            f"QPushButton#{name}:checked {{ background-color: {colour}; color: {palette.ON_FILL}; }}"
        )
        return button

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
        self.protection.show_levels(None)
