"""Starting the desk window: QApplication on a qasync loop, in a broker mode the login and connection first
(ui/live_startup.py), the Desk on the wall clock of that loop, the window, its feedback API, and a clean stop on
close or Ctrl+C (orders cancelled, telemetry flushed, the API stopped, no pending tasks, exit 0). Cancelling the
login or Ctrl+C before the window opens exits 0 with nothing started."""

from __future__ import annotations

import asyncio
import gc
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import qasync
from PySide6.QtCore import QSettings, QTimer
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication

from imperium_desk.clock import WallClock
from imperium_desk.config import Config
from imperium_desk.desk import Desk, secure_desk_home
from imperium_desk.domain.enums import Mode
from imperium_desk.home import create_private
from imperium_desk.shipped import icon_file
from imperium_desk.ui.bridge import DeskBridge
from imperium_desk.ui.live_startup import LiveStartup
from imperium_desk.ui.main_window import ImperiumMainWindow
from imperium_desk.ui.theme import apply_theme

if TYPE_CHECKING:  # the Kite side is imported only when a broker mode starts (run_gui), not on the paper path
    from imperium_desk.desk.connector import KiteVenue, LiveConnector

LAYOUT_FILE = "desk-window.ini"  # window geometry and dock layout, under home
SIGNAL_POLL_MS = 200  # Python runs signal handlers only between bytecodes: let it in while Qt waits


def hold_collections_for_startup() -> None:
    """No cyclic garbage collection while the desk starts: imports, the window and the feedback API build ~160k
    long-lived objects, and each full collection among them took 85-115 ms of the Qt thread here."""
    gc.disable()


def end_startup_collections() -> None:
    """Startup is over: its objects leave the collector's generations for good (`gc.freeze`), so the collections
    of the session walk only what the session allocates, and collection resumes. Without it a full collection in
    a long session walks every import and widget again: a 100 ms stall of the window."""
    gc.freeze()
    gc.enable()


def open_window(
    config: Config,
    home: Path,
    loop: asyncio.AbstractEventLoop,
    settings: QSettings | None = None,
    config_path: Path | None = None,
    *,
    mode: Mode = Mode.PAPER,
    venue: KiteVenue | None = None,
    connector: LiveConnector | None = None,
) -> ImperiumMainWindow:
    """The desk on the wall clock of `loop` (a qasync loop on the running QApplication), its bridge and its
    window, not yet shown or started (nor its feedback API: `run_gui` starts that through the window's feedback
    panel): the app, the screenshot script and the UI benchmark all build it here.
    With `config_path` the desk reloads its models when that file changes. A broker mode needs the `venue` its
    `connector` connected (`run_gui`'s start-up); the window logs in again through that connector when the
    login expires."""
    desk = Desk(config, home=home, clock=WallClock(loop), config_path=config_path, mode=mode, venue=venue,
                connector=connector)
    return ImperiumMainWindow(desk, DeskBridge(desk), settings, login=connector)


