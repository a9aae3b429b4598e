"""The window in LIVE mode end to end against a fake Kite over loopback: LIVE confirmed before anything connects, a
login through the Connect dialog, the red LIVE badge, the ladder's ticket, the multi-strike BUY and EXIT ALL
reaching Kite as this desk's tagged orders, and the feed indicator following the ticker."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import qasync
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from imperium_desk.desk import Desk
from imperium_desk.domain.enums import Mode, OptionRight, Side
from imperium_desk.ui import palette
from imperium_desk.ui.ladder import column_of
from imperium_desk.ui.main_window import ImperiumMainWindow
from imperium_desk.ui.status import FeedHealth
from tests.fake_kite.server import FakeKite
from tests.ui.live_window_support import (
    FAST_FAKE,
    ORDER_TIMEOUT_MS,
    START_TIMEOUT_MS,
    UNDERLYING,
    LiveStartupRun,
    begin_startup,
    click,
    click_ladder_cell,
    close_window,
    confirm_live,
    fill_colour,
    filled_orders,
    free_port,
    kite_broker,
    live_config,
    log_in_by_pasting,
    net_quantity,
    official_client,
    press,
    refusing_keyring,
    running_qt_loop,
    show_window,
    started_venue,
)


@pytest.fixture
def qt_loop(qapp: QApplication) -> Iterator[qasync.QEventLoop]:
    """The conftest's loop, counted as running (the Kite clients need that): `running_qt_loop`."""
    yield from running_qt_loop(qapp)


@pytest.fixture
def fake() -> Iterator[FakeKite]:
    kite = FakeKite(FAST_FAKE).start()
    yield kite
    kite.stop()


@pytest.fixture
def opened(qtbot: QtBot, qt_loop: qasync.QEventLoop) -> Iterator[list[ImperiumMainWindow]]:
    """Windows a test opened: closed at teardown as the trader closes one (the desk stops), with nothing left
    running on the loop after."""
    windows: list[ImperiumMainWindow] = []
    yield windows
    for window in windows:
        assert close_window(qtbot, qt_loop, window) == []


@dataclass
class LiveWindow:
    """The LIVE window on the fake, logged in through its dialogs."""

    fake: FakeKite
    window: ImperiumMainWindow

    @property
    def desk(self) -> Desk:
        return self.window.desk

    def ours(self, tag: str | None) -> bool:
        """`tag` decodes to this desk's tag session."""
        return kite_broker(self.desk).tags.decode(tag) is not None


