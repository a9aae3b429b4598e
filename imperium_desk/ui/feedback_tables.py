"""The feedback panel's three tables: webhook subscribers, dead letters, and learner proposals with their decisions.

Each is a `RowTableModel` over the pydantic views the feedback services return (no Qt in those services), keyed
by id so a periodic refresh with the same rows repaints in place and keeps the trader's selection.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, ClassVar, Final

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QBrush, QColor

from imperium_desk.domain.instruments import IST
from imperium_desk.feedback.learning.proposal import Decision
from imperium_desk.feedback.webhooks.views import DeadLetterView, SubscriberView
from imperium_desk.ui import palette
from imperium_desk.ui.models_panel import format_params
from imperium_desk.ui.row_table_model import RowTableModel

# Statuses that need the trader's eye, in the palette's colours.
STATUS_COLOURS: Final = {
    "pending": palette.NOTICE, "applying": palette.NOTICE, "applied": palette.GOOD,
    "refused": palette.ERROR, "rejected": palette.MUTED, "failed": palette.ERROR, "disabled": palette.ERROR,
}


def clock_text(iso: str | None) -> str:
    """An ISO-8601 UTC stamp as the desk's wall time (IST), seconds precision; the raw text if unparseable."""
    if not iso:
        return ""
    try:
        return datetime.fromisoformat(iso).astimezone(IST).strftime("%H:%M:%S")
    except ValueError:
        return iso


def mask_token(token: str) -> str:
    """Enough to tell two tokens apart, not enough to use one: the last four characters."""
    return "•" * 12 + token[-4:] if len(token) > 8 else "•" * len(token)


def model_summary(model: dict[str, Any]) -> str:
    """A proposed model as the models panel writes one: "lognormal(median_ms=42 sigma=0.3)"."""
    return f"{model.get('type', '?')}({format_params(model)})"


class _KeyedRows[R](RowTableModel[R]):
    """Rows with an id: a refresh with the same ids repaints in place (selection kept), otherwise resets."""

    STATUS_COLUMN: ClassVar[int] = -1

    def set_rows(self, rows: Sequence[R]) -> None:
        rows = list(rows)
        same = [self.key(r) for r in rows] == [self.key(r) for r in self._rows]
        self._replace_rows(rows, same, self._commit)

    def _commit(self, rows: list[R]) -> None:
        self._rows = rows

    @property
    def rows(self) -> list[R]:
        return list(self._rows)

    def row(self, index: int) -> R:
        return self._rows[index]

    def find(self, key: object) -> int:
        return next((i for i, row in enumerate(self._rows) if self.key(row) == key), -1)

    def key(self, row: R) -> object:
        raise NotImplementedError

    def text(self, row: R, column: int) -> str:
        raise NotImplementedError

    def status(self, row: R) -> str:
        return ""

    def tooltip(self, row: R, column: int) -> str | None:
        return None

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        row, column = self._rows[index.row()], index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return self.text(row, column)
        if role == Qt.ItemDataRole.ToolTipRole:
            return self.tooltip(row, column)
        if role == Qt.ItemDataRole.ForegroundRole and column == self.STATUS_COLUMN:
            colour = STATUS_COLOURS.get(self.status(row))
            return QBrush(QColor(colour)) if colour is not None else None
        return None


class SubscribersModel(_KeyedRows[SubscriberView]):
    """The webhook subscribers: URL, events, delivery state and counts, the last error; the state coloured."""

    HEADERS = ("URL", "Events", "State", "Pending", "Delivered", "Dead", "Last error")
    URL, EVENTS, STATE, PENDING, DELIVERED, DEAD, ERROR = range(7)
    STATUS_COLUMN = STATE

    def key(self, row: SubscriberView) -> object:
        return row.id

    def status(self, row: SubscriberView) -> str:
        return row.state

    def text(self, row: SubscriberView, column: int) -> str:
        match column:
            case self.URL:
                return row.url
            case self.EVENTS:
                return "all" if row.events is None else ", ".join(row.events)
            case self.STATE:
                return row.state if row.disabled_reason is None else f"{row.state}: {row.disabled_reason}"
            case self.PENDING:
                return str(row.pending)
            case self.DELIVERED:
                return str(row.delivered)
            case self.DEAD:
                return str(row.dead)
            case _:
                return row.last_error or ""

    def tooltip(self, row: SubscriberView, column: int) -> str | None:
        where = "the config file" if row.origin == "config" else "the API"
        return f"{row.id}, added through {where} at {row.created_at}"


class DeadLettersModel(_KeyedRows[DeadLetterView]):
    """Webhook deliveries that gave up (dead letters): when, to which subscriber, the event, its attempts and
    the last answer."""

    HEADERS = ("Dead at", "Subscriber", "Event", "Seq", "Attempts", "Last answer", "Message id")
    DEAD_AT, SUBSCRIBER, EVENT, SEQ, ATTEMPTS, ANSWER, MESSAGE = range(7)

    def key(self, row: DeadLetterView) -> object:
        return row.id

    def text(self, row: DeadLetterView, column: int) -> str:
        match column:
            case self.DEAD_AT:
                return clock_text(row.dead_at)
            case self.SUBSCRIBER:
                return row.url
            case self.EVENT:
                return row.event
            case self.SEQ:
                return "" if row.seq is None else str(row.seq)
            case self.ATTEMPTS:
                return str(row.attempts)
            case self.ANSWER:
                status = f"HTTP {row.last_status}" if row.last_status is not None else "no response"
                return f"{status}: {row.last_error}" if row.last_error else status
            case _:
                return row.message_id


class ProposalsModel(_KeyedRows[Decision]):
    """Newest first: the trader looks for what just arrived."""

    HEADERS = ("Time", "Learner", "Kind", "Scope", "Proposed model", "Status", "Reason")
    TIME, LEARNER, KIND, SCOPE, MODEL, STATUS, REASON = range(7)
    STATUS_COLUMN = STATUS

    def set_rows(self, rows: Sequence[Decision]) -> None:
        super().set_rows(list(reversed(rows)))

    def key(self, row: Decision) -> object:
        return row.id

    def status(self, row: Decision) -> str:
        return row.status

    def text(self, row: Decision, column: int) -> str:
        p = row.proposal
        match column:
            case self.TIME:
                return clock_text(row.created_at)
            case self.LEARNER:
                return p.learner if row.source.startswith("learner:") else f"{p.learner} ({row.source})"
            case self.KIND:
                return p.kind if p.lane == "order" else f"{p.kind} {p.lane}"
            case self.SCOPE:
                return p.scope
            case self.MODEL:
                return model_summary(p.model)
            case self.STATUS:
                return row.status
            case _:
                return row.reason

    def tooltip(self, row: Decision, column: int) -> str | None:
        p = row.proposal
        lines = [f"{row.id} from {row.source}"]
        if p.reason:
            lines.append(f"why: {p.reason}")
        if p.evidence.detected_change:
            lines.append(f"change: {p.evidence.detected_change}")
        if p.evidence.samples:
            lines.append(f"samples: {p.evidence.samples}")
        if row.replaces is not None:
            lines.append(f"replaces ({row.replaces_scope}): {model_summary(row.replaces)}")
        return "\n".join(lines)
