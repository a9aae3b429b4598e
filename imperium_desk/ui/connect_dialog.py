"""The Connect dialog: logging in to Kite, at start-up (then connecting) and mid-session when the login expired.

Kite's login is a browser round trip: the trader logs in on Kite's page, and Kite redirects the browser to the app's
redirect URL with a one-time `request_token`. The dialog opens that page, listens for the redirect on loopback
(`catch_redirect`) and, as a fallback, takes the address the browser landed on, pasted. With the token (and the API
secret when the store has none) Connect logs in, then, at start-up, connects.

Nothing here blocks the Qt thread: every broker step is a coroutine run as a task on the qasync loop, and its
outcome comes back to the dialog through the task's done callback. Errors (`LoginError`, `LiveConnectError`) are
shown inline and the dialog stays open. Connect is the default button, so Enter connects, but only while it is
enabled; Esc cancels (and stops listening).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from enum import StrEnum
from typing import Protocol, override

import shiboken6
from PySide6.QtCore import Qt, QUrl
from PySide6.QtGui import QDesktopServices, QShowEvent
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from imperium_desk.desk.live import LiveConnectError, LoginError, StoreChoice
from imperium_desk.ui import palette
from imperium_desk.ui.widgets import push_button, wrapped_label

STORE_LABELS: dict[StoreChoice, str] = {
    StoreChoice.KEYRING: "in the OS keyring",
    StoreChoice.FILE: "in a file readable only by my user",
    StoreChoice.NONE: "nowhere: ask me at each login",
}
MIN_WIDTH_PX = 560  # the login and redirect URLs fit on a line or two
FILE_AGREEMENT = "I agree to keep the API secret and today's access token in a file readable only by my user"


class BrokerLogin(Protocol):
    """What the Connect dialog needs of the broker connection (`LiveConnector` is one): where the trader logs in,
    the loopback listener for Kite's redirect, and how the secret may be kept.

    Used on the Qt thread (the qasync loop). `catch_redirect` waits until the browser comes back and returns its
    request_token; the dialog cancels the awaiting task to stop listening. `parse_redirect` reads a pasted address
    and raises `LoginError` (with a message for the trader) when it holds no token."""

    @property
    def login_url(self) -> str: ...
    @property
    def redirect_url(self) -> str: ...
    @property
    def needs_api_secret(self) -> bool: ...
    @property
    def store_choices(self) -> Sequence[StoreChoice]: ...
    async def catch_redirect(self) -> str: ...
    def parse_redirect(self, text: str, /) -> str: ...


LoginStep = Callable[[str, str | None, StoreChoice], Awaitable[None]]  # request_token, api_secret, remember
ConnectStep = Callable[[], Awaitable[None]]
UrlOpener = Callable[[QUrl], bool]


class Phase(StrEnum):
    """Where the dialog stands."""

    INPUT = "input"  # waiting for a token (browser or paste) and, when needed, the secret
    LOGGING_IN = "logging_in"
    CONNECTING = "connecting"  # logged in; the after-login step (start-up's connect) runs
    CONNECT_FAILED = "connect_failed"  # logged in, but connecting failed: Retry connects again, without a login
    DONE = "done"


def default_store_choice(choices: Sequence[StoreChoice]) -> StoreChoice:
    """The OS keyring when one is offered, else nowhere: a file is never the default."""
    return StoreChoice.KEYRING if StoreChoice.KEYRING in choices else StoreChoice.NONE


def error_text(exc: BaseException) -> str:
    if isinstance(exc, LoginError | LiveConnectError):
        return exc.message
    return f"{type(exc).__name__}: {exc}"  # an unexpected failure: still said where the trader looks


class ConnectDialog(QDialog):
    """Logs in to Kite with `submit` (the connector's `login` at start-up, `Desk.relogin` mid-session), then runs
    `after_login` (start-up's connect) when given, and is accepted once both succeeded. With `logged_in` (a saved
    login was found) only `after_login` runs, at once. Open it with `.open()` or `.show()`; it starts listening for
    the browser's redirect when first shown."""

    def __init__(
        self,
        login: BrokerLogin,
        submit: LoginStep,
        *,
        after_login: ConnectStep | None = None,
        logged_in: bool = False,
        open_url: UrlOpener = QDesktopServices.openUrl,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("connectDialog")
        self.setWindowTitle("Connect to Kite")
        self._login = login
        self._submit = submit
        self._after_login = after_login
        self._open_url = open_url
        self._needs_secret = login.needs_api_secret and not logged_in
        self.phase = Phase.CONNECTING if logged_in else Phase.INPUT
        self._caught_token: str | None = None
        self._pasted_token: str | None = None
        self._listening: asyncio.Task[str] | None = None
        self._working: asyncio.Task[None] | None = None
        self._started = False

        self._build_login_box()
        self._build_footer()
        self.login_box.setVisible(not logged_in)
        self._connect_signals()
        self._refresh()

    # -- construction --------------------------------------------------------------------------------------
    def _build_login_box(self) -> None:
        self.login_box = QWidget(self)
        intro = wrapped_label(self.login_box, "connectIntro")
        intro.setText("Log in on Kite's page. Kite then sends the browser to the redirect URL below (your Kite Connect "
                      "app's redirect URL must be exactly this), where the desk picks the login up. If the browser "
                      "shows an error page instead, paste the address it landed on.")
        self.open_button = push_button(self.login_box, "Open Kite login in the browser", "connectOpenBrowser",
                                       self.open_login_page)
        self.open_button.setAutoDefault(False)
        self.login_url_label = self._selectable(self._login.login_url, "connectLoginUrl")
        self.redirect_url_label = self._selectable(self._login.redirect_url, "connectRedirectUrl")
        self.redirect_url_label.setToolTip("Set this as the redirect URL of your Kite Connect app")
        self.paste_edit = QLineEdit(self.login_box)
        self.paste_edit.setObjectName("connectPastedUrl")
        self.paste_edit.setPlaceholderText("or paste the address the browser landed on after the login")
        self.secret_edit = QLineEdit(self.login_box)
        self.secret_edit.setObjectName("connectApiSecret")
        self.secret_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.secret_edit.setPlaceholderText("the API secret of your Kite Connect app")
        self.store_combo = QComboBox(self.login_box)
        self.store_combo.setObjectName("connectStoreChoice")
        for choice in self._login.store_choices:  # Qt hands a StrEnum back as a plain str: store the value
            self.store_combo.addItem(STORE_LABELS[choice], choice.value)
        self.store_combo.setCurrentIndex(
            max(0, self.store_combo.findData(default_store_choice(self._login.store_choices).value)))
        self.file_agreement = QCheckBox(FILE_AGREEMENT, self.login_box)
        self.file_agreement.setObjectName("connectFileAgreement")

        self._form = QFormLayout(self.login_box)
        self._form.setContentsMargins(0, 0, 0, 0)
        self._form.addRow(intro)
        self._form.addRow(self.open_button)
        self._form.addRow("Login page", self.login_url_label)
        self._form.addRow("Redirect URL", self.redirect_url_label)
        self._form.addRow("Landed on", self.paste_edit)
        self._form.addRow("API secret", self.secret_edit)
        self._form.addRow("Keep the login", self.store_combo)
        self._form.addRow(self.file_agreement)
        self._form.setRowVisible(self.secret_edit, self._needs_secret)

    def _build_footer(self) -> None:
        self.status_label = wrapped_label(self, "connectStatus")
        self.busy_bar = QProgressBar(self)
        self.busy_bar.setObjectName("connectBusy")
        self.busy_bar.setRange(0, 0)  # no figure to show: it only says "working"
        self.busy_bar.setTextVisible(False)
        self.busy_bar.setMaximumHeight(6)
        self.error_label = wrapped_label(self, "connectError")
        self.error_label.setStyleSheet(f"color: {palette.ERROR};")
        self.connect_button = QPushButton("Connect", self)
        self.connect_button.setObjectName("connectButton")
        self.connect_button.setDefault(True)
        self.cancel_button = QPushButton("Cancel", self)
        self.cancel_button.setObjectName("connectCancel")
        self.cancel_button.setAutoDefault(False)  # Enter means Connect (when it is enabled), wherever the focus is

        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.cancel_button)
        buttons.addWidget(self.connect_button)
        layout = QVBoxLayout(self)
        # Wrapped labels report their height only for a given width: the dialog starts at a width and grows to the
        # height its layout needs at that width when shown (it opened too short, clipping its first paragraph).
        self.setMinimumWidth(MIN_WIDTH_PX)
        layout.addWidget(self.login_box)
        layout.addWidget(self.status_label)
        layout.addWidget(self.busy_bar)
        layout.addWidget(self.error_label)
        layout.addLayout(buttons)

    def _selectable(self, text: str, name: str) -> QLabel:
        label = wrapped_label(self.login_box, name)
        label.setText(text)
        label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        return label

    def _connect_signals(self) -> None:
        self.paste_edit.textChanged.connect(self._pasted)
        self.secret_edit.textChanged.connect(self._refresh)
        self.store_combo.currentIndexChanged.connect(self._refresh)
        self.file_agreement.toggled.connect(self._refresh)
        self.connect_button.clicked.connect(self.submit)
        self.cancel_button.clicked.connect(self.reject)

    # -- what the dialog holds -----------------------------------------------------------------------------
    @property
    def token(self) -> str | None:
        """The request_token Connect would use: a pasted address's over one caught from the browser."""
        return self._pasted_token or self._caught_token

    @property
    def store_choice(self) -> StoreChoice:
        chosen = self.store_combo.currentData()
        return StoreChoice.NONE if chosen is None else StoreChoice(chosen)  # nothing offered: nothing kept

    @property
    def api_secret(self) -> str | None:
        secret = self.secret_edit.text().strip()
        return secret if self._needs_secret and secret else None

    @property
    def can_submit(self) -> bool:
        """Connect's state: in INPUT, a token, the secret when one is needed, and the explicit agreement when the
        login is to be kept in a file; after a failed connect, Retry."""
        if self.phase is Phase.CONNECT_FAILED:
            return True
        return (self.phase is Phase.INPUT and self.token is not None
                and (self.api_secret is not None or not self._needs_secret)
                and (self.store_choice is not StoreChoice.FILE or self.file_agreement.isChecked()))

    @property
    def listening(self) -> bool:
        return self._listening is not None and not self._listening.done()

    # -- actions -------------------------------------------------------------------------------------------
    def open_login_page(self) -> None:
        if not self._open_url(QUrl(self._login.login_url)):
            self.show_error("No browser opened: open the login page above yourself")

    def submit(self) -> None:
        """Connect (or Retry): log in with the token, then run the after-login step; outcomes arrive inline."""
        if not self.can_submit:
            return
        self.error_label.clear()
        if self.phase is Phase.CONNECT_FAILED:
            self._start_after_login()
            return
        token = self.token
        assert token is not None  # can_submit
        self._stop_listening()  # one login at a time; listening resumes if it fails
        self.phase = Phase.LOGGING_IN
        self._working = self._run(self._logged_in, self._submit(token, self.api_secret, self.store_choice))
        self._refresh()

    def show_error(self, message: str) -> None:
        self.error_label.setText(message)

    @override
    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        layout = self.layout()
        if layout is not None and layout.hasHeightForWidth():
            needed = layout.totalHeightForWidth(self.width())
            if needed > self.height():
                self.resize(self.width(), needed)
        if self._started:
            return
        self._started = True
        if self.phase is Phase.CONNECTING:
            self._start_after_login()
        else:
            self._listen()

    @override
    def done(self, result: int) -> None:
        # Closed either way: stop listening and abandon a step still running, so nothing outlives the dialog.
        self._stop_listening()
        if self._working is not None and not self._working.done():
            self._working.cancel()
        self.secret_edit.clear()
        super().done(result)

    # -- the broker steps, as tasks on the loop ----------------------------------------------------------------
    def _run[T](self, then: Callable[[asyncio.Task[T]], None], step: Awaitable[T]) -> asyncio.Task[T]:
        task = asyncio.ensure_future(step)
        task.add_done_callback(lambda t: None if t.cancelled() or not shiboken6.isValid(self) else then(t))
        return task

    def _listen(self) -> None:
        self._listening = self._run(self._caught, self._login.catch_redirect())
        self._refresh()

    def _stop_listening(self) -> None:
        if self._listening is not None and not self._listening.done():
            self._listening.cancel()
        self._listening = None

    def _caught(self, task: asyncio.Task[str]) -> None:
        self._listening = None
        failure = task.exception()
        if failure is not None:  # e.g. the port is taken: the pasted address still works
            self.show_error(error_text(failure))
            self._refresh()
            return
        self._caught_token = task.result()
        self.error_label.clear()
        self._refresh()
        self.submit()  # the trader has acted in the browser; without a secret to type this logs in at once

    def _pasted(self, text: str) -> None:
        self._pasted_token = None
        if text.strip():
            try:
                self._pasted_token = self._login.parse_redirect(text.strip())
            except LoginError as exc:
                self.show_error(exc.message)
            else:
                self.error_label.clear()
        else:
            self.error_label.clear()
        self._refresh()

    def _logged_in(self, task: asyncio.Task[None]) -> None:
        self._working = None
        failure = task.exception()
        if failure is not None:
            self.phase = Phase.INPUT
            self.show_error(error_text(failure))
            self._listen()  # a fresh browser login may be needed: its redirect is caught again
            return
        self.secret_edit.clear()
        if self._after_login is None:
            self._finish()
        else:
            self._start_after_login()

    def _start_after_login(self) -> None:
        assert self._after_login is not None  # logged_in / CONNECT_FAILED only exist with an after-login step
        self.phase = Phase.CONNECTING
        self._working = self._run(self._after_login_done, self._after_login())
        self._refresh()

    def _after_login_done(self, task: asyncio.Task[None]) -> None:
        self._working = None
        failure = task.exception()
        if failure is not None:
            self.phase = Phase.CONNECT_FAILED
            self.show_error(error_text(failure))
            self._refresh()
            return
        self._finish()

    def _finish(self) -> None:
        self.phase = Phase.DONE
        self._refresh()
        self.accept()

    # -- look ------------------------------------------------------------------------------------------------
    def _refresh(self) -> None:
        inputs = self.phase is Phase.INPUT
        for widget in (self.open_button, self.paste_edit, self.secret_edit, self.store_combo, self.file_agreement):
            widget.setEnabled(inputs)
        self._form.setRowVisible(self.file_agreement, self.store_choice is StoreChoice.FILE)
        self.connect_button.setText("Retry" if self.phase is Phase.CONNECT_FAILED else "Connect")
        self.connect_button.setEnabled(self.can_submit)
        self.busy_bar.setVisible(self.phase in (Phase.LOGGING_IN, Phase.CONNECTING) or self.listening)
        self.status_label.setText(self._status())

    def _status(self) -> str:
        match self.phase:
            case Phase.INPUT if self.token is not None:
                missing_secret = self._needs_secret and self.api_secret is None
                return f"Login received: {'enter the API secret and ' if missing_secret else ''}Connect to log in"
            case Phase.INPUT if self.listening:
                return "Log in on Kite's page; the desk is waiting for the browser to come back"
            case Phase.INPUT:
                return "Paste the address the browser landed on after the login"
            case Phase.LOGGING_IN:
                return "Logging in to Kite…"
            case Phase.CONNECTING:
                return "Connecting to Kite: instruments, orders and quotes…"
            case Phase.CONNECT_FAILED:
                return "Logged in, but not connected"
            case Phase.DONE:
                return "Connected"