def run_gui(
    config: Config,
    home: Path,
    *,
    started_at: float | None = None,
    config_path: Path | None = None,
    mode: Mode = Mode.PAPER,
    connector: LiveConnector | None = None,
) -> int:
    """The desk window until it closes; 0 on a clean stop. In a broker mode the login and connection come first
    (on `connector`, or one built here on this loop's wall clock): a LIVE session is confirmed before anything
    connects, and a cancelled dialog returns 0 with nothing started."""
    started_at = time.perf_counter() if started_at is None else started_at
    hold_collections_for_startup()
    app = QApplication.instance() or QApplication(sys.argv[:1])
    assert isinstance(app, QApplication)
    app.setApplicationName("Imperium Desk")
    app.setOrganizationName("Imperium")
    app.setWindowIcon(QIcon(str(icon_file())))
    # The installed menu entry's name (packaging/linux/imperium-desk.desktop): a Wayland/X11 shell pairs the window
    # with it, so the dock shows the entry's icon and name rather than a generic one.
    app.setDesktopFileName("imperium-desk")
    apply_theme(app)
    app.setQuitOnLastWindowClosed(False)  # the window's `closed` (after the desk stopped) ends the loop instead
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    secure_desk_home(home)
    settings = QSettings(str(home / LAYOUT_FILE), QSettings.Format.IniFormat)  # written when the window closes
    # Ctrl+C cancels the start-up while it runs, and closes the window once it is open.
    on_interrupt: list[Callable[[], object]] = [lambda: None]
    previous = signal.signal(signal.SIGINT, lambda *_: loop.call_soon_threadsafe(on_interrupt[0]))
    keep_python_awake = QTimer()
    keep_python_awake.start(SIGNAL_POLL_MS)
    keep_python_awake.timeout.connect(lambda: None)
    try:
        with loop:
            venue: KiteVenue | None = None
            if mode is not Mode.PAPER:
                if connector is None:
                    from imperium_desk.desk.connector import LiveConnector  # loads Kite: broker modes only

                    connector = LiveConnector(config, home=home, mode=mode, clock=WallClock(loop))
                startup = loop.create_task(LiveStartup(connector).run())
                on_interrupt[0] = startup.cancel
                try:
                    venue = loop.run_until_complete(startup)
                except asyncio.CancelledError:  # Ctrl+C during the start-up
                    venue = None
                if venue is None:
                    print("Not connected: cancelled before the desk started.", flush=True)
                    _finish_pending(loop)
                    return 0
            return _run_window(config, home, loop, settings, config_path, mode, venue, connector, started_at,
                               on_interrupt)
    finally:
        keep_python_awake.stop()
        signal.signal(signal.SIGINT, previous)


def _run_window(
    config: Config,
    home: Path,
    loop: qasync.QEventLoop,
    settings: QSettings,
    config_path: Path | None,
    mode: Mode,
    venue: KiteVenue | None,
    connector: LiveConnector | None,
    started_at: float,
    on_interrupt: list[Callable[[], object]],
) -> int:
    """The window on the running start-up's loop, until it closed and every task finished."""
    create_private(home / LAYOUT_FILE)  # Qt saves over it keeping its mode: 0600 from the first run, not 0644
    window = open_window(config, home, loop, settings, config_path, mode=mode, venue=venue, connector=connector)
    desk = window.desk
    closed: asyncio.Future[None] = loop.create_future()

    def window_closed() -> None:
        if not closed.done():
            closed.set_result(None)

    window.closed.connect(window_closed)
    on_interrupt[0] = window.close
    desk.start()
    # The feedback API starts as a task (its imports and token file are off the loop): the window shows at once,
    # and the status bar shows the address, or why the desk runs without the API.
    window.feedback.server_started.connect(
        lambda address: print(f"feedback API on {address}; token in {desk.feedback_token_path}", flush=True))
    window.feedback.server_failed.connect(
        lambda error: print(f"feedback API not started: {error}", file=sys.stderr, flush=True))
    feedback_start = window.feedback.start_server()
    if feedback_start is None:
        end_startup_collections()
    else:  # its imports are the last of the startup objects
        feedback_start.add_done_callback(lambda _f: end_startup_collections())
    window.show()
    shown_s = time.perf_counter() - started_at
    print(f"Imperium Desk {desk.mode.value} mode: window shown in {shown_s:.2f} s; "
          f"telemetry -> {desk.telemetry_path}", flush=True)
    loop.run_until_complete(closed)
    if feedback_start is not None and not feedback_start.done():
        # Closed while the API was starting: the start notices the stop and stops what it started.
        loop.run_until_complete(asyncio.gather(feedback_start, return_exceptions=True))
    _finish_pending(loop)
    return 0


def _finish_pending(loop: asyncio.AbstractEventLoop) -> None:
    """Anything still running once the desk stopped (its own tasks end in stop(), the start-up's with its dialogs)
    is cancelled, not leaked."""
    pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
    if pending:
        for task in pending:
            task.cancel()
        loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
