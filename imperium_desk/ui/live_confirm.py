"""The confirmation before a LIVE session connects: it names the Kite account, says that every order from here on
is real, and opens the way only after the trader types LIVE.

Opened with `.open()` (never exec): the startup flow awaits its `finished` signal. The red "Trade live" button is the
default but stays disabled until the word is typed, so Enter does nothing before then; Esc cancels.
"""

from __future__ import annotations

import html

from PySide6.QtWidgets import QDialog, QHBoxLayout, QLabel, QLineEdit, QPushButton, QVBoxLayout, QWidget

from imperium_desk.ui import palette

CONFIRM_WORD = "LIVE"


class LiveConfirmDialog(QDialog):
    """Asks the trader to confirm a LIVE session for `account`; accepted only through "Trade live", which is
    enabled once `CONFIRM_WORD` is typed exactly."""

    def __init__(self, account: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("liveConfirmDialog")
        self.setWindowTitle("Trade LIVE?")
        heading = QLabel(f"LIVE trading on Kite account <b>{html.escape(account)}</b>", self)
        heading.setObjectName("liveConfirmAccount")
        warning = QLabel(
            "Every order this desk sends from now on is a real order on the exchange, with real money: tickets, "
            "multi-strike buys, EXIT ALL and the feedback API's orders alike.", self)
        warning.setObjectName("liveConfirmWarning")
        warning.setWordWrap(True)
        warning.setStyleSheet(f"color: {palette.ERROR};")
        prompt = QLabel(f"Type {CONFIRM_WORD} to confirm:", self)
        self.word_edit = QLineEdit(self)
        self.word_edit.setObjectName("liveConfirmWord")
        self.word_edit.setPlaceholderText(CONFIRM_WORD)
        prompt.setBuddy(self.word_edit)

        self.trade_button = QPushButton("Trade live", self)
        self.trade_button.setObjectName("liveConfirmTrade")
        self.trade_button.setDefault(True)
        self.trade_button.setEnabled(False)
        self.trade_button.setStyleSheet(
            f"QPushButton#liveConfirmTrade:enabled {{ background-color: {palette.LIVE_FILL}; "
            f"color: {palette.ON_FILL}; font-weight: bold; }}")
        self.cancel_button = QPushButton("Cancel", self)
        self.cancel_button.setObjectName("liveConfirmCancel")
        self.cancel_button.setAutoDefault(False)  # Enter never means Cancel, nor Trade live before the word

        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.cancel_button)
        buttons.addWidget(self.trade_button)
        layout = QVBoxLayout(self)
        layout.addWidget(heading)
        layout.addWidget(warning)
        layout.addWidget(prompt)
        layout.addWidget(self.word_edit)
        layout.addLayout(buttons)

        self.word_edit.textChanged.connect(self._word_changed)
        self.trade_button.clicked.connect(self.accept)
        self.cancel_button.clicked.connect(self.reject)
        self.word_edit.setFocus()

    @property
    def confirmed(self) -> bool:
        return self.word_edit.text().strip() == CONFIRM_WORD

    def _word_changed(self) -> None:
        self.trade_button.setEnabled(self.confirmed)
