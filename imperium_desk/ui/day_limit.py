"""The Account panel's line for the day's P&L limits: each limit and how far the day's P&L has gone towards it, red
once one has fired (the kill switch is on and every position was exited: `desk/day_limit.py`)."""

from __future__ import annotations

from imperium_desk.desk import AccountView
from imperium_desk.domain.protection import ExitReason
from imperium_desk.ui import palette
from imperium_desk.ui.rupees import grouped
from imperium_desk.ui.widgets import SteadyLabel

_NAMES = {ExitReason.DAILY_LOSS_LIMIT: "loss limit", ExitReason.PROFIT_LOCK: "profit lock"}


def rupees(value: float) -> str:
    """Whole rupees with Indian digit grouping (₹1,50,000; -₹51,200)."""
    text = grouped(value, 0)
    return f"-₹{text[1:]}" if text.startswith("-") else f"₹{text}"


def limit_text(account: AccountView) -> str:
    """e.g. "Loss ₹50,000 · used 37%", "Loss ₹50,000 · used 37% | Lock ₹20,000 · at 0%", "Off", or, once one
    fired, "FIRED: loss limit · day P&L -₹51,200 · kill switch on"."""
    if account.limit_fired is not None:
        return f"FIRED: {_NAMES[account.limit_fired]} · day P&L {rupees(account.day_pnl)} · kill switch on"
    parts: list[str] = []
    if account.daily_loss_limit is not None:
        used = max(0.0, -account.day_pnl) / account.daily_loss_limit  # 0.0 first: never "-0%"
        parts.append(f"Loss {rupees(account.daily_loss_limit)} · used {used:.0%}")
    if account.profit_lock is not None:
        reached = max(0.0, account.day_pnl) / account.profit_lock
        parts.append(f"Lock {rupees(account.profit_lock)} · at {reached:.0%}")
    return " | ".join(parts) if parts else "Off"


class DayLimitLabel(SteadyLabel):
    """Shows `limit_text` of each account it is given; its `limitFired` property (and its colour, the palette's
    loss red) says whether a limit fired today. GUI thread only."""

    def show_account(self, account: AccountView) -> None:
        self.setText(limit_text(account))
        fired = account.limit_fired is not None
        if self.property("limitFired") is fired:
            return  # re-polishing a style sheet is not free; skip when nothing changed
        self.setProperty("limitFired", fired)
        self.setStyleSheet(f"color: {palette.LOSS}; font-weight: bold;" if fired else "")
