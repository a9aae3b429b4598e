"""The Account panel shows the day's P&L limits against the P&L, and a fired limit in red."""

from __future__ import annotations

from pathlib import Path

import qasync
from pytestqt.qtbot import QtBot

from imperium_desk.clock import WallClock
from imperium_desk.desk import AccountView, Desk, PortfolioEvent
from imperium_desk.domain.protection import ExitReason
from imperium_desk.ui.bridge import DeskBridge
from imperium_desk.ui.day_limit import rupees
from imperium_desk.ui.portfolio import COLOURS, AccountSummary
from tests.ui.conftest import ui_config


def _portfolio(*, daily_loss_limit: float | None = None, profit_lock: float | None = None, day_pnl: float = 0.0,
               limit_fired: ExitReason | None = None) -> PortfolioEvent:
    return PortfolioEvent([], AccountView(1e7, 0.0, 1e7, -10_000.0, day_pnl + 10_000.0, daily_loss_limit,
                                          profit_lock, day_pnl, limit_fired))


def _summary(qtbot: QtBot, desk: Desk, bridge: DeskBridge) -> AccountSummary:
    summary = AccountSummary(desk, bridge)
    qtbot.addWidget(summary)
    return summary


def test_rupees_are_whole_with_indian_grouping() -> None:
    assert rupees(150_000) == "₹1,50,000" and rupees(-51_200.4) == "-₹51,200"


def test_the_panel_shows_the_loss_limit_and_the_share_used(qtbot: QtBot, desk: Desk, bridge: DeskBridge) -> None:
    summary = _summary(qtbot, desk, bridge)
    summary.on_portfolio(_portfolio(daily_loss_limit=50_000.0, day_pnl=-18_500.0))
    assert summary.day_limit.text() == "Loss ₹50,000 · used 37%"
    assert summary.day_limit.property("limitFired") is False


def test_the_panel_shows_the_profit_lock_beside_the_loss_limit(qtbot: QtBot, desk: Desk, bridge: DeskBridge) -> None:
    summary = _summary(qtbot, desk, bridge)
    summary.on_portfolio(_portfolio(daily_loss_limit=50_000.0, profit_lock=20_000.0, day_pnl=5_000.0))
    assert summary.day_limit.text() == "Loss ₹50,000 · used 0% | Lock ₹20,000 · at 25%"


def test_the_panel_shows_a_fired_limit_in_red(qtbot: QtBot, desk: Desk, bridge: DeskBridge) -> None:
    summary = _summary(qtbot, desk, bridge)
    summary.on_portfolio(_portfolio(daily_loss_limit=15_000.0, day_pnl=-18_500.0,
                                    limit_fired=ExitReason.DAILY_LOSS_LIMIT))
    assert summary.day_limit.property("limitFired") is True
    assert COLOURS["loss"] in summary.day_limit.styleSheet()
    summary.on_portfolio(_portfolio(daily_loss_limit=15_000.0, day_pnl=-1_000.0))  # the next trading day
    assert summary.day_limit.property("limitFired") is False and summary.day_limit.styleSheet() == ""


def test_the_panel_says_off_without_limits(qtbot: QtBot, desk: Desk, bridge: DeskBridge) -> None:
    summary = _summary(qtbot, desk, bridge)
    assert summary.day_limit.text() == "Off"


def test_the_panel_follows_the_limits_of_the_desks_config(
    qtbot: QtBot, qt_loop: qasync.QEventLoop, tmp_path: Path
) -> None:
    desk = Desk(ui_config({"risk": {"daily_loss_limit": 50_000, "profit_lock": 20_000}}), home=tmp_path,
                clock=WallClock(qt_loop))
    desk.start()
    try:
        summary = _summary(qtbot, desk, DeskBridge(desk))
        qtbot.waitUntil(lambda: summary.day_limit.text() != "Off", timeout=3000)
        assert summary.day_limit.text() == "Loss ₹50,000 · used 0% | Lock ₹20,000 · at 0%"  # nothing traded yet
    finally:
        qt_loop.run_until_complete(desk.stop())
