"""Starting a broker session from the window: LIVE's confirmation before anything connects, the Connect dialog
(browser redirect, pasted address, API secret, where the login is kept) and the connection, against a fake
connector whose coroutines return or raise what each test decides."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import pytest
import qasync
from PySide6.QtCore import Qt, QUrl
from PySide6.QtWidgets import QWidget
from pytestqt.qtbot import QtBot

from imperium_desk.desk.live import LiveConnectError, LoginError, StoreChoice
from imperium_desk.domain.enums import Mode
from imperium_desk.ui.connect_dialog import ConnectDialog, Phase, UrlOpener, default_store_choice
from imperium_desk.ui.live_confirm import LiveConfirmDialog
from imperium_desk.ui.live_startup import LiveStartup
from tests.ui.fake_connector import LANDED, TOKEN, VENUE, FakeConnector

REPO = Path(__file__).resolve().parents[2]


def click(qtbot: QtBot, widget: QWidget) -> None:
    qtbot.mouseClick(widget, Qt.MouseButton.LeftButton)  # type: ignore[no-untyped-call]


def key(qtbot: QtBot, widget: QWidget, k: Qt.Key) -> None:
    qtbot.keyClick(widget, k)  # type: ignore[no-untyped-call]


def type_text(qtbot: QtBot, widget: QWidget, text: str) -> None:
    qtbot.keyClicks(widget, text)  # type: ignore[no-untyped-call]


def start(qt_loop: qasync.QEventLoop, fake: FakeConnector) -> tuple[LiveStartup[str], asyncio.Task[str | None]]:
    startup = LiveStartup(fake)
    return startup, qt_loop.create_task(startup.run())


def confirm_dialog(qtbot: QtBot, startup: LiveStartup[str]) -> LiveConfirmDialog:
    qtbot.waitUntil(lambda: startup.confirm_dialog is not None and startup.confirm_dialog.isVisible())
    assert startup.confirm_dialog is not None
    return startup.confirm_dialog


def connect_dialog(qtbot: QtBot, startup: LiveStartup[str]) -> ConnectDialog:
    qtbot.waitUntil(lambda: startup.connect_dialog is not None and startup.connect_dialog.isVisible())
    assert startup.connect_dialog is not None
    return startup.connect_dialog


def outcome(qtbot: QtBot, task: asyncio.Task[str | None]) -> str | None:
    qtbot.waitUntil(task.done)
    return task.result()


def shown_dialog(qtbot: QtBot, fake: FakeConnector, open_url: UrlOpener = lambda _url: True) -> ConnectDialog:
    """A Connect dialog that logs in through the fake, shown and listening."""
    dialog = ConnectDialog(fake, fake.login, open_url=open_url)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitUntil(lambda: fake.listening)
    return dialog


# -- LIVE's confirmation ------------------------------------------------------------------------------------------
def test_live_asks_the_connector_nothing_before_the_trader_confirms(
    qtbot: QtBot, qt_loop: qasync.QEventLoop
) -> None:
    fake = FakeConnector(saved=True)
    startup, task = start(qt_loop, fake)
    dialog = confirm_dialog(qtbot, startup)
    assert fake.calls == []
    type_text(qtbot, dialog.word_edit, "LIVE")
    click(qtbot, dialog.trade_button)
    assert outcome(qtbot, task) == VENUE
    assert fake.calls == ["saved_login", "connect"]


def test_cancelling_the_live_confirmation_connects_nothing(qtbot: QtBot, qt_loop: qasync.QEventLoop) -> None:
    fake = FakeConnector(saved=True)
    startup, task = start(qt_loop, fake)
    click(qtbot, confirm_dialog(qtbot, startup).cancel_button)
    assert outcome(qtbot, task) is None
    assert fake.calls == []


def test_escape_cancels_the_live_confirmation(qtbot: QtBot, qt_loop: qasync.QEventLoop) -> None:
    fake = FakeConnector(saved=True)
    startup, task = start(qt_loop, fake)
    key(qtbot, confirm_dialog(qtbot, startup).word_edit, Qt.Key.Key_Escape)
    assert outcome(qtbot, task) is None
    assert fake.calls == []


def test_enter_does_not_confirm_live_until_the_word_is_typed(qtbot: QtBot) -> None:
    dialog = LiveConfirmDialog("api key abc123")
    qtbot.addWidget(dialog)
    dialog.show()
    type_text(qtbot, dialog.word_edit, "live")
    key(qtbot, dialog.word_edit, Qt.Key.Key_Return)
    assert dialog.isVisible() and not dialog.trade_button.isEnabled()
    dialog.word_edit.setText("LIVE")
    with qtbot.waitSignal(dialog.accepted, timeout=1000):
        key(qtbot, dialog.word_edit, Qt.Key.Key_Return)


def test_paper_on_live_data_needs_no_confirmation(qtbot: QtBot, qt_loop: qasync.QEventLoop) -> None:
    fake = FakeConnector(mode=Mode.PAPER_LIVE_DATA, saved=True)
    startup, task = start(qt_loop, fake)
    assert outcome(qtbot, task) == VENUE
    assert startup.confirm_dialog is None


# -- the Connect dialog in the start-up ---------------------------------------------------------------------------
def test_without_a_saved_login_the_browser_redirect_logs_in_and_connects(
    qtbot: QtBot, qt_loop: qasync.QEventLoop
) -> None:
    fake = FakeConnector(mode=Mode.PAPER_LIVE_DATA)
    startup, task = start(qt_loop, fake)
    connect_dialog(qtbot, startup)
    qtbot.waitUntil(lambda: fake.listening)
    fake.browser_returns(TOKEN)
    assert outcome(qtbot, task) == VENUE
    assert fake.logins == [(TOKEN, None, StoreChoice.KEYRING)]
    assert fake.calls == ["saved_login", "catch_redirect", "login", "connect"]


def test_cancelling_the_connect_dialog_stops_listening_and_connects_nothing(
    qtbot: QtBot, qt_loop: qasync.QEventLoop
) -> None:
    fake = FakeConnector(mode=Mode.PAPER_LIVE_DATA)
    startup, task = start(qt_loop, fake)
    dialog = connect_dialog(qtbot, startup)
    qtbot.waitUntil(lambda: fake.listening)
    click(qtbot, dialog.cancel_button)
    assert outcome(qtbot, task) is None
    qtbot.waitUntil(lambda: "stopped_listening" in fake.calls)
    assert "login" not in fake.calls and "connect" not in fake.calls


def test_a_connect_error_is_shown_and_retry_connects_without_logging_in_again(
    qtbot: QtBot, qt_loop: qasync.QEventLoop
) -> None:
    fake = FakeConnector(mode=Mode.PAPER_LIVE_DATA, saved=True,
                         connect_errors=[LiveConnectError("instruments download failed")])
    startup, task = start(qt_loop, fake)
    dialog = connect_dialog(qtbot, startup)
    qtbot.waitUntil(lambda: dialog.phase is Phase.CONNECT_FAILED)
    assert dialog.isVisible() and dialog.error_label.text() and dialog.connect_button.isEnabled()
    click(qtbot, dialog.connect_button)
    assert outcome(qtbot, task) == VENUE
    assert fake.calls == ["saved_login", "connect", "connect"]


# -- the Connect dialog's fields ----------------------------------------------------------------------------------
def test_connect_waits_for_a_token_and_the_needed_secret(qtbot: QtBot, qt_loop: qasync.QEventLoop) -> None:
    fake = FakeConnector(needs_api_secret=True)
    dialog = shown_dialog(qtbot, fake)
    assert not dialog.connect_button.isEnabled()
    dialog.paste_edit.setText(LANDED)
    assert not dialog.connect_button.isEnabled()  # the secret is still missing
    type_text(qtbot, dialog.secret_edit, "s3cret")
    assert dialog.connect_button.isEnabled()
    assert dialog.secret_edit.echoMode() is dialog.secret_edit.EchoMode.Password


def test_the_secret_field_is_hidden_when_the_store_has_the_secret(qtbot: QtBot, qt_loop: qasync.QEventLoop) -> None:
    dialog = shown_dialog(qtbot, FakeConnector(needs_api_secret=False))
    assert not dialog.secret_edit.isVisible()


def test_a_caught_redirect_waits_for_the_needed_secret_then_logs_in_with_it(
    qtbot: QtBot, qt_loop: qasync.QEventLoop
) -> None:
    fake = FakeConnector(needs_api_secret=True)
    dialog = shown_dialog(qtbot, fake)
    fake.browser_returns(TOKEN)
    qtbot.waitUntil(lambda: dialog.token == TOKEN)
    assert "login" not in fake.calls
    type_text(qtbot, dialog.secret_edit, "s3cret")
    with qtbot.waitSignal(dialog.accepted, timeout=2000):
        key(qtbot, dialog.secret_edit, Qt.Key.Key_Return)
    assert fake.logins == [(TOKEN, "s3cret", StoreChoice.KEYRING)]


def test_a_pasted_address_is_read_by_the_connector_and_its_error_shown_inline(
    qtbot: QtBot, qt_loop: qasync.QEventLoop
) -> None:
    fake = FakeConnector()
    dialog = shown_dialog(qtbot, fake)
    dialog.paste_edit.setText("https://example.com/no-token")
    assert dialog.error_label.text() and not dialog.connect_button.isEnabled()
    dialog.paste_edit.setText(LANDED)
    assert not dialog.error_label.text() and dialog.token == TOKEN
    with qtbot.waitSignal(dialog.accepted, timeout=2000):
        click(qtbot, dialog.connect_button)
    assert fake.logins == [(TOKEN, None, StoreChoice.KEYRING)]


def test_enter_does_nothing_while_connect_is_disabled(qtbot: QtBot, qt_loop: qasync.QEventLoop) -> None:
    fake = FakeConnector()
    dialog = shown_dialog(qtbot, fake)
    key(qtbot, dialog.paste_edit, Qt.Key.Key_Return)
    assert dialog.isVisible() and dialog.phase is Phase.INPUT
    assert "login" not in fake.calls


def test_escape_cancels_the_connect_dialog_and_stops_listening(qtbot: QtBot, qt_loop: qasync.QEventLoop) -> None:
    fake = FakeConnector()
    dialog = shown_dialog(qtbot, fake)
    with qtbot.waitSignal(dialog.rejected, timeout=1000):
        key(qtbot, dialog.paste_edit, Qt.Key.Key_Escape)
    qtbot.waitUntil(lambda: "stopped_listening" in fake.calls)


def test_a_login_error_is_shown_inline_and_the_dialog_listens_again(qtbot: QtBot, qt_loop: qasync.QEventLoop) -> None:
    fake = FakeConnector(login_errors=[LoginError("The token has expired")])
    dialog = shown_dialog(qtbot, fake)
    fake.browser_returns(TOKEN)
    qtbot.waitUntil(lambda: "login" in fake.calls and dialog.phase is Phase.INPUT)
    assert dialog.isVisible() and dialog.error_label.text()
    qtbot.waitUntil(lambda: fake.listening)
    fake.browser_returns("fresh")
    qtbot.waitUntil(lambda: not dialog.isVisible())
    assert [login[0] for login in fake.logins] == [TOKEN, "fresh"]


def test_keeping_the_login_in_a_file_needs_the_explicit_agreement(qtbot: QtBot, qt_loop: qasync.QEventLoop) -> None:
    fake = FakeConnector()
    dialog = shown_dialog(qtbot, fake)
    dialog.paste_edit.setText(LANDED)
    dialog.store_combo.setCurrentIndex(dialog.store_combo.findData(StoreChoice.FILE.value))
    assert dialog.file_agreement.isVisible() and not dialog.connect_button.isEnabled()
    click(qtbot, dialog.file_agreement)
    with qtbot.waitSignal(dialog.accepted, timeout=2000):
        click(qtbot, dialog.connect_button)
    assert fake.logins == [(TOKEN, None, StoreChoice.FILE)]


@pytest.mark.parametrize(("offered", "default"), [
    ([StoreChoice.KEYRING, StoreChoice.FILE, StoreChoice.NONE], StoreChoice.KEYRING),
    ([StoreChoice.FILE, StoreChoice.NONE], StoreChoice.NONE),
])
def test_the_login_is_kept_in_the_keyring_by_default_and_never_in_a_file(
    offered: list[StoreChoice], default: StoreChoice
) -> None:
    assert default_store_choice(offered) is default


def test_the_login_page_opens_in_the_browser(qtbot: QtBot, qt_loop: qasync.QEventLoop) -> None:
    fake = FakeConnector()
    opened: list[QUrl] = []

    def open_url(url: QUrl) -> bool:
        opened.append(url)
        return True

    dialog = shown_dialog(qtbot, fake, open_url)
    click(qtbot, dialog.open_button)
    assert opened == [QUrl(fake.login_url)]


# -- the app ------------------------------------------------------------------------------------------------------
def test_the_app_exits_0_with_nothing_started_when_live_is_not_confirmed(tmp_path: Path) -> None:
    child = subprocess.run([sys.executable, "-m", "tests.ui.live_startup_child", str(tmp_path)],
                           capture_output=True, text=True, timeout=60, check=False, cwd=REPO)
    assert child.returncode == 0, child.stderr
    outcome = json.loads(child.stdout.splitlines()[-1])
    assert outcome == {"returned": 0, "calls": [], "home": []}  # no connector call, no desk, no telemetry
