"""The Drills menu: one entry per drill (shipped, a separator, the trader's own), then the panel, Stop and Reload.

A drill that cannot run here (an invalid file, an unknown instrument, a replay-only drill with config overrides)
is listed disabled with its reason as tooltip and status tip, so a trader sees why instead of failing on pick.
The list comes from `DrillLibrary`, rescanned off the loop when the menu is about to show (a file just saved in
`<home>/scenarios` appears without a restart) and by "Reload drill list"; the entries are replaced when the scan
answers and only if the list changed, so an open menu does not flicker.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QMenu

from imperium_desk.desk import Desk, DrillEvent, DrillInfo, DrillState
from imperium_desk.ui.bridge import DeskBridge
from imperium_desk.ui.drills_panel import DrillLibrary


def drill_action_text(info: DrillInfo) -> str:
    if not info.runnable:
        return f"{info.id} (cannot run)"
    return f"{info.id} ({info.duration_s:g} s, {info.events} events)"


class DrillsMenu(QObject):
    """Fills `menu`. `picked` carries the path of the drill chosen; `panel_action` shows the panel, `stop` is
    what "Stop drill" does (the panel's stop, so a refusal shows there)."""

    picked = Signal(object)  # Path

    def __init__(
        self,
        desk: Desk,
        bridge: DeskBridge,
        library: DrillLibrary,
        menu: QMenu,
        panel_action: QAction,
        stop: Callable[[], object],
    ) -> None:
        super().__init__(menu)
        self._desk = desk
        self._library = library
        self.menu = menu
        menu.setToolTipsVisible(True)
        self.drill_actions: list[QAction] = []
        self._drill_items: list[QAction] = []  # the drill actions and their separator, replaced on each list
        self._placeholder = QAction("loading drills…", menu)
        self._placeholder.setEnabled(False)
        menu.addAction(self._placeholder)
        self._tail = menu.addSeparator()  # drill entries go above it

        panel_action.setText("Scenario panel")
        menu.addAction(panel_action)
        self.stop_action = QAction("Stop drill", menu)
        self.stop_action.setObjectName("action_stop_drill")
        self.stop_action.triggered.connect(lambda _checked=False: stop())
        menu.addAction(self.stop_action)
        self.reload_action = QAction("Reload drill list", menu)
        self.reload_action.setObjectName("action_reload_drills")
        self.reload_action.triggered.connect(lambda _checked=False: library.reload())
        menu.addAction(self.reload_action)

        library.changed.connect(self._on_library)
        menu.aboutToShow.connect(library.reload)
        bridge.drill.connect(self._on_drill)
        self._on_library(library.drills)
        drill = desk.drill
        self.stop_action.setEnabled(drill is not None and drill.state is DrillState.RUNNING)

    def action_for(self, path: Path) -> QAction | None:
        return next((a for a in self.drill_actions if a.data() == str(path)), None)

    def _on_library(self, drills: list[DrillInfo]) -> None:
        for item in self._drill_items:
            self.menu.removeAction(item)
            item.deleteLater()
        self._drill_items.clear()
        self.drill_actions.clear()
        shipped = [d for d in drills if d.source == "shipped"]
        user = [d for d in drills if d.source != "shipped"]
        for group in (shipped, user):
            if group and self.drill_actions:
                separator = QAction(self.menu)
                separator.setSeparator(True)
                self.menu.insertAction(self._tail, separator)
                self._drill_items.append(separator)
            for info in group:
                action = self._drill_action(info)
                self.menu.insertAction(self._tail, action)
                self._drill_items.append(action)
                self.drill_actions.append(action)
        self._placeholder.setText("loading drills…" if not self._library.loaded else "no drills found")
        self._placeholder.setVisible(not drills)

    def _drill_action(self, info: DrillInfo) -> QAction:
        action = QAction(drill_action_text(info), self.menu)
        action.setObjectName(f"drillAction_{info.source}_{info.path.stem}")
        action.setData(str(info.path))
        tip = info.problem or info.description.strip()
        action.setToolTip(tip)
        action.setStatusTip(tip)
        action.setEnabled(info.runnable)
        path = info.path
        action.triggered.connect(lambda _checked=False: self.picked.emit(path))
        return action

    def _on_drill(self, event: DrillEvent) -> None:
        self.stop_action.setEnabled(event.view.state is DrillState.RUNNING)
