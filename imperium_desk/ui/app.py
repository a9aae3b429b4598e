"""Starting the desk window: QApplication on a qasync loop, the Desk on the wall clock of that loop, the window,
its feedback API, and a clean stop on close or Ctrl+C (orders cancelled, telemetry flushed, the API stopped, no
pending tasks, exit 0)."""

from __future__ import annotations

import asyncio
import gc
import signal
import sys
import time
from pathlib import Path

import qasync
from PySide6.QtCore import QSettings, QTimer
from PySide6.QtWidgets import QApplication

from imperium_desk.clock import WallClock
from imperium_desk.config import Config
from imperium_desk.desk import Desk
from imperium_desk.ui.bridge import DeskBridge
from imperium_desk.ui.main_window import ImperiumMainWindow
from imperium_desk.ui.theme import apply_theme

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
) -> ImperiumMainWindow:
    """The desk on the wall clock of `loop` (a qasync loop on the running QApplication), its bridge and its
    window, not yet shown or started (nor its feedback API: `run_gui` starts that through the window's feedback
    panel): the app, the screenshot script and the UI benchmark all build it here.
    With `config_path` the desk reloads its models when that file changes."""
    desk = Desk(config, home=home, clock=WallClock(loop), config_path=config_path)
    return ImperiumMainWindow(desk, DeskBridge(desk), settings)


def run_gui(
    config: Config, home: Path, *, started_at: float | None = None, config_path: Path | None = None
) -> int:
    started_at = time.perf_counter() if started_at is None else started_at
    hold_collections_for_startup()
    app = QApplication.instance() or QApplication(sys.argv[:1])
    assert isinstance(app, QApplication)
    app.setApplicationName("Imperium Desk")
    app.setOrganizationName("Imperium")
    apply_theme(app)
    app.setQuitOnLastWindowClosed(False)  # the window's `closed` (after the desk stopped) ends the loop instead
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    home.mkdir(parents=True, exist_ok=True)
    settings = QSettings(str(home / "desk-window.ini"), QSettings.Format.IniFormat)
    window = open_window(config, home, loop, settings, config_path)
    desk = window.desk
    closed: asyncio.Future[None] = loop.create_future()

    def window_closed() -> None:
        if not closed.done():
            closed.set_result(None)

    window.closed.connect(window_closed)

    previous = signal.signal(signal.SIGINT, lambda *_: loop.call_soon_threadsafe(window.close))
    keep_python_awake = QTimer()
    keep_python_awake.start(SIGNAL_POLL_MS)
    keep_python_awake.timeout.connect(lambda: None)
    try:
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
        with loop:
            loop.run_until_complete(closed)
            if feedback_start is not None and not feedback_start.done():
                # Closed while the API was starting: the start notices the stop and stops what it started.
                loop.run_until_complete(asyncio.gather(feedback_start, return_exceptions=True))
            pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
            if pending:  # the desk's own tasks are finished by stop(); anything else is cancelled, not leaked
                for task in pending:
                    task.cancel()
                loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
    finally:
        keep_python_awake.stop()
        signal.signal(signal.SIGINT, previous)
    return 0
