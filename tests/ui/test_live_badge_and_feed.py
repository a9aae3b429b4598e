"""What the window shows in the broker modes: the mode badge, the live feed's health, a login that is expiring
(warned once) or expired (the Connect dialog, then `Desk.relogin`). The desk is the paper desk of conftest.py with
its mode set, and the broker's events are emitted through the desk's own emitter, as the desk emits them."""

from __future__ import annotations

import pytest
import qasync
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QWidget
from pytestqt.qtbot import QtBot

from imperium_desk.desk import Desk, FeedEvent, SessionEvent, SessionState
from imperium_desk.desk.live import StoreChoice
from imperium_desk.domain.enums import Mode
from imperium_desk.ui import palette
from imperium_desk.ui.bridge import DeskBridge
from imperium_desk.ui.connect_dialog import ConnectDialog
from imperium_desk.ui.header import HeaderBar
from imperium_desk.ui.main_window import ImperiumMainWindow
from imperium_desk.ui.session_watch import RELOGGED_IN, SessionWatch
from imperium_desk.ui.status import DeskStatusBar, FeedHealth
from tests.ui.conftest import show_sized
from tests.ui.fake_connector import LANDED, TOKEN, FakeConnector

EXPIRES_AT = 1_765_000_000.0


def click(qtbot: QtBot, widget: QWidget) -> None:
    qtbot.mouseClick(widget, Qt.MouseButton.LeftButton)  # type: ignore[no-untyped-call]


def status_bar(qtbot: QtBot, desk: Desk, bridge: DeskBridge, mode: Mode) -> DeskStatusBar:
    desk.mode = mode
    return show_sized(qtbot, DeskStatusBar(desk, bridge), 1400, 30)


def fill_of(widget: QWidget) -> QColor:
    return widget.grab().toImage().pixelColor(1, 1)


# -- the badge ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("mode", "text", "fill"), [
    (Mode.LIVE, "LIVE", palette.LIVE_FILL),
    (Mode.PAPER_LIVE_DATA, "PAPER · LIVE DATA", palette.LIVE_DATA_FILL),
])
def test_the_broker_modes_badge_names_the_mode_in_its_own_colour(
    qtbot: QtBot, desk: Desk, bridge: DeskBridge, mode: Mode, text: str, fill: str
) -> None:
    desk.mode = mode
    header = show_sized(qtbot, HeaderBar(desk, bridge), 1400, 40)
    assert header.mode_badge.text() == text
    assert fill_of(header.mode_badge) == QColor(fill)


def test_the_paper_badge_keeps_the_themes_look(qtbot: QtBot, desk: Desk, bridge: DeskBridge) -> None:
    header = show_sized(qtbot, HeaderBar(desk, bridge), 1400, 40)
    assert header.mode_badge.text() == "PAPER"
    assert header.mode_badge.styleSheet() == ""


# -- the live feed ------------------------------------------------------------------------------------------------
def test_paper_shows_no_live_feed_indicator(qtbot: QtBot, desk: Desk, bridge: DeskBridge) -> None:
    bar = status_bar(qtbot, desk, bridge, Mode.PAPER)
    desk.events.emit(FeedEvent(connected=False, stale=True, seconds_since_tick=9.0, reconnects=1))
    assert bar.live_feed_label.isHidden()
    assert bar.live_feed_health is None


def test_a_broker_mode_opens_with_the_feed_live(qtbot: QtBot, desk: Desk, bridge: DeskBridge) -> None:
    bar = status_bar(qtbot, desk, bridge, Mode.PAPER_LIVE_DATA)
    assert bar.live_feed_label.isVisible()
    assert bar.live_feed_health is FeedHealth.LIVE


@pytest.mark.parametrize(("event", "health", "text"), [
    (FeedEvent(connected=True, stale=True, seconds_since_tick=7.2, reconnects=0), FeedHealth.STALE,
     "feed STALE 7 s"),
    (FeedEvent(connected=False, stale=True, seconds_since_tick=12.0, reconnects=3), FeedHealth.RECONNECTING,
     "feed reconnecting…"),
])
def test_the_feed_indicator_follows_the_desks_feed_events(
    qtbot: QtBot, desk: Desk, bridge: DeskBridge, event: FeedEvent, health: FeedHealth, text: str
) -> None:
    bar = status_bar(qtbot, desk, bridge, Mode.LIVE)
    desk.events.emit(event)
    qtbot.waitUntil(lambda: bar.live_feed_health is health)
    assert bar.live_feed_label.text() == text


