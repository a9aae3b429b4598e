"""The desk window in LIVE mode against a fake Kite, started the way `run_gui` starts it: LIVE's confirmation, the
Connect dialog (the pasted redirect address and the API secret), the connection, then `open_window` on the venue.

The fake runs on a thread of its own (tests/fake_kite/server.py); the window, the desk and the start-up run on the
test's qasync loop, which advances whenever Qt processes events. So everything here waits with `qtbot.waitUntil`
(the loop keeps running meanwhile), never with a blocking wait on the fake that the desk would have to answer.

The OS keyring is never touched: keyring's refusing backend is put in for the test (`refusing_keyring`), so the
connector offers only a file or nothing, and the dialog keeps the login nowhere (its default then).
"""

from __future__ import annotations

import asyncio
import socket
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keyring.backends.fail
import keyring.core
import pytest
import qasync
from kiteconnect import KiteConnect  # type: ignore[import-untyped]
from PySide6.QtCore import QCoreApplication, QEvent, QModelIndex, QSettings, Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QApplication, QWidget
from pytestqt.qtbot import QtBot

from imperium_desk.broker.kite.broker import KiteBroker
from imperium_desk.broker.kite.factory import KiteVenue
from imperium_desk.clock import WallClock
from imperium_desk.config import Config, config_from_mapping
from imperium_desk.desk import Desk
from imperium_desk.desk.connector import LiveConnector
from imperium_desk.domain.enums import Mode
from imperium_desk.ui.app import open_window
from imperium_desk.ui.connect_dialog import ConnectDialog
from imperium_desk.ui.live_startup import LiveStartup
from imperium_desk.ui.main_window import ImperiumMainWindow
from tests.fake_kite.server import FakeKite
from tests.fake_kite.state import FakeKiteConfig

UNDERLYING = "NIFTY"
# Only what the desk trades here (fewer books to tick), ticking fast, without the write limit (no test is about it).
FAST_FAKE = FakeKiteConfig(underlyings=(UNDERLYING,), orders_per_s=None, tick_interval_ms=50)
# The feed counts as stale after this much silence once the window is open (the desk's 5 s is not under test).
STALE_AFTER_S = 0.5
START_TIMEOUT_MS = 15_000  # confirmation, login, instruments download, ticker and first ticks
ORDER_TIMEOUT_MS = 5_000  # a click until the fake holds the order (and it filled)
STOP_TIMEOUT_MS = 10_000


def running_qt_loop(qapp: QApplication) -> Iterator[qasync.QEventLoop]:
    """The UI conftest's qasync loop, but counted by asyncio as running while Qt processes events, as in the app
    (where `run_gui` runs it): the Kite side's websocket and HTTP clients ask for the running loop. asyncio's hook
    for loops that run themselves marks it (as tests/ui/test_feedback_panel.py does); so nothing may call
    `run_until_complete` on it: teardown waits through Qt."""
    qapp.setQuitOnLastWindowClosed(False)
    loop = qasync.QEventLoop(qapp, already_running=False)  # already_running=True: its stop() would quit Qt's loop
    asyncio.set_event_loop(loop)
    asyncio.events._set_running_loop(loop)
    try:
        yield loop
    finally:
        asyncio.events._set_running_loop(None)
        asyncio.set_event_loop(None)
        loop.close()


def refusing_keyring(monkeypatch: pytest.MonkeyPatch) -> None:
    """keyring's refusing backend for this test (the previous one, possibly not yet chosen, comes back after), also
    for any child process."""
    monkeypatch.setattr(keyring.core, "_keyring_backend", keyring.backends.fail.Keyring())  # type: ignore[no-untyped-call]
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")


def free_port() -> int:
    """A loopback port free now, for the login redirect listener (the default port may be another test's)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def live_config(fake: FakeKite, redirect_port: int) -> Config:
    """The config a trader would write for `fake`: `broker.kind: kite` with the fake's roots, nothing kept (ask)."""
    return config_from_mapping({
        "broker": {
            "kind": "kite",
            "kite": {
                "api_key": fake.api_key, "rest_root": fake.root, "ws_root": fake.ws_root, "token_store": "ask",
                "redirect_port": redirect_port, "connect_timeout_s": 1.0, "read_timeout_s": 2.0,
                "ready_timeout_s": 10.0, "market_protection": 5,
            },
        },
        "market": {"underlyings": [UNDERLYING]},
        "execution": {"retry": {"max_attempts": 4, "base_delay_ms": 5, "max_delay_ms": 100}},
        "telemetry": {"fsync": False, "flush_interval_ms": 20},
        "feedback": {"port": 0},
    }, "live-window-test")


def landed_address(connector: LiveConnector, request_token: str) -> str:
    """The address Kite sends the browser to after a successful login."""
    return f"{connector.redirect_url}?action=login&type=login&status=success&request_token={request_token}"


def click(qtbot: QtBot, widget: QWidget) -> None:
    qtbot.mouseClick(widget, Qt.MouseButton.LeftButton)  # type: ignore[no-untyped-call]


def press(qtbot: QtBot, widget: QWidget, key: Qt.Key) -> None:
    qtbot.keyClick(widget, key)  # type: ignore[no-untyped-call]


def type_text(qtbot: QtBot, widget: QWidget, text: str) -> None:
    qtbot.keyClicks(widget, text)  # type: ignore[no-untyped-call]


def click_ladder_cell(qtbot: QtBot, window: ImperiumMainWindow, index: QModelIndex) -> None:
    view = window.ladder.view
    view.scrollTo(index)
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton,  # type: ignore[no-untyped-call]
                     pos=view.visualRect(index).center())


