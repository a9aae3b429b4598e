"""The feedback API in the desk window: started with the window (address in the panel and the status bar, or why
not), the token copied to the clipboard, webhook dead letters redelivered, learner proposals accepted, rejected or
auto-applied. A real desk, its real API on a free loopback port, a real webhook receiver on loopback; coroutines
run on the qasync loop as Qt processes events, so every wait is `qtbot.waitUntil`."""

from __future__ import annotations

import asyncio
import base64
import os
import socket
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any

import pytest
import qasync
from PySide6.QtCore import QSettings, Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QApplication, QTableView, QWidget
from pytestqt.qtbot import QtBot

from imperium_desk.clock import WallClock
from imperium_desk.desk import Desk
from imperium_desk.feedback.learning.host import LearnerHost
from imperium_desk.feedback.learning.proposal import Decision, ModelProposal
from imperium_desk.feedback.webhooks.service import WebhookService
from imperium_desk.ui.bridge import DeskBridge
from imperium_desk.ui.feedback_panel import FeedbackPanel
from imperium_desk.ui.main_window import ImperiumMainWindow
from tests.ui.conftest import show_sized, ui_config
from tests.webhook_receiver import Receiver

# One attempt and no backoff: the first failed delivery is a dead letter straight away.
API: dict[str, Any] = {
    "feedback": {"port": 0, "webhooks": {"max_attempts": 1, "backoff_base_s": 0.01, "backoff_max_s": 0.01,
                                         "poll_interval_s": 0.02}},
    "telemetry": {"markouts_s": []},
}
WAIT_MS = 10_000


@pytest.fixture
def qt_loop(qapp: QApplication) -> Iterator[qasync.QEventLoop]:
    """The conftest's loop, but one asyncio counts as running while Qt processes events, as in the app (where Qt's
    exec runs it): uvicorn, the webhook service and httpx ask for the running loop. asyncio's own hook for event
    loops that run themselves (what qasync's run_forever does) marks it; teardown therefore awaits through Qt."""
    qapp.setQuitOnLastWindowClosed(False)
    loop = qasync.QEventLoop(qapp, already_running=False)  # already_running=True: its stop() would quit Qt's loop
    asyncio.set_event_loop(loop)
    asyncio.events._set_running_loop(loop)
    yield loop
    asyncio.events._set_running_loop(None)
    asyncio.set_event_loop(None)
    loop.close()


def run_on_loop[T](qtbot: QtBot, loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, T]) -> T:
    """Schedule `coro` on the loop and let Qt run it to the end (no nested loop)."""
    task = loop.create_task(coro)
    qtbot.waitUntil(task.done, timeout=WAIT_MS)
    return task.result()


@pytest.fixture
def desk(qtbot: QtBot, qt_loop: qasync.QEventLoop, tmp_path: Path) -> Iterator[Desk]:
    """The UI tests' desk with its feedback API configured on a free port (started by the test, through the
    panel); its stop stops the API first."""
    d = Desk(ui_config(API), home=tmp_path, clock=WallClock(qt_loop))
    d.start()
    yield d
    run_on_loop(qtbot, qt_loop, d.stop())


def start_api(qtbot: QtBot, panel: FeedbackPanel) -> str:
    task = panel.start_server()
    assert task is not None
    qtbot.waitUntil(task.done, timeout=WAIT_MS)
    return task.result()


@pytest.fixture
def panel(qtbot: QtBot, desk: Desk, bridge: DeskBridge) -> FeedbackPanel:
    """The panel on its own, shown, with the API started through it."""
    widget = show_sized(qtbot, FeedbackPanel(desk, bridge), 900, 400)
    start_api(qtbot, widget)
    return widget


