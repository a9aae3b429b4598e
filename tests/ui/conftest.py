"""UI test set-up: a real Desk on the wall clock of a qasync loop that shares the QApplication.

The asyncio loop is not *running* in these tests: qasync schedules every callback as a Qt timer, so the engine
advances whenever Qt processes events (qtbot.waitUntil / waitSignal). Tests therefore wait on Qt signals and
conditions instead of nesting blocking waits; only teardown runs the loop (to await `Desk.stop`).
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import qasync
from PySide6.QtCore import QCoreApplication, QEvent
from PySide6.QtWidgets import QApplication, QWidget
from pytestqt.qtbot import QtBot

from imperium_desk.clock import WallClock
from imperium_desk.config import Config, config_from_mapping, deep_merge
from imperium_desk.desk import Desk
from imperium_desk.ui.bridge import DeskBridge
from imperium_desk.ui.ladder import StrikeLadder

FAST: dict[str, Any] = {
    "market": {"underlyings": ["NIFTY", "BANKNIFTY"], "tick_interval_ms": 100, "strikes_each_side": 5},
    "latency_model": {"global": {"type": "constant", "value_ms": 5}},
    "slippage_model": {"global": {"type": "constant", "value": 1, "unit": "ticks"}},
    "broker": {"rate_limit_per_s": None},
    "telemetry": {"fsync": False, "flush_interval_ms": 20},
}


def ui_config(overrides: dict[str, Any] | None = None) -> Config:
    return config_from_mapping(deep_merge(FAST, overrides or {}), "ui-test")


@pytest.fixture(autouse=True)
def widgets_deleted_between_tests(qapp: QApplication) -> Iterator[None]:
    """Delete every top-level widget a test left behind, here, between tests. Left to Python's cyclic GC they
    die at a random moment, possibly inside a Qt timer callback of a later test, which crashes the process."""
    yield
    for widget in QApplication.topLevelWidgets():
        widget.deleteLater()  # no close(): a window's closeEvent would try to stop a desk whose loop is closed
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    gc.collect()


@pytest.fixture
def qt_loop(qapp: QApplication) -> Iterator[qasync.QEventLoop]:
    qapp.setQuitOnLastWindowClosed(False)  # closing a test's window must not stop the loop under the teardown
    loop = qasync.QEventLoop(qapp, already_running=False)
    asyncio.set_event_loop(loop)  # as the app does: executor futures find their loop
    yield loop
    asyncio.set_event_loop(None)
    loop.close()


@pytest.fixture
def desk(qt_loop: qasync.QEventLoop, tmp_path: Path) -> Iterator[Desk]:
    d = Desk(ui_config(), home=tmp_path, clock=WallClock(qt_loop))
    d.start()
    yield d
    qt_loop.run_until_complete(d.stop())


@pytest.fixture
def bridge(desk: Desk) -> DeskBridge:
    return DeskBridge(desk)


def show_sized[W: QWidget](qtbot: QtBot, widget: W, width: int, height: int) -> W:
    """`widget` handed to qtbot (deleted after the test), sized, shown and exposed."""
    qtbot.addWidget(widget)
    widget.resize(width, height)
    widget.show()
    qtbot.waitExposed(widget)
    return widget


@pytest.fixture
def ladder(qtbot: QtBot, desk: Desk, bridge: DeskBridge) -> Iterator[StrikeLadder]:
    """The strike ladder on the running desk, shown at a size that fits its rows."""
    yield show_sized(qtbot, StrikeLadder(desk, bridge), 900, 600)