def fill_colour(widget: QWidget) -> QColor:
    """The colour `widget` paints most of its pixels in (a badge's fill, around its text)."""
    image = widget.grab().toImage()
    counts = Counter(image.pixel(x, y) for x in range(image.width()) for y in range(image.height()))
    return QColor.fromRgb(counts.most_common(1)[0][0])


@dataclass
class LiveStartupRun:
    """A start-up in progress: the connector it logs in with, the dialogs as they open, and its task."""

    connector: LiveConnector
    startup: LiveStartup[KiteVenue]
    task: asyncio.Task[KiteVenue | None]
    taken: bool = False  # a window took the venue over (its desk closes it)

    def abandon(self, qtbot: QtBot) -> None:
        """A start-up a failed test left behind, ended: cancelled if still running (its dialogs close and stop
        listening), or its venue closed if no window took it over."""
        if not self.task.done():
            self.task.cancel()
            qtbot.waitUntil(self.task.done, timeout=STOP_TIMEOUT_MS)
            return
        venue = None if self.task.cancelled() or self.task.exception() is not None else self.task.result()
        if venue is not None and not self.taken:
            closing = asyncio.ensure_future(venue.aclose())
            qtbot.waitUntil(closing.done, timeout=STOP_TIMEOUT_MS)

    def connect_dialog(self, qtbot: QtBot) -> ConnectDialog:
        qtbot.waitUntil(lambda: self.startup.connect_dialog is not None and self.startup.connect_dialog.isVisible())
        assert self.startup.connect_dialog is not None
        return self.startup.connect_dialog


def begin_startup(qt_loop: qasync.QEventLoop, config: Config, home: Path) -> LiveStartupRun:
    """The LIVE start-up as `run_gui` runs it, on a real connector, as a task on the test's loop."""
    connector = LiveConnector(config, home=home, mode=Mode.LIVE, clock=WallClock(qt_loop))
    startup: LiveStartup[KiteVenue] = LiveStartup(connector)
    return LiveStartupRun(connector, startup, qt_loop.create_task(startup.run()))


def confirm_live(qtbot: QtBot, run: LiveStartupRun) -> None:
    """Type LIVE in the confirmation and press "Trade live"."""
    qtbot.waitUntil(lambda: run.startup.confirm_dialog is not None and run.startup.confirm_dialog.isVisible())
    dialog = run.startup.confirm_dialog
    assert dialog is not None
    type_text(qtbot, dialog.word_edit, "LIVE")
    click(qtbot, dialog.trade_button)


def log_in_by_pasting(qtbot: QtBot, run: LiveStartupRun, fake: FakeKite) -> None:
    """In the Connect dialog: paste the address the browser landed on (a fresh request token), type the API
    secret, Connect."""
    dialog = run.connect_dialog(qtbot)
    dialog.paste_edit.setText(landed_address(run.connector, fake.new_request_token()))
    type_text(qtbot, dialog.secret_edit, fake.api_secret)
    click(qtbot, dialog.connect_button)


def started_venue(qtbot: QtBot, run: LiveStartupRun) -> KiteVenue:
    """The start-up's venue once it connected, its staleness bound shortened (`STALE_AFTER_S`)."""
    qtbot.waitUntil(run.task.done, timeout=START_TIMEOUT_MS)
    venue = run.task.result()
    assert venue is not None, "the start-up was cancelled"
    venue.market.stale_after_s = STALE_AFTER_S
    return venue


def show_window(
    qtbot: QtBot, qt_loop: qasync.QEventLoop, home: Path, run: LiveStartupRun, venue: KiteVenue
) -> ImperiumMainWindow:
    """`open_window` on the connected venue, the desk started and the window shown, as `run_gui` does."""
    settings = QSettings(str(home / "desk-window.ini"), QSettings.Format.IniFormat)
    window = open_window(run.connector.config, home, qt_loop, settings, mode=Mode.LIVE, venue=venue,
                         connector=run.connector)
    run.taken = True
    window.desk.start()
    window.show()
    qtbot.waitExposed(window)
    return window


def close_window(qtbot: QtBot, qt_loop: qasync.QEventLoop, window: ImperiumMainWindow) -> list[asyncio.Task[Any]]:
    """Close the window as the trader does (the desk stops: orders cancelled, the venue closed), wait for it, and
    delete it while its loop still exists (the UI conftest's sweep of leftover widgets runs after the loop closed:
    deleting a whole window then crashed the process). Returns the tasks still pending on the loop (none, for a
    clean stop)."""
    if window.isVisible():
        with qtbot.waitSignal(window.closed, timeout=STOP_TIMEOUT_MS):
            window.close()
    window.deleteLater()
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    return [t for t in asyncio.all_tasks(qt_loop) if not t.done()]


def kite_broker(desk: Desk) -> KiteBroker:
    broker = desk.engine.broker
    assert isinstance(broker, KiteBroker), "a LIVE desk sends to Kite"
    return broker


def filled_orders(fake: FakeKite, accept: Callable[[dict[str, Any]], bool]) -> list[dict[str, Any]]:
    """The fake's COMPLETE orders that `accept` takes."""
    return [o for o in fake.orders() if o["status"] == "COMPLETE" and accept(o)]


def official_client(fake: FakeKite) -> KiteConnect:
    """The official client on the fake's ready session (the fake answers on its own thread: a call from the Qt
    thread does not need the desk's loop)."""
    return KiteConnect(fake.api_key, access_token=fake.access_token, root=fake.root, timeout=2.0)


def net_quantity(client: KiteConnect, tradingsymbol: str) -> int:
    """The account's net position in `tradingsymbol` as Kite's positions report it (0 when there is no row)."""
    rows = client.positions()["net"]
    return sum(int(row["quantity"]) for row in rows if row["tradingsymbol"] == tradingsymbol)
