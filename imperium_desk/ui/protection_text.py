"""Protections as the window words them: the unit marks the ticket offers, the levels of an entry on one line, the
Positions table's cell, and the blotter's name for an exit the desk sent itself. No Qt here (the blotter's columns
use it too).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Final

from imperium_desk.domain.protection import ExitReason, OffsetUnit, ProtectionLevels, ProtectionStatus

if TYPE_CHECKING:  # the blotter's columns import this module: they need not load the desk
    from imperium_desk.desk.events import ProtectionView

# The mark a unit is chosen by on the ticket, in the order the combo box offers them (points first: a scalper
# thinks in premium points).
UNIT_MARKS: Final[dict[OffsetUnit, str]] = {OffsetUnit.POINTS: "pts", OffsetUnit.RUPEES: "₹",
                                            OffsetUnit.PERCENT: "%"}

EXIT_LABELS: Final[dict[ExitReason, str]] = {
    ExitReason.STOP_LOSS: "stop-loss exit",
    ExitReason.TARGET: "target exit",
    ExitReason.TRAILING_STOP: "trailing stop exit",
    ExitReason.DAILY_LOSS_LIMIT: "daily loss limit exit",
    ExitReason.PROFIT_LOCK: "profit lock exit",
}

# A protection the Positions table no longer shows: it ended the way it should (its exit filled, or the trader
# closed the position himself). A failed or unrestored one stays, in red, until the trader acts.
FINISHED: Final = frozenset({ProtectionStatus.EXITED, ProtectionStatus.CANCELLED})


def exit_label(reason: ExitReason) -> str:
    """How the blotter names an exit the desk sent for `reason` ("stop-loss exit")."""
    return EXIT_LABELS[reason]


def price_text(price: float | None) -> str:
    return "-" if price is None else f"{price:.2f}"


def levels_parts(stop_loss: float | None, target: float | None, trailing_stop: float | None) -> list[str]:
    """"SL 70.10", "TG 95.00", "TR 75.00" for the levels that are set, in that order."""
    named = (("SL", stop_loss), ("TG", target), ("TR", trailing_stop))
    return [f"{name} {price:.2f}" for name, price in named if price is not None]


def levels_text(found: ProtectionLevels) -> str:
    """One entry's levels on one line ("SL 70.10 · TG 95.00 · TR 75.00"); empty when none is set."""
    return " · ".join(levels_parts(found.stop_loss, found.target, found.trailing_stop))


def view_text(view: ProtectionView) -> str:
    """One protection in the Positions table: its levels now and how it stands ("SL 70.10 · TG 95.00 armed")."""
    parts = levels_parts(view.stop_loss, view.target, view.trailing_stop)
    return " · ".join([*parts, view.status.value])


def view_tooltip(view: ProtectionView) -> str:
    """The entry it protects, what it covers and why it stands so (the reason of a failed one says what to do)."""
    product = f" {view.product.value}" if view.product is not None else ""
    head = (f"{view.entry_parent_id}{product}: {view.side.value.upper()} {view.quantity:,} @ "
            f"{price_text(view.entry_price or None)}: {view.status.value}")
    return f"{head}: {view.reason}" if view.reason else head


def shown(views: Iterable[ProtectionView]) -> list[ProtectionView]:
    """The protections a position's row shows: all but the finished ones, in the desk's order."""
    return [v for v in views if v.status not in FINISHED]
