"""The header bar: underlying quick buttons, expiry picker, lots, the mode badge (PAPER, PAPER · LIVE DATA, LIVE),
EXIT ALL and the kill switch. It owns the trader's current instrument choice and announces it; it sends nothing
itself except through `Desk` (EXIT ALL, kill switch)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QWidget,
)

from imperium_desk.desk import Desk, StateEvent
from imperium_desk.domain.enums import Mode
from imperium_desk.ui import palette
from imperium_desk.ui.bridge import DeskBridge
from imperium_desk.ui.widgets import spin_box

QUICK_UNDERLYINGS = ("NIFTY", "BANKNIFTY", "FINNIFTY", "MIDCPNIFTY", "SENSEX")


@dataclass(frozen=True, slots=True)
class BadgeLook:
    """How the mode badge reads: its text, tooltip and, for the broker modes, its fill and text colours (PAPER
    keeps the theme's look, resources/theme.qss)."""

    text: str
    tooltip: str
    fill: str | None = None
    ink: str = palette.ON_FILL


MODE_BADGES: dict[Mode, BadgeLook] = {
    Mode.PAPER: BadgeLook("PAPER", "Paper trading on the simulated exchange"),
    Mode.PAPER_LIVE_DATA: BadgeLook(
        "PAPER · LIVE DATA", "Paper exchange filling against Kite's live quotes: no money at risk",
        palette.LIVE_DATA_FILL, palette.ON_LIGHT_FILL,
    ),
    Mode.LIVE: BadgeLook("LIVE", "LIVE: real orders through Kite", palette.LIVE_FILL, palette.ON_FILL),
}


def badge_look(mode: Mode) -> BadgeLook:
    """The badge for `mode`; a mode without a window of its own (replay) reads as its name."""
    return MODE_BADGES.get(mode, BadgeLook(mode.value.upper(), f"{mode.value} mode"))


class HeaderBar(QWidget):
    """The bar above the ladder: the instrument (underlying, expiry) and lots the trader works in, announced
    through `instrument_changed` and `lots_changed`, plus the mode badge, EXIT ALL and the kill switch."""

    instrument_changed = Signal(str, object)  # underlying, expiry (date)
    lots_changed = Signal(int)

    def __init__(self, desk: Desk, bridge: DeskBridge, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("headerBar")
        self._desk = desk
        layout = QHBoxLayout(self)
        layout.setContentsMargins(4, 2, 4, 2)

        self.underlying_buttons: dict[str, QPushButton] = {}
        self._group = QButtonGroup(self)
        self._group.setExclusive(True)
        available = set(desk.underlyings)
        for name in QUICK_UNDERLYINGS:
            button = QPushButton(name)
            button.setObjectName("underlyingButton")
            button.setCheckable(True)
            button.setEnabled(name in available)
            if name not in available:
                button.setToolTip(f"{name} is not in market.underlyings of this config")
            button.clicked.connect(lambda _=False, n=name: self.set_underlying(n))
            self._group.addButton(button)
            layout.addWidget(button)
            self.underlying_buttons[name] = button

        layout.addSpacing(12)
        layout.addWidget(QLabel("Expiry"))
        self.expiry_combo = QComboBox()
        self.expiry_combo.setObjectName("expiryCombo")
        self.expiry_combo.setMinimumContentsLength(12)
        self.expiry_combo.currentIndexChanged.connect(self._expiry_picked)
        layout.addWidget(self.expiry_combo)

        layout.addWidget(QLabel("Lots"))
        # The risk gate refuses bigger orders, so the box offers no more.
        self.lots_spin = spin_box(self, "lotsSpin", range=(1, desk.config.risk.max_order_lots), value=1)
        self.lots_spin.valueChanged.connect(self.lots_changed)
        layout.addWidget(self.lots_spin)
        self.lot_label = QLabel()
        self.lot_label.setObjectName("lotSizeLabel")
        layout.addWidget(self.lot_label)

        layout.addStretch(1)
        look = badge_look(desk.mode)
        self.mode_badge = QLabel(look.text)
        self.mode_badge.setObjectName("modeBadge")
        self.mode_badge.setProperty("mode", desk.mode.value)
        self.mode_badge.setToolTip(look.tooltip)
        if look.fill is not None:  # over the theme's badge rule, which keeps its shape (radius, padding, weight)
            self.mode_badge.setStyleSheet(
                f"QLabel#modeBadge {{ background: {look.fill}; color: {look.ink}; }}")
        layout.addWidget(self.mode_badge)

        self.kill_switch = QPushButton("KILL SWITCH")
        self.kill_switch.setObjectName("killSwitch")
        self.kill_switch.setCheckable(True)
        self.kill_switch.setToolTip("Block every new order (exits still go) — Ctrl+Shift+K")
        self.kill_switch.setChecked(desk.kill_switch)
        self.kill_switch.toggled.connect(desk.set_kill_switch)
        layout.addWidget(self.kill_switch)

        self.exit_all = QPushButton("EXIT ALL")
        self.exit_all.setObjectName("exitAllButton")
        self.exit_all.setToolTip("Close every open position at market; never blocked by risk limits — Ctrl+Shift+X")
        self.exit_all.clicked.connect(self.exit_all_positions)
        layout.addWidget(self.exit_all)

        bridge.state.connect(self._on_state)
        self.underlying = ""
        self.expiry: date | None = None
        first = next((n for n in QUICK_UNDERLYINGS if n in available), desk.underlyings[0])
        self.set_underlying(first)

    @property
    def lots(self) -> int:
        return self.lots_spin.value()

    def set_underlying(self, name: str) -> None:
        if name == self.underlying:
            return
        self.underlying = name
        button = self.underlying_buttons.get(name)
        if button is not None:
            button.setChecked(True)
        self.lot_label.setText(f"x {self._desk.lot_size(name)}")
        self.expiry_combo.blockSignals(True)
        self.expiry_combo.clear()
        for expiry in self._desk.expiries(name, 4):
            self.expiry_combo.addItem(f"{expiry:%d %b %Y} ({expiry:%a})", expiry)
        self.expiry_combo.blockSignals(False)
        self.expiry_combo.setCurrentIndex(0)
        self._expiry_picked(0)

    def exit_all_positions(self) -> None:
        self._desk.start_exit(source="exit_all")

    def _expiry_picked(self, index: int) -> None:
        expiry = self.expiry_combo.itemData(index)
        if isinstance(expiry, date):
            self.expiry = expiry
            self.instrument_changed.emit(self.underlying, expiry)

    def _on_state(self, state: StateEvent) -> None:
        if self.kill_switch.isChecked() != state.kill_switch:
            self.kill_switch.blockSignals(True)
            self.kill_switch.setChecked(state.kill_switch)
            self.kill_switch.blockSignals(False)
