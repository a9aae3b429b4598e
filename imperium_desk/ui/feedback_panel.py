"""The feedback panel: the desk's feedback API (address, token), its webhook subscribers and dead letters, and the
learners' model proposals.

`start_server()` starts the API with the window (`run_gui` calls it): `Desk.start_feedback()` scheduled on the
desk's loop, its answer in the task's done callback, so the window never waits; `server_started` / `server_failed`
tell the status bar. A start that fails (port in use, remote host not allowed, ...) leaves the desk running without
the API, and the panel says why.

Everything the services answer comes back the same way: the webhook service's calls are coroutines (its SQLite work
runs on the outbox thread) and so is accepting a proposal (it switches a model), so each button schedules its call
and handles the result in a callback. The tables refresh on a slow timer while the panel is visible, and at once
when the learner host decides on a proposal or the desk's models change. The token file is read off the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import shiboken6
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QGuiApplication, QHideEvent, QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QHBoxLayout,
    QTableView,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from imperium_desk.config import ConfigError
from imperium_desk.desk import Desk, DeskFeedback
from imperium_desk.feedback.learning.proposal import Decision
from imperium_desk.feedback.webhooks.views import DeadLetterView, SubscriberView
from imperium_desk.ui import palette
from imperium_desk.ui.bridge import DeskBridge
from imperium_desk.ui.feedback_tables import DeadLettersModel, ProposalsModel, SubscribersModel, mask_token
from imperium_desk.ui.widgets import push_button, row_table, wrapped_label

if TYPE_CHECKING:  # the service module imports httpx: the desk loads it off the loop when the API starts
    from imperium_desk.feedback.learning.host import LearnerHost
    from imperium_desk.feedback.webhooks.service import WebhookService

REFRESH_MS: Final = 1000  # the outbox counters move with every delivery; once a second is plenty to read them
REJECTED_IN_DESK: Final = "rejected in the desk"

WebhookState = tuple[list[SubscriberView], list[DeadLetterView]]


def _errors_of(exc: BaseException) -> str:
    if isinstance(exc, ConfigError):
        return "; ".join(exc.errors)
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def read_token_off_loop(loop: asyncio.AbstractEventLoop, path: Path) -> asyncio.Future[str]:
    """The token file's text, read on a thread of its own (a file read must not hold the Qt thread); the result
    or the OSError arrives on `loop`. A plain thread: qasync's executor threads outlive their loop."""
    done: asyncio.Future[str] = loop.create_future()

    def settle(text: str | None, error: OSError | None) -> None:
        if done.done():
            return
        if error is not None:
            done.set_exception(error)
        else:
            assert text is not None
            done.set_result(text)

    def run() -> None:
        try:
            text, error = path.read_text(encoding="utf-8").strip(), None
        except OSError as exc:
            text, error = None, exc
        with contextlib.suppress(RuntimeError):  # the loop closed while the disk answered: nobody is waiting
            loop.call_soon_threadsafe(settle, text, error)

    threading.Thread(target=run, name="feedback-token", daemon=True).start()
    return done


