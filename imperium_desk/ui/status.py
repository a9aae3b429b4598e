"""The status bar: a running drill, mode, market clock and feed state, the execution stack's load, and the last
message."""

from __future__ import annotations

from datetime import datetime

from PySide6.QtWidgets import QStatusBar, QWidget

from imperium_desk.desk import Desk, StateEvent
from imperium_desk.domain.instruments import IST
from imperium_desk.ui import palette
from imperium_desk.ui.bridge import DeskBridge
from imperium_desk.ui.drills_live import DrillStatusLabel
from imperium_desk.ui.widgets import SteadyLabel

MESSAGE_MS = 8000


class DeskStatusBar(QStatusBar):
    """The status bar: a running drill, mode and broker, feed and market clock, the stack's load, the feedback
    server's address, and the last message for `MESSAGE_MS`."""

    def __init__(self, desk: Desk, bridge: DeskBridge, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.mode_label = SteadyLabel(f"{desk.mode.value.upper()} · {desk.config.broker.kind}")
        self.mode_label.setObjectName("statusMode")
        self.feed_label = SteadyLabel()
        self.feed_label.setObjectName("statusFeed")
        self.stack_label = SteadyLabel()
        self.stack_label.setObjectName("statusStack")
        self.server_label = SteadyLabel()
        self.server_label.setObjectName("statusServer")
        self.drill_label = DrillStatusLabel(desk, bridge)  # hidden unless a drill runs
        for label in (self.drill_label, self.mode_label, self.feed_label, self.stack_label, self.server_label):
            self.addPermanentWidget(label)
        self.server_label.hide()  # shown once a feedback server runs
        bridge.state.connect(self.on_state)
        bridge.message.connect(self.on_message)  # a bound slot: disconnected when the bar is deleted
        self.on_state(StateEvent(desk.kill_switch, desk.parents_in_flight, desk.children_in_flight,
                                 desk.engine.market.running, desk.clock.now()))

    def set_server_address(self, address: str) -> None:
        self.server_label.setStyleSheet("")
        self.server_label.setToolTip("")
        self.server_label.setText(f"feedback {address}")
        self.server_label.show()

    def set_server_error(self, error: str) -> None:
        """The feedback API could not start: the desk runs without it, and the bar says why."""
        self.server_label.setStyleSheet(f"color: {palette.ERROR};")
        self.server_label.setToolTip(error)
        self.server_label.setText("feedback API off")
        self.server_label.show()
        self.showMessage(f"Feedback API not started: {error}", MESSAGE_MS)

    def on_message(self, text: str) -> None:
        self.showMessage(text, MESSAGE_MS)

    def on_state(self, state: StateEvent) -> None:
        clock = datetime.fromtimestamp(state.market_time, IST).strftime("%H:%M:%S")
        feed = "feed live" if state.feed_running else "feed stopped"
        self.feed_label.setText(f"{clock} IST · {feed}")
        kill = " · KILL SWITCH ON" if state.kill_switch else ""
        in_flight = f"in flight: {state.parents_in_flight} parents / {state.children_in_flight} orders"
        self.stack_label.setText(in_flight + kill)
