"""The broker login during a session: when the desk says it EXPIRED, the Connect dialog opens (once) and logs in
again through `Desk.relogin`; the desk resumes sending by itself after that. The warning ahead of expiry is the
status bar's (ui/status.py)."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject, Qt
from PySide6.QtWidgets import QDialog, QWidget

from imperium_desk.desk import Desk, SessionEvent, SessionState
from imperium_desk.ui.bridge import DeskBridge
from imperium_desk.ui.connect_dialog import BrokerLogin, ConnectDialog

RELOGGED_IN = "Logged in to Kite again: orders go out again"


class SessionWatch(QObject):
    """Opens the Connect dialog over `window` when the desk's broker login expires. The dialog is not modal: the
    kill switch and EXIT ALL stay in reach while it is open (the desk refuses orders until the login is back).
    `notify` gets a line for the status bar once logged in again."""

    def __init__(self, desk: Desk, bridge: DeskBridge, login: BrokerLogin, window: QWidget,
                 notify: Callable[[str], None]) -> None:
        super().__init__(window)
        self._desk = desk
        self._login = login
        self._window = window
        self._notify = notify
        self.dialog: ConnectDialog | None = None
        bridge.session.connect(self.on_session)

    def on_session(self, event: SessionEvent) -> None:
        if event.state is SessionState.EXPIRED and self.dialog is None:
            self.open_dialog()

    def open_dialog(self) -> ConnectDialog:
        dialog = ConnectDialog(self._login, self._desk.relogin, parent=self._window)
        dialog.setWindowTitle("Kite login expired: log in again")
        dialog.setWindowModality(Qt.WindowModality.NonModal)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.finished.connect(lambda code: self._closed(dialog, code))
        self.dialog = dialog
        dialog.show()
        return dialog

    def _closed(self, dialog: ConnectDialog, code: int) -> None:
        if self.dialog is dialog:
            self.dialog = None
        if code == QDialog.DialogCode.Accepted.value:
            self._notify(RELOGGED_IN)
