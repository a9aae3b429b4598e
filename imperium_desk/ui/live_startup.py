"""Starting a broker session (PAPER · LIVE DATA or LIVE) before the desk exists: LIVE's confirmation, then the
saved login or the Connect dialog, then the connection. `run_gui` awaits it on the qasync loop; each dialog is
opened (never exec'd) and its `finished` signal resolves a future, so the loop and the window system keep running
while the trader reads."""

from __future__ import annotations

import asyncio
from typing import Protocol

from PySide6.QtWidgets import QDialog, QWidget

from imperium_desk.desk.live import LoginError, StoreChoice
from imperium_desk.domain.enums import Mode
from imperium_desk.ui.connect_dialog import BrokerLogin, ConnectDialog
from imperium_desk.ui.live_confirm import LiveConfirmDialog


class StartupConnector[V](BrokerLogin, Protocol):
    """What the start-up needs of the broker connection (`LiveConnector` is one), on top of the Connect dialog's
    `BrokerLogin`: the mode and account, a saved login, the login itself and `connect`, which returns the venue
    (`V`) the desk is built on. Every coroutine runs on the qasync loop; `login` raises `LoginError` and `connect`
    `LiveConnectError`, each with a message for the trader."""

    @property
    def mode(self) -> Mode: ...
    @property
    def account_hint(self) -> str: ...
    async def saved_login(self) -> bool: ...
    async def login(self, request_token: str, api_secret: str | None, remember: StoreChoice, /) -> None: ...
    async def connect(self) -> V: ...


async def dialog_accepted(dialog: QDialog) -> bool:
    """Opens `dialog` and waits for it on the loop: True when it was accepted. A cancelled wait (Ctrl+C) closes it."""
    # The loop this runs on (under tests a qasync loop that is not "running": get_running_loop would fail).
    answer: asyncio.Future[bool] = asyncio.get_event_loop().create_future()

    def finished(code: int) -> None:
        if not answer.done():
            answer.set_result(code == QDialog.DialogCode.Accepted.value)

    dialog.finished.connect(finished)
    dialog.open()
    try:
        return await answer
    finally:
        if dialog.isVisible():
            dialog.reject()


class LiveStartup[V]:
    """The start-up of a broker mode. `run()` returns the venue, or None when the trader cancelled a dialog:
    then nothing was connected (LIVE's confirmation comes before the connector is asked anything) and nothing is
    left running (the dialogs stop their tasks when they close). The dialogs stay reachable as attributes while
    they are open."""

    def __init__(self, connector: StartupConnector[V], parent: QWidget | None = None) -> None:
        self._connector = connector
        self._parent = parent
        self.confirm_dialog: LiveConfirmDialog | None = None
        self.connect_dialog: ConnectDialog | None = None
        self.venue: V | None = None

    async def run(self) -> V | None:
        connector = self._connector
        if connector.mode is Mode.LIVE:
            self.confirm_dialog = LiveConfirmDialog(connector.account_hint, self._parent)
            if not await dialog_accepted(self.confirm_dialog):
                return None
        problem: str | None = None
        try:
            saved = await connector.saved_login()
        except LoginError as exc:  # e.g. the keyring is locked: a fresh login still works
            saved, problem = False, exc.message
        self.connect_dialog = ConnectDialog(connector, connector.login, after_login=self._connect, logged_in=saved,
                                            parent=self._parent)
        if problem is not None:
            self.connect_dialog.show_error(problem)
        if not await dialog_accepted(self.connect_dialog):
            return None
        return self.venue

    async def _connect(self) -> None:
        self.venue = await self._connector.connect()