class FeedbackPanel(QWidget):
    """The API's address and token (Copy token), and three tabs: proposals (Accept / Reject, Auto-apply), webhook
    subscribers (Enable) and dead letters (Redeliver). The buttons' actions are public methods returning the
    scheduled task (None when there is nothing to act on)."""

    server_started = Signal(str)  # the address
    server_failed = Signal(str)  # why the API is not running

    def __init__(self, desk: Desk, bridge: DeskBridge, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("feedbackPanel")
        self._desk = desk
        self._backend: DeskFeedback | None = None  # the one whose learner host we listen to
        self._unlisten: Callable[[], None] | None = None
        self._token: str | None = None
        self._token_loading = False
        self._start_task: asyncio.Task[str] | None = None
        self._server_error: str | None = None
        self._webhooks_task: asyncio.Task[WebhookState] | None = None
        self._build()
        self._timer = QTimer(self)
        self._timer.setInterval(REFRESH_MS)
        self._timer.timeout.connect(self.refresh)
        self._soon = QTimer(self)  # decisions come in bursts (a learner's batch): one refresh for all
        self._soon.setSingleShot(True)
        self._soon.setInterval(0)
        self._soon.timeout.connect(self.refresh)
        bridge.models.connect(self._on_desk_event)
        self.refresh()

    # -- layout ----------------------------------------------------------------------------------------------
    def _build(self) -> None:
        self.server_label = wrapped_label(self, "feedbackServer")
        self.server_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.token_label = wrapped_label(self, "feedbackToken")
        self.token_label.setWordWrap(False)
        self.copy_button = push_button(self, "Copy token", "feedbackCopyToken", self.copy_token)
        server_row = QHBoxLayout()
        server_row.addWidget(self.server_label, 1)
        server_row.addWidget(self.token_label)
        server_row.addWidget(self.copy_button)

        self.proposals_model = ProposalsModel(self)
        self.proposals_table = row_table(QTableView(self), self.proposals_model, "feedbackProposals",
                                         selection=QAbstractItemView.SelectionMode.SingleSelection)
        self.auto_apply = QCheckBox("Auto-apply", self)
        self.auto_apply.setObjectName("feedbackAutoApply")
        self.auto_apply.setToolTip("Apply each new proposal that passes the guardrails at once; "
                                   "proposals already pending still wait for Accept or Reject")
        self.auto_apply.toggled.connect(self.set_auto_apply)
        self.reject_button = push_button(self, "Reject", "feedbackReject", self.reject_selected)
        self.accept_button = push_button(self, "Accept", "feedbackAccept", self.accept_selected)
        proposals = self._tab([self.auto_apply, None, self.reject_button, self.accept_button], self.proposals_table)

        self.subscribers_model = SubscribersModel(self)
        self.subscribers_table = row_table(QTableView(self), self.subscribers_model, "feedbackSubscribers",
                                           selection=QAbstractItemView.SelectionMode.SingleSelection)
        self.enable_button = push_button(self, "Enable", "feedbackEnable", self.enable_selected)
        self.enable_button.setToolTip("Deliver again to a subscriber that was disabled (its receiver answered 410)")
        subscribers = self._tab([None, self.enable_button], self.subscribers_table)

        self.dead_model = DeadLettersModel(self)
        self.dead_table = row_table(QTableView(self), self.dead_model, "feedbackDeadLetters",
                                    selection=QAbstractItemView.SelectionMode.ExtendedSelection)
        self.redeliver_button = push_button(self, "Redeliver", "feedbackRedeliver", self.redeliver_selected)
        self.redeliver_button.setToolTip("Queue the selected dead letters again, with fresh attempts")
        dead = self._tab([None, self.redeliver_button], self.dead_table)

        self.tabs = QTabWidget(self)
        self.tabs.setObjectName("feedbackTabs")
        self.tabs.addTab(proposals, "Proposals")
        self.tabs.addTab(subscribers, "Webhooks")
        self.tabs.addTab(dead, "Dead letters")
        self.status_label = wrapped_label(self, "feedbackStatus")
        self.error_label = wrapped_label(self, "feedbackError")
        self.error_label.setStyleSheet(f"color: {palette.ERROR};")
        self.error_label.setVisible(False)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(server_row)
        layout.addWidget(self.tabs, 1)
        layout.addWidget(self.error_label)
        layout.addWidget(self.status_label)
        for table in (self.proposals_table, self.subscribers_table, self.dead_table):
            table.selectionModel().selectionChanged.connect(lambda *_: self._update_buttons())


    def _tab(self, controls: Sequence[QWidget | None], table: QTableView) -> QWidget:
        """A tab: a row of controls (None: the stretch between left and right ones) over its table."""
        tab = QWidget(self)
        row = QHBoxLayout()
        for control in controls:
            if control is None:
                row.addStretch(1)
            else:
                row.addWidget(control)
        column = QVBoxLayout(tab)
        column.setContentsMargins(0, 4, 0, 0)
        column.addLayout(row)
        column.addWidget(table, 1)
        return tab

    # -- starting the API --------------------------------------------------------------------------------------
    def start_server(self) -> asyncio.Task[str] | None:
        """Start the desk's feedback API (None when the config turns it off, or it is already starting)."""
        if not self._desk.config.feedback.enabled:
            self._server_error = "off in the config (feedback.enabled: false)"
            self.refresh()
            return None
        if self._start_task is not None and not self._start_task.done():
            return None
        self._server_error = None
        self.server_label.setText("Feedback API: starting...")
        task = self._start_task = self._schedule(self._desk.start_feedback())
        task.add_done_callback(self._on_started)
        return task

    def _on_started(self, task: asyncio.Task[str]) -> None:
        if task.cancelled():
            return
        exc = task.exception()  # retrieved even when nobody is left to show it: asyncio would log it as lost
        if not shiboken6.isValid(self):
            return
        if exc is not None:
            self._server_error = _errors_of(exc)
            self.server_failed.emit(self._server_error)
        else:
            self.server_started.emit(task.result())
        self.refresh()

    @property
    def token(self) -> str | None:
        """The bearer token, once read from the desk's token file."""
        return self._token

    def _load_token(self) -> None:
        if self._token is not None or self._token_loading:
            return
        self._token_loading = True
        future = read_token_off_loop(self._desk.clock.loop, self._desk.feedback_token_path)
        future.add_done_callback(self._on_token)

    def _on_token(self, future: asyncio.Future[str]) -> None:
        exc = None if future.cancelled() else future.exception()
        if not shiboken6.isValid(self):
            return
        self._token_loading = False
        if future.cancelled():
            return
        if exc is not None:
            self._show_error(f"token file {self._desk.feedback_token_path}: {exc}")
        else:
            self._token = future.result()
        self._show_server(self._desk.feedback_backend)

    def copy_token(self) -> None:
        """Put the bearer token on the clipboard (what an API client needs next to the address)."""
        if self._token is None:
            return
        clipboard = QGuiApplication.clipboard()
        clipboard.setText(self._token)
        self.status_label.setText("Token copied to the clipboard: send it as 'Authorization: Bearer <token>'")

    # -- refreshing ------------------------------------------------------------------------------------------
    def refresh(self) -> None:
        """Re-read the server state and the proposals now, and the webhook tables when their last read answered."""
        backend = self._desk.feedback_backend
        self._attach(backend)
        self._show_server(backend)
        host = backend.learning if backend is not None else None
        webhooks = backend.webhooks if backend is not None else None
        self.proposals_model.set_rows(host.proposals() if host is not None else [])
        self.auto_apply.blockSignals(True)  # showing the host's setting is not the trader changing it
        self.auto_apply.setChecked(host is not None and host.auto_apply)
        self.auto_apply.blockSignals(False)
        self.auto_apply.setEnabled(host is not None)
        if webhooks is None:
            self.subscribers_model.set_rows([])
            self.dead_model.set_rows([])
        elif self._webhooks_task is None:
            task = self._webhooks_task = self._schedule(self._read_webhooks(webhooks))
            task.add_done_callback(self._on_webhooks)
        self._update_tabs(host, webhooks)
        self._update_buttons()

    @staticmethod
    async def _read_webhooks(webhooks: WebhookService) -> WebhookState:
        return await webhooks.subscribers(), await webhooks.dead_letters()

    def _on_webhooks(self, task: asyncio.Task[WebhookState]) -> None:
        exc = None if task.cancelled() else task.exception()
        if not shiboken6.isValid(self):
            return
        self._webhooks_task = None
        if task.cancelled() or exc is not None:
            return  # the service stopped under the read (the API is stopping): the next refresh says so
        subscribers, dead = task.result()
        self.subscribers_model.set_rows(subscribers)
        self.dead_model.set_rows(dead)
        backend = self._desk.feedback_backend
        self._update_tabs(backend.learning if backend else None, backend.webhooks if backend else None)
        self._update_buttons()

    def _attach(self, backend: DeskFeedback | None) -> None:
        """Follow the learner host of the API running now (the API may start, stop and start again)."""
        if backend is self._backend:
            return
        if self._unlisten is not None:
            self._unlisten()
            self._unlisten = None
        self._backend = backend
        if backend is not None and backend.learning is not None:
            self._unlisten = backend.learning.add_listener(self._on_decision)
        if backend is not None:
            self._load_token()

    def _on_decision(self, _decision: Decision) -> None:
        if shiboken6.isValid(self):
            self._on_desk_event(None)

    def _on_desk_event(self, _event: object) -> None:
        if self.isVisible():  # a hidden panel catches up when shown
            self._soon.start()

    def _show_server(self, backend: DeskFeedback | None) -> None:
        address = self._desk.feedback_address
        if backend is None or address is None:
            why = self._server_error or "not started"
            starting = self._start_task is not None and not self._start_task.done()
            self.server_label.setText("Feedback API: starting..." if starting else
                                      f"The feedback API is not running: {why}")
            self.token_label.setText("")
            self.copy_button.setEnabled(False)
            return
        self.server_label.setText(f"Feedback API on {address}  (docs: {address}/docs)")
        self.token_label.setText(f"token {mask_token(self._token)}" if self._token else "token: reading...")
        self.copy_button.setEnabled(self._token is not None)

    def _update_tabs(self, host: LearnerHost | None, webhooks: WebhookService | None) -> None:
        pending = sum(1 for d in self.proposals_model.rows if d.status == "pending")
        self.tabs.setTabText(0, f"Proposals ({pending} pending)" if pending else "Proposals")
        self.tabs.setTabText(1, f"Webhooks ({self.subscribers_model.rowCount()})" if webhooks else "Webhooks (off)")
        dead = self.dead_model.rowCount()
        self.tabs.setTabText(2, f"Dead letters ({dead})" if dead else "Dead letters")
        self.tabs.setTabEnabled(0, host is not None)
        self.tabs.setTabEnabled(1, webhooks is not None)
        self.tabs.setTabEnabled(2, webhooks is not None)

    def _update_buttons(self) -> None:
        decision = self.selected_proposal()
        pending = decision is not None and decision.status == "pending"
        self.accept_button.setEnabled(pending)
        self.reject_button.setEnabled(pending)
        subscriber = self.selected_subscriber()
        self.enable_button.setEnabled(subscriber is not None and subscriber.state == "disabled")
        self.redeliver_button.setEnabled(bool(self.selected_dead_letters()))

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 - Qt's name
        super().showEvent(event)
        self.refresh()
        self._timer.start()

    def hideEvent(self, event: QHideEvent) -> None:  # noqa: N802 - Qt's name
        super().hideEvent(event)
        self._timer.stop()

    # -- selections ------------------------------------------------------------------------------------------
    @staticmethod
    def _selected_rows(table: QTableView) -> list[int]:
        return sorted({index.row() for index in table.selectionModel().selectedRows()})

    def selected_proposal(self) -> Decision | None:
        rows = self._selected_rows(self.proposals_table)
        return self.proposals_model.row(rows[0]) if rows else None

    def selected_subscriber(self) -> SubscriberView | None:
        rows = self._selected_rows(self.subscribers_table)
        return self.subscribers_model.row(rows[0]) if rows else None

    def selected_dead_letters(self) -> list[DeadLetterView]:
        return [self.dead_model.row(r) for r in self._selected_rows(self.dead_table)]

    # -- actions ---------------------------------------------------------------------------------------------
    def _schedule[T](self, coro: Coroutine[Any, Any, T]) -> asyncio.Task[T]:
        # The desk's loop (qasync in the app and in tests): the call returns at once, the answer comes back
        # through the task's done callback on the Qt thread.
        return self._desk.clock.loop.create_task(coro)

    def _act[T](self, coro: Coroutine[Any, Any, T], done: Callable[[T], str]) -> asyncio.Task[T]:
        """Schedule a service call; its outcome (or error) in the status line, then a refresh."""
        self._show_error(None)
        task = self._schedule(coro)

        def answered(t: asyncio.Task[T]) -> None:
            exc = None if t.cancelled() else t.exception()
            if t.cancelled() or not shiboken6.isValid(self):
                return
            if exc is not None:
                self._show_error(_errors_of(exc))
            else:
                self.status_label.setText(done(t.result()))
            self.refresh()

        task.add_done_callback(answered)
        return task

    def _host(self) -> LearnerHost | None:
        backend = self._desk.feedback_backend
        return backend.learning if backend is not None else None

    def _webhooks(self) -> WebhookService | None:
        backend = self._desk.feedback_backend
        return backend.webhooks if backend is not None else None

    def accept_selected(self) -> asyncio.Task[Decision] | None:
        """Apply the selected pending proposal (the host checks its guardrails again first)."""
        decision, host = self.selected_proposal(), self._host()
        if decision is None or host is None or decision.status != "pending":
            return None
        self.accept_button.setEnabled(False)  # one accept in flight: the row is no longer pending after it
        self.reject_button.setEnabled(False)
        return self._act(host.accept(decision.id), lambda d: f"{d.id} {d.status}: {d.reason}")

    def reject_selected(self) -> Decision | None:
        decision, host = self.selected_proposal(), self._host()
        if decision is None or host is None or decision.status != "pending":
            return None
        self._show_error(None)
        try:
            decided = host.reject(decision.id, REJECTED_IN_DESK)
        except (LookupError, ValueError) as exc:  # decided or trimmed meanwhile
            self._show_error(str(exc))
            self.refresh()
            return None
        self.status_label.setText(f"{decided.id} rejected")
        self.refresh()
        return decided

    def set_auto_apply(self, on: bool) -> None:
        """Apply new proposals that pass the guardrails at once (on) or keep them pending for Accept (off)."""
        host = self._host()
        if host is None:
            return
        host.set_auto_apply(on)
        self.status_label.setText("Auto-apply on: proposals that pass the guardrails apply at once" if on else
                                  "Auto-apply off: proposals wait for Accept or Reject")

    def enable_selected(self) -> asyncio.Task[SubscriberView] | None:
        subscriber, webhooks = self.selected_subscriber(), self._webhooks()
        if subscriber is None or webhooks is None or subscriber.state != "disabled":
            return None
        return self._act(webhooks.enable(subscriber.id), lambda s: f"{s.url}: delivering again")

    def redeliver_selected(self) -> asyncio.Task[int] | None:
        """Queue the selected dead letters again (before their subscribers' later deliveries)."""
        letters, webhooks = self.selected_dead_letters(), self._webhooks()
        if not letters or webhooks is None:
            return None
        self.redeliver_button.setEnabled(False)
        ids = [letter.id for letter in letters]

        async def redeliver() -> int:
            for letter_id in ids:
                await webhooks.redeliver(letter_id)
            return len(ids)

        return self._act(redeliver(), lambda n: f"{n} dead letter{'s' if n != 1 else ''} queued again")

    def _show_error(self, text: str | None) -> None:
        self.error_label.setText(text or "")
        self.error_label.setVisible(bool(text))
