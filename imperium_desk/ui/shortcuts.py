"""Keyboard shortcuts: one table drives both the actions and the Help dialog, so the two never disagree.

Order actions never sit on a bare letter unless the trader turns the trading focus mode on; and even then the
letters do nothing while a text or number field has the keyboard (typing "5" in the lots box must not trade).
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtWidgets import (
    QAbstractSpinBox,
    QApplication,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QTableWidget,
    QTableWidgetItem,
    QTextEdit,
    QVBoxLayout,
    QWidget,
)


@dataclass(frozen=True, slots=True)
class ShortcutSpec:
    """One keyboard shortcut: its key sequence, what it does, and whether it works only in trading focus mode."""

    key: str  # QKeySequence text
    name: str  # what it does
    focus_mode_only: bool = False


SHORTCUTS: dict[str, ShortcutSpec] = {
    "kill_switch": ShortcutSpec("Ctrl+Shift+K", "Kill switch on/off (blocks new orders; exits still go)"),
    "exit_all": ShortcutSpec("Ctrl+Shift+X", "EXIT ALL: close every open position at market"),
    "focus_mode": ShortcutSpec("Ctrl+Shift+F", "Trading focus mode on/off (enables the single-letter keys)"),
    "ladder": ShortcutSpec("Ctrl+L", "Put the keyboard on the strike ladder"),
    "multi_strike": ShortcutSpec("Ctrl+M", "Put the keyboard on the multi-strike panel"),
    "underlying_1": ShortcutSpec("Ctrl+1", "NIFTY"),
    "underlying_2": ShortcutSpec("Ctrl+2", "BANKNIFTY"),
    "underlying_3": ShortcutSpec("Ctrl+3", "FINNIFTY"),
    "underlying_4": ShortcutSpec("Ctrl+4", "MIDCPNIFTY"),
    "underlying_5": ShortcutSpec("Ctrl+5", "SENSEX"),
    "models": ShortcutSpec("Ctrl+Shift+M", "Show the latency/slippage models panel"),
    "stats": ShortcutSpec("Ctrl+Shift+E", "Show the execution stats table (live latency, slippage, fill rate)"),
    "drills": ShortcutSpec("Ctrl+Shift+D", "Show the drills panel (pick, run and stop a scenario drill)"),
    "feedback": ShortcutSpec("Ctrl+Shift+A", "Show the feedback API panel (token, webhooks, learner proposals)"),
    "reload_config": ShortcutSpec("Ctrl+Shift+O", "Reload the config file's models (also automatic on save)"),
    "reset_layout": ShortcutSpec("Ctrl+Shift+R", "Reset the window layout"),
    "help": ShortcutSpec("F1", "This list of shortcuts"),
    "quit": ShortcutSpec("Ctrl+Q", "Quit (stops cleanly: orders cancelled, telemetry flushed)"),
    "buy_selected": ShortcutSpec("B", "Buy ticket for the ladder's selected option", focus_mode_only=True),
    "sell_selected": ShortcutSpec("S", "Sell ticket for the ladder's selected option", focus_mode_only=True),
}

LADDER_KEYS = (
    ("Click an ask / Enter on an ask", "Buy ticket at the ask"),
    ("Click a bid / Enter on a bid", "Sell ticket at the bid"),
    ("Enter (in a ticket)", "Place the order"),
    ("Esc (in a ticket or confirmation)", "Cancel: nothing is sent"),
)

_EDITORS = (QLineEdit, QAbstractSpinBox, QComboBox, QTextEdit, QPlainTextEdit)


def typing_in_progress() -> bool:
    """True while a text/number field has the keyboard: single-letter trading keys stay quiet then."""
    widget = QApplication.focusWidget()
    return isinstance(widget, _EDITORS) or (widget is not None and isinstance(widget.parent(), QAbstractSpinBox))


class ShortcutHelpDialog(QDialog):
    """The F1 list of every shortcut and ladder key."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Keyboard shortcuts")
        self.setObjectName("shortcutHelp")
        layout = QVBoxLayout(self)
        rows = [(s.key, s.name + (" (focus mode only)" if s.focus_mode_only else "")) for s in SHORTCUTS.values()]
        rows += list(LADDER_KEYS)
        self.table = QTableWidget(len(rows), 2)
        self.table.setHorizontalHeaderLabels(["Keys", "Does"])
        for i, (keys, does) in enumerate(rows):
            self.table.setItem(i, 0, QTableWidgetItem(keys))
            self.table.setItem(i, 1, QTableWidgetItem(does))
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        layout.addWidget(QLabel(
            "Order actions never sit on a bare letter unless trading focus mode is on, and the letters are ignored "
            "while a text or number field has the keyboard."
        ))
        layout.addWidget(self.table)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self.resize(620, 460)