@pytest.fixture
def startup(
    qtbot: QtBot, qt_loop: qasync.QEventLoop, fake: FakeKite, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[LiveStartupRun]:
    """The LIVE start-up on a real connector to the fake, the keyring refusing; whatever a failed test left of
    it is ended at teardown."""
    refusing_keyring(monkeypatch)
    run = begin_startup(qt_loop, live_config(fake, free_port()), tmp_path)
    yield run
    run.abandon(qtbot)


@pytest.fixture
def live(
    qtbot: QtBot, qt_loop: qasync.QEventLoop, fake: FakeKite, startup: LiveStartupRun, tmp_path: Path,
    opened: list[ImperiumMainWindow],
) -> LiveWindow:
    """Started as the trader starts it: LIVE typed, the redirect address pasted with the API secret, connected,
    the window open; closed at teardown with nothing left running."""
    confirm_live(qtbot, startup)
    log_in_by_pasting(qtbot, startup, fake)
    window = show_window(qtbot, qt_loop, tmp_path, startup, started_venue(qtbot, startup))
    opened.append(window)
    return LiveWindow(fake, window)


def test_nothing_reaches_kite_until_live_is_confirmed_and_then_the_pasted_login_connects(
    qtbot: QtBot, fake: FakeKite, startup: LiveStartupRun
) -> None:
    qtbot.waitUntil(lambda: startup.startup.confirm_dialog is not None and startup.startup.confirm_dialog.isVisible())
    qtbot.wait(200)  # the loop runs meanwhile: still nothing may reach Kite
    assert fake.requests() == [] and startup.startup.connect_dialog is None
    confirm_live(qtbot, startup)
    log_in_by_pasting(qtbot, startup, fake)
    venue = started_venue(qtbot, startup)
    assert venue.broker is not None  # LIVE: orders go to Kite
    assert startup.connector.user_id == FAST_FAKE.user_id  # logged in with the pasted token, not a ready session


def test_the_live_window_wears_the_red_live_badge(live: LiveWindow) -> None:
    badge = live.window.header.mode_badge
    assert live.desk.mode is Mode.LIVE and badge.text() == "LIVE"
    assert fill_colour(badge) == QColor(palette.LIVE_FILL)


def test_a_ladder_ticket_reaches_kite_tagged_with_this_desks_session(qtbot: QtBot, live: LiveWindow) -> None:
    ladder = live.window.ladder
    row = ladder.model.atm_row
    assert row is not None
    qtbot.waitUntil(lambda: ladder.model.quote_at(row, OptionRight.CE).ask > 0, timeout=START_TIMEOUT_MS)
    click_ladder_cell(qtbot, live.window, ladder.model.index(row, column_of(OptionRight.CE, "ask")))
    qtbot.waitUntil(lambda: live.window.quick_order is not None and live.window.quick_order.isVisible())
    ticket = live.window.quick_order
    assert ticket is not None and ticket.click.side is Side.BUY
    symbol, quantity = ticket.click.symbol, ticket.lots_spin.value() * ticket.lot_size
    press(qtbot, ticket, Qt.Key.Key_Return)

    def filled() -> int:
        return sum(o["filled_quantity"] for o in filled_orders(live.fake, lambda o: o["tradingsymbol"] == symbol))

    qtbot.waitUntil(lambda: filled() == quantity, timeout=ORDER_TIMEOUT_MS)
    orders = live.fake.orders()
    assert orders and all(o["transaction_type"] == "BUY" and live.ours(o["tag"]) for o in orders)


def test_a_multi_strike_buy_reaches_kite_as_one_tagged_order_per_strike(qtbot: QtBot, live: LiveWindow) -> None:
    panel = live.window.multi_strike
    qtbot.waitUntil(lambda: panel.buy_button.isEnabled() and panel.preview_model.rowCount() == 3,
                    timeout=START_TIMEOUT_MS)
    click(qtbot, panel.buy_button)
    qtbot.waitUntil(lambda: panel.confirm_dialog is not None and panel.confirm_dialog.isVisible())
    dialog = panel.confirm_dialog
    assert dialog is not None
    legs = dialog.legs_model
    symbols = {legs.index(r, legs.SYMBOL).data() for r in range(legs.rowCount())}
    click(qtbot, dialog.confirm_button)

    qtbot.waitUntil(lambda: len(filled_orders(live.fake, lambda o: o["tradingsymbol"] in symbols)) == len(symbols),
                    timeout=ORDER_TIMEOUT_MS)
    orders = live.fake.orders()
    assert sorted(o["tradingsymbol"] for o in orders) == sorted(symbols)
    assert all(o["transaction_type"] == "BUY" and live.ours(o["tag"]) for o in orders)
    assert len({o["tag"] for o in orders}) == len(symbols)  # one parent per strike, each with its own tag


def test_exit_all_flattens_a_position_opened_outside_the_desk(qtbot: QtBot, live: LiveWindow) -> None:
    row = live.fake.instrument(UNDERLYING, right=OptionRight.PE)
    symbol, lots = row.tradingsymbol, 2
    live.fake.place_external(symbol, "BUY", lots * row.contract.lot_size)
    client = official_client(live.fake)
    assert net_quantity(client, symbol) == lots * row.contract.lot_size

    click(qtbot, live.window.header.exit_all)
    qtbot.waitUntil(lambda: net_quantity(client, symbol) == 0, timeout=ORDER_TIMEOUT_MS)
    (exit_order,) = [o for o in live.fake.orders() if o["transaction_type"] == "SELL"]
    assert exit_order["tradingsymbol"] == symbol and live.ours(exit_order["tag"])


def test_the_feed_indicator_goes_stale_while_the_ticker_is_silent_and_live_again_after(
    qtbot: QtBot, live: LiveWindow
) -> None:
    status = live.window.status
    assert status.live_feed_health is FeedHealth.LIVE and status.live_feed_label.text() == "feed live"
    live.fake.stall_ws(True)
    qtbot.waitUntil(lambda: status.live_feed_health is FeedHealth.STALE, timeout=START_TIMEOUT_MS)
    assert status.live_feed_label.isVisible()
    live.fake.stall_ws(False)
    qtbot.waitUntil(lambda: status.live_feed_health is FeedHealth.LIVE, timeout=START_TIMEOUT_MS)
    assert status.live_feed_label.text() == "feed live"
