"""The desk app started in LIVE mode on a fake connector, in a process of its own (run_gui owns the QApplication's
loop and the SIGINT handler), with the trader cancelling LIVE's confirmation: prints what it returned, what the
connector was asked and what the desk's home holds, as one JSON line.

    python -m tests.ui.live_startup_child HOME
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, cast

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from imperium_desk.domain.enums import Mode
from imperium_desk.ui.app import run_gui
from imperium_desk.ui.live_confirm import LiveConfirmDialog
from tests.ui.conftest import ui_config
from tests.ui.fake_connector import FakeConnector

POLL_MS = 20


def cancel_the_confirmation() -> None:
    for widget in QApplication.topLevelWidgets():
        if isinstance(widget, LiveConfirmDialog) and widget.isVisible():
            widget.cancel_button.click()
            return
    QTimer.singleShot(POLL_MS, cancel_the_confirmation)


def main(home: Path) -> None:
    app = QApplication(sys.argv[:1])
    fake = FakeConnector(mode=Mode.LIVE, saved=True)
    QTimer.singleShot(0, cancel_the_confirmation)
    # The fake has the connector's surface, not its class.
    returned = run_gui(ui_config(), home, mode=Mode.LIVE, connector=cast(Any, fake))
    print(json.dumps({"returned": returned, "calls": fake.calls, "home": sorted(p.name for p in home.iterdir())}))
    app.shutdown()


if __name__ == "__main__":
    main(Path(sys.argv[1]))