def test_the_feed_indicator_returns_to_live_after_a_reconnect(qtbot: QtBot, desk: Desk, bridge: DeskBridge) -> None:
    bar = status_bar(qtbot, desk, bridge, Mode.LIVE)
    desk.events.emit(FeedEvent(connected=False, stale=False, seconds_since_tick=None, reconnects=1))
    desk.events.emit(FeedEvent(connected=True, stale=False, seconds_since_tick=0.2, reconnects=1))
    qtbot.waitUntil(lambda: bar.live_feed_health is FeedHealth.LIVE)  # the newest of the burst, coalesced


# -- the login ----------------------------------------------------------------------------------------------------
def test_an_expiring_login_is_warned_about_once(qtbot: QtBot, desk: Desk, bridge: DeskBridge) -> None:
    bar = status_bar(qtbot, desk, bridge, Mode.LIVE)
    messages: list[str] = []
    bar.messageChanged.connect(messages.append)
    expiring = SessionEvent(SessionState.EXPIRING, EXPIRES_AT, "Kite login expires at 06:00 IST")
    desk.events.emit(expiring)
    desk.events.emit(expiring)
    assert len([m for m in messages if m]) == 1
    assert bar.session_label.isVisible()


def test_a_valid_login_clears_the_session_warning(qtbot: QtBot, desk: Desk, bridge: DeskBridge) -> None:
    bar = status_bar(qtbot, desk, bridge, Mode.LIVE)
    desk.events.emit(SessionEvent(SessionState.EXPIRED, None, "Kite refused the access token"))
    desk.events.emit(SessionEvent(SessionState.VALID, EXPIRES_AT, "logged in"))
    assert bar.session_label.isHidden()


class Relogins:
    """`Desk.relogin` as the test sees it: the calls, and nothing else done."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str | None, StoreChoice]] = []

    async def __call__(self, request_token: str, api_secret: str | None, remember: StoreChoice, /) -> None:
        self.calls.append((request_token, api_secret, remember))


@pytest.fixture
def relogins(desk: Desk, monkeypatch: pytest.MonkeyPatch) -> Relogins:
    fake = Relogins()
    monkeypatch.setattr(desk, "relogin", fake, raising=False)
    return fake


def test_an_expired_login_opens_the_connect_dialog_which_logs_in_through_the_desk(
    qtbot: QtBot, qt_loop: qasync.QEventLoop, desk: Desk, bridge: DeskBridge, relogins: Relogins
) -> None:
    window = show_sized(qtbot, QWidget(), 200, 100)
    notes: list[str] = []
    fake = FakeConnector()
    watch = SessionWatch(desk, bridge, fake, window, notes.append)
    desk.events.emit(SessionEvent(SessionState.EXPIRED, None, "Kite refused the access token"))
    dialog = watch.dialog
    assert isinstance(dialog, ConnectDialog) and dialog.isVisible()
    dialog.paste_edit.setText(LANDED)
    click(qtbot, dialog.connect_button)
    qtbot.waitUntil(lambda: watch.dialog is None)
    assert relogins.calls == [(TOKEN, None, StoreChoice.KEYRING)]
    assert fake.logins == []  # the desk logs in again, not the start-up's connector
    assert notes == [RELOGGED_IN]


def test_a_second_expiry_while_the_dialog_is_open_opens_no_other(
    qtbot: QtBot, qt_loop: qasync.QEventLoop, desk: Desk, bridge: DeskBridge, relogins: Relogins
) -> None:
    window = show_sized(qtbot, QWidget(), 200, 100)
    watch = SessionWatch(desk, bridge, FakeConnector(), window, lambda _text: None)
    expired = SessionEvent(SessionState.EXPIRED, None, "Kite refused the access token")
    desk.events.emit(expired)
    first = watch.dialog
    desk.events.emit(expired)
    assert watch.dialog is first
    assert len(window.findChildren(ConnectDialog)) == 1


def test_the_window_of_a_broker_mode_opens_the_connect_dialog_when_the_login_expires(
    qtbot: QtBot, qt_loop: qasync.QEventLoop, desk: Desk, bridge: DeskBridge, relogins: Relogins
) -> None:
    desk.mode = Mode.LIVE
    window = show_sized(qtbot, ImperiumMainWindow(desk, bridge, login=FakeConnector()), 1500, 920)
    desk.events.emit(SessionEvent(SessionState.EXPIRED, None, "Kite refused the access token"))
    assert window.session_watch is not None and window.session_watch.dialog is not None
    assert window.session_watch.dialog.isVisible()
