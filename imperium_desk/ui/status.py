"""The status bar: a running drill, mode, market clock and feed state, the broker login and live feed in the
broker modes, the execution stack's load, and the last message."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from PySide6.QtWidgets import QStatusBar, QWidget

from imperium_desk.desk import Desk, FeedEvent, SessionEvent, SessionState, StateEvent
from imperium_desk.domain.enums import Mode
from imperium_desk.domain.instruments import IST
from imperium_desk.ui import palette
from imperium_desk.ui.bridge import DeskBridge
from imperium_desk.ui.drills_live import DrillStatusLabel
from imperium_desk.ui.header import badge_look
from imperium_desk.ui.widgets import SteadyLabel

MESSAGE_MS = 8000
SESSION_WARNING_MS = 60_000  # the login expiring is said once, so it stays long enough to be read


class FeedHealth(StrEnum):
    """How the live quote feed stands, as the status bar shows it."""

    LIVE = "live"
    STALE = "stale"  # connected, but no tick for the desk's stale_after_s
    RECONNECTING = "reconnecting"


def feed_health(event: FeedEvent) -> FeedHealth:
    # A dropped connection is the cause of any staleness that goes with it: say that first.
    if not event.connected:
        return FeedHealth.RECONNECTING
    return FeedHealth.STALE if event.stale else FeedHealth.LIVE


def feed_text(event: FeedEvent) -> str:
    match feed_health(event):
        case FeedHealth.RECONNECTING:
            return "feed reconnecting…"
        case FeedHealth.STALE:
            since = "" if event.seconds_since_tick is None else f" {event.seconds_since_tick:.0f} s"
            return f"feed STALE{since}"
        case FeedHealth.LIVE:
            return "feed live"


FEED_COLOURS: dict[FeedHealth, str | None] = {
    FeedHealth.LIVE: None,  # the bar's own text colour: nothing to report
    FeedHealth.STALE: palette.ERROR,
    FeedHealth.RECONNECTING: palette.WARN,
}


class DeskStatusBar(QStatusBar):
    """The status bar: a running drill, mode and broker, feed and market clock, the stack's load, the feedback
    server's address, and the last message for `MESSAGE_MS`. In the broker modes (PAPER · LIVE DATA, LIVE) it
    also shows the live feed's health (`FeedEvent`s) and a login that is expiring or expired (`SessionEvent`s),
    and warns once, in a message, when the login is about to expire."""

    def __init__(self, desk: Desk, bridge: DeskBridge, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._broker_feed = desk.mode in (Mode.PAPER_LIVE_DATA, Mode.LIVE)
        self._expiry_warned = False
        self.mode_label = SteadyLabel(f"{badge_look(desk.mode).text} · {desk.config.broker.kind}")
        self.mode_label.setObjectName("statusMode")
        self.feed_label = SteadyLabel()
        self.feed_label.setObjectName("statusFeed")
        self.live_feed_label = SteadyLabel()
        self.live_feed_label.setObjectName("statusLiveFeed")
        self.session_label = SteadyLabel()
        self.session_label.setObjectName("statusSession")
        self.stack_label = SteadyLabel()
        self.stack_label.setObjectName("statusStack")
        self.server_label = SteadyLabel()
        self.server_label.setObjectName("statusServer")
        self.drill_label = DrillStatusLabel(desk, bridge)  # hidden unless a drill runs
        for label in (self.drill_label, self.mode_label, self.session_label, self.feed_label, self.live_feed_label,
                      self.stack_label, self.server_label):
            self.addPermanentWidget(label)
        self.server_label.hide()  # shown once a feedback server runs
        self.session_label.hide()  # shown while the broker login is expiring or expired
        self.live_feed_health: FeedHealth | None = None
        if self._broker_feed:
            # The window opens only once the connector has connected, so the feed starts out live; the desk's
            # FeedEvents say when that changes.
            self.on_feed(FeedEvent(connected=True, stale=False, seconds_since_tick=None, reconnects=0))
        else:
            self.live_feed_label.hide()
        bridge.state.connect(self.on_state)
        bridge.message.connect(self.on_message)  # a bound slot: disconnected when the bar is deleted
        bridge.feed.connect(self.on_feed)
        bridge.session.connect(self.on_session)
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
        if self._broker_feed:  # the live feed label tells the feed's health, better than running/stopped
            self.feed_label.setText(f"{clock} IST")
        else:
            feed = "feed live" if state.feed_running else "feed stopped"
            self.feed_label.setText(f"{clock} IST · {feed}")
        kill = " · KILL SWITCH ON" if state.kill_switch else ""
        in_flight = f"in flight: {state.parents_in_flight} parents / {state.children_in_flight} orders"
        self.stack_label.setText(in_flight + kill)

    def on_feed(self, event: FeedEvent) -> None:
        if not self._broker_feed:
            return
        health = feed_health(event)
        if health is not self.live_feed_health:
            colour = FEED_COLOURS[health]
            self.live_feed_label.setStyleSheet("" if colour is None else f"color: {colour};")
            self.live_feed_health = health
        self.live_feed_label.setText(feed_text(event))
        self.live_feed_label.setToolTip(f"Kite quote feed: {event.reconnects} reconnects since the desk started")

    def on_session(self, event: SessionEvent) -> None:
        match event.state:
            case SessionState.VALID:
                self._expiry_warned = False  # a new login: its own expiry is warned about again
                self.session_label.hide()
            case SessionState.EXPIRING:
                self._show_session(f"login expires{_at(event)}", palette.WARN, event.message)
                if not self._expiry_warned:
                    self._expiry_warned = True
                    self.showMessage(event.message, SESSION_WARNING_MS)
            case SessionState.EXPIRED:
                self._show_session("login EXPIRED: orders refused", palette.ERROR, event.message)
                self.showMessage(event.message, MESSAGE_MS)

    def _show_session(self, text: str, colour: str, tooltip: str) -> None:
        self.session_label.setStyleSheet(f"color: {colour};")
        self.session_label.setToolTip(tooltip)
        self.session_label.setText(text)
        self.session_label.show()


def _at(event: SessionEvent) -> str:
    if event.expires_at is None:
        return " soon"
    return f" at {datetime.fromtimestamp(event.expires_at, IST):%H:%M} IST"