def make_window(qtbot: QtBot, desk: Desk, bridge: DeskBridge, home: Path) -> ImperiumMainWindow:
    window = ImperiumMainWindow(desk, bridge, QSettings(str(home / "window.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    return window


def click(qtbot: QtBot, widget: QWidget) -> None:
    qtbot.mouseClick(widget, Qt.MouseButton.LeftButton)  # type: ignore[no-untyped-call]


def click_row(qtbot: QtBot, table: QTableView, row: int) -> None:
    rect = table.visualRect(table.model().index(row, 0))
    qtbot.mouseClick(table.viewport(), Qt.MouseButton.LeftButton,  # type: ignore[no-untyped-call]
                     pos=rect.center())


def host_of(desk: Desk) -> LearnerHost:
    assert desk.feedback_backend is not None and desk.feedback_backend.learning is not None
    return desk.feedback_backend.learning


def webhooks_of(desk: Desk) -> WebhookService:
    assert desk.feedback_backend is not None and desk.feedback_backend.webhooks is not None
    return desk.feedback_backend.webhooks


def nifty_latency(desk: Desk) -> tuple[str, dict[str, Any]]:
    row = next(r for r in desk.model_rows() if (r.asset, r.kind, r.lane) == ("NIFTY", "latency", "order"))
    return row.scope, dict(row.params)


def proposal(value_ms: float) -> ModelProposal:
    # The desk's global latency is constant 5 ms: 12 ms is within the guardrails' rate of change (4x).
    return ModelProposal(kind="latency", scope="NIFTY", model={"type": "constant", "value_ms": value_ms},
                         learner="test-learner", reason="the fills got slower")


def propose(qtbot: QtBot, desk: Desk, value_ms: float) -> Decision:
    return run_on_loop(qtbot, desk.clock.loop, host_of(desk).propose(proposal(value_ms), "rest"))


def shown_proposal(qtbot: QtBot, panel: FeedbackPanel, decision_id: str) -> int:
    qtbot.waitUntil(lambda: panel.proposals_model.find(decision_id) >= 0, timeout=WAIT_MS)
    return panel.proposals_model.find(decision_id)


# -- starting the API with the window ---------------------------------------------------------------------------
def test_panel_says_the_api_is_not_running_before_it_starts(qtbot: QtBot, desk: Desk, bridge: DeskBridge) -> None:
    widget = FeedbackPanel(desk, bridge)
    qtbot.addWidget(widget)

    assert "not running" in widget.server_label.text()
    assert not widget.copy_button.isEnabled()
    assert not widget.tabs.isTabEnabled(0)


def test_starting_the_api_shows_its_address_in_the_panel_and_the_status_bar(
    qtbot: QtBot, desk: Desk, bridge: DeskBridge, tmp_path: Path
) -> None:
    window = make_window(qtbot, desk, bridge, tmp_path)

    address = start_api(qtbot, window.feedback)

    assert address.startswith("http://127.0.0.1:")
    assert address in window.feedback.server_label.text()
    assert window.status.server_label.isVisible()
    assert window.status.server_label.text() == f"feedback {address}"


def test_a_port_in_use_leaves_the_desk_running_and_says_why_in_the_status_bar(
    qtbot: QtBot, qt_loop: qasync.QEventLoop, tmp_path: Path
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        busy = Desk(ui_config({"feedback": {"port": port}}), home=tmp_path, clock=WallClock(qt_loop))
        busy.start()
        try:
            window = make_window(qtbot, busy, DeskBridge(busy), tmp_path)
            task = window.feedback.start_server()
            assert task is not None
            qtbot.waitUntil(task.done, timeout=WAIT_MS)

            assert window.status.server_label.text() == "feedback API off"
            assert "feedback.port" in window.status.server_label.toolTip()
            assert "not running" in window.feedback.server_label.text()
            assert busy.feedback_address is None
            assert busy.engine.market.running
        finally:
            run_on_loop(qtbot, qt_loop, busy.stop())


def test_the_feedback_shortcut_shows_the_feedback_dock(qtbot: QtBot, desk: Desk, bridge: DeskBridge,
                                                       tmp_path: Path) -> None:
    window = make_window(qtbot, desk, bridge, tmp_path)
    assert window.docks["feedback"] in window.tabifiedDockWidgets(window.docks["charts"])
    assert window.docks["feedback"].visibleRegion().isEmpty()  # the charts tab is in front
    window.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window, timeout=WAIT_MS)  # a window shortcut needs it

    qtbot.keyClick(window, Qt.Key.Key_A,  # type: ignore[no-untyped-call]
                   Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)

    qtbot.waitUntil(lambda: not window.docks["feedback"].visibleRegion().isEmpty(), timeout=WAIT_MS)


# -- the token ----------------------------------------------------------------------------------------------------
def test_copy_token_puts_the_token_on_the_clipboard(qtbot: QtBot, panel: FeedbackPanel, desk: Desk) -> None:
    token = desk.feedback_token_path.read_text(encoding="utf-8").strip()
    qtbot.waitUntil(panel.copy_button.isEnabled, timeout=WAIT_MS)
    QGuiApplication.clipboard().clear()

    click(qtbot, panel.copy_button)

    assert QGuiApplication.clipboard().text() == token


def test_the_token_is_shown_masked(qtbot: QtBot, panel: FeedbackPanel, desk: Desk) -> None:
    token = desk.feedback_token_path.read_text(encoding="utf-8").strip()
    qtbot.waitUntil(panel.copy_button.isEnabled, timeout=WAIT_MS)

    shown = panel.token_label.text()

    assert token not in shown
    assert shown.endswith(token[-4:])


# -- webhooks -----------------------------------------------------------------------------------------------------
@pytest.fixture
def receiver(qtbot: QtBot, qt_loop: qasync.QEventLoop, desk: Desk) -> Iterator[Receiver]:
    """A loopback receiver verifying every signature; its first answer is a 500."""
    rx = Receiver("whsec_" + base64.b64encode(os.urandom(24)).decode())
    rx.script.append((500, {}))
    run_on_loop(qtbot, desk.clock.loop, rx.start())
    yield rx
    run_on_loop(qtbot, qt_loop, rx.stop())


def test_a_failed_delivery_shows_as_a_dead_letter_and_redeliver_sends_it_again(
    qtbot: QtBot, panel: FeedbackPanel, desk: Desk, receiver: Receiver
) -> None:
    run_on_loop(qtbot, desk.clock.loop, webhooks_of(desk).add(receiver.url, receiver.secret, ["ack"]))
    assert desk.feedback_backend is not None
    desk.feedback_backend.ingest_metrics([{"schema_version": 1, "event": "ack", "asset": "NIFTY"}])
    panel.tabs.setCurrentIndex(2)
    qtbot.waitUntil(lambda: panel.dead_model.rowCount() == 1, timeout=WAIT_MS)
    dead = panel.dead_model.row(0)
    assert (dead.last_status, receiver.accepted) == (500, [])

    click_row(qtbot, panel.dead_table, 0)
    click(qtbot, panel.redeliver_button)

    qtbot.waitUntil(lambda: receiver.ids == [dead.message_id], timeout=WAIT_MS)
    qtbot.waitUntil(lambda: panel.dead_model.rowCount() == 0, timeout=WAIT_MS)
    assert receiver.rejected == []


def test_the_subscribers_table_lists_a_subscriber_with_its_counts(
    qtbot: QtBot, panel: FeedbackPanel, desk: Desk, receiver: Receiver
) -> None:
    receiver.script.clear()
    run_on_loop(qtbot, desk.clock.loop, webhooks_of(desk).add(receiver.url, receiver.secret, ["ack"]))
    assert desk.feedback_backend is not None
    desk.feedback_backend.ingest_metrics([{"schema_version": 1, "event": "ack", "asset": "NIFTY"}])
    panel.tabs.setCurrentIndex(1)

    qtbot.waitUntil(lambda: panel.subscribers_model.rowCount() == 1
                    and panel.subscribers_model.row(0).delivered == 1, timeout=WAIT_MS)
    model = panel.subscribers_model
    assert model.text(model.row(0), model.URL) == receiver.url
    assert model.text(model.row(0), model.STATE) == "active"


# -- learner proposals --------------------------------------------------------------------------------------------
def test_a_pending_proposal_shows_with_accept_and_clicking_accept_applies_it(
    qtbot: QtBot, panel: FeedbackPanel, desk: Desk
) -> None:
    decision = propose(qtbot, desk, 12.0)
    assert decision.status == "pending"
    row = shown_proposal(qtbot, panel, decision.id)
    model = panel.proposals_model
    assert model.text(model.row(row), model.MODEL) == "constant(value_ms=12)"

    click_row(qtbot, panel.proposals_table, row)
    assert panel.accept_button.isEnabled()
    click(qtbot, panel.accept_button)

    qtbot.waitUntil(lambda: nifty_latency(desk) == ("NIFTY", {"type": "constant", "value_ms": 12.0}),
                    timeout=WAIT_MS)
    qtbot.waitUntil(lambda: panel.proposals_model.row(row).status == "applied", timeout=WAIT_MS)
    assert not panel.accept_button.isEnabled()


def test_clicking_reject_keeps_the_model_and_marks_the_proposal_rejected(
    qtbot: QtBot, panel: FeedbackPanel, desk: Desk
) -> None:
    before = nifty_latency(desk)
    decision = propose(qtbot, desk, 12.0)
    row = shown_proposal(qtbot, panel, decision.id)

    click_row(qtbot, panel.proposals_table, row)
    click(qtbot, panel.reject_button)

    assert host_of(desk).get(decision.id).status == "rejected"
    assert panel.proposals_model.row(row).status == "rejected"
    assert nifty_latency(desk) == before


def test_with_auto_apply_ticked_a_new_proposal_applies_at_once(
    qtbot: QtBot, panel: FeedbackPanel, desk: Desk
) -> None:
    click(qtbot, panel.auto_apply)
    assert host_of(desk).config.auto_apply

    decision = propose(qtbot, desk, 9.0)

    assert decision.status == "applied"
    assert nifty_latency(desk) == ("NIFTY", {"type": "constant", "value_ms": 9.0})
    row = shown_proposal(qtbot, panel, decision.id)
    qtbot.waitUntil(lambda: panel.proposals_model.row(row).status == "applied", timeout=WAIT_MS)


def test_stopping_the_api_empties_the_panel_and_says_it_is_not_running(
    qtbot: QtBot, panel: FeedbackPanel, desk: Desk
) -> None:
    propose(qtbot, desk, 12.0)
    shown_proposal(qtbot, panel, "prop_1")

    run_on_loop(qtbot, desk.clock.loop, desk.stop_feedback())
    panel.refresh()

    assert panel.proposals_model.rowCount() == 0
    assert "not running" in panel.server_label.text()
