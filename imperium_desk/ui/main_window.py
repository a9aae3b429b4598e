"""ImperiumMainWindow: only a shell. It lays out the header, docks, menus and status bar, wires the header's
choices into the panels, and stops the desk cleanly on close. Panels do the work and talk to `Desk`.

Adding a panel (later issues: models, scenarios, telemetry, feedback) is one call:
`window.add_dock("models", "Models", widget, Qt.DockWidgetArea.RightDockWidgetArea)` plus, if it needs one,
`window.menu("Models").addAction(...)`. Dock object names are their keys, so QSettings restores them.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import shiboken6
from PySide6.QtCore import QByteArray, QSettings, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence, QShowEvent
from PySide6.QtWidgets import QDockWidget, QMainWindow, QMenu, QMessageBox, QStyle, QToolBar, QWidget

from imperium_desk import __version__
from imperium_desk.desk import Desk
from imperium_desk.domain.enums import Side
from imperium_desk.ui.blotter.widget import OrdersBlotter
from imperium_desk.ui.bridge import DeskBridge
from imperium_desk.ui.charts import FillQualityCharts
from imperium_desk.ui.connect_dialog import BrokerLogin
from imperium_desk.ui.drills_menu import DrillsMenu
from imperium_desk.ui.drills_panel import DrillLibrary, DrillsPanel
from imperium_desk.ui.feedback_panel import FeedbackPanel
from imperium_desk.ui.header import QUICK_UNDERLYINGS, HeaderBar, badge_look
from imperium_desk.ui.ladder import LadderClick, StrikeLadder
from imperium_desk.ui.models_panel import ModelsPanel
from imperium_desk.ui.multi_strike import MultiStrikePanel
from imperium_desk.ui.paint_turns import PaintTurns
from imperium_desk.ui.portfolio import AccountSummary, PositionsTable
from imperium_desk.ui.quick_order import QuickOrderDialog
from imperium_desk.ui.session_watch import SessionWatch
from imperium_desk.ui.shortcuts import SHORTCUTS, ShortcutHelpDialog, typing_in_progress
from imperium_desk.ui.stats_panel import StatsPanel
from imperium_desk.ui.status import DeskStatusBar

SETTINGS_GEOMETRY = "window/geometry"
SETTINGS_STATE = "window/state"
LAYOUT_VERSION = 6  # bump when docks change so an old saved layout is not forced onto new panels
RIGHT_COLUMN_SHARE = 0.4  # of the window's width: the multi-strike panel over the charts
BOTTOM_ROW_SHARE = 0.36  # of the window's height: the orders | the account, under the ladder
ACCOUNT_SLACK_PX = 40  # the account's width beyond its labels and figures: the dock's frame and a gap between them


class ImperiumMainWindow(QMainWindow):
    """The desk window: header, docks, menus and status bar around the panels; it stops the desk cleanly on close
    and then emits `closed`. With `login` (the broker connection of a broker mode) an expired login opens the
    Connect dialog, and Trading > Log in to Kite again opens it by hand."""

    closed = Signal()  # after the desk has stopped and the window really closes

    def __init__(
        self, desk: Desk, bridge: DeskBridge, settings: QSettings | None = None, *, login: BrokerLogin | None = None
    ) -> None:
        super().__init__()
        self.desk = desk
        self.bridge = bridge
        self._settings = settings
        self._stopping = False
        self._stopped = False
        self.quick_order: QuickOrderDialog | None = None
        self.docks: dict[str, QDockWidget] = {}
        self.setWindowTitle(f"Imperium Desk {__version__} — {badge_look(desk.mode).text}")
        self.setObjectName("imperiumMainWindow")
        self.setDockOptions(
            QMainWindow.DockOption.AnimatedDocks | QMainWindow.DockOption.AllowTabbedDocks
            | QMainWindow.DockOption.AllowNestedDocks
        )

        self.header = HeaderBar(desk, bridge)
        toolbar = QToolBar("Header")
        toolbar.setObjectName("headerToolbar")
        toolbar.setMovable(False)
        toolbar.addWidget(self.header)
        self.addToolBar(Qt.ToolBarArea.TopToolBarArea, toolbar)

        # The ladder, the blotter and the charts take turns to update, so no paint pass carries two of them.
        self.paint_turns = PaintTurns(parent=self)
        self.ladder = StrikeLadder(desk, bridge, turns=self.paint_turns)
        self.setCentralWidget(self.ladder)
        self.multi_strike = MultiStrikePanel(desk, bridge)
        self.account = AccountSummary(desk, bridge)
        self.blotter = OrdersBlotter(desk, bridge, turns=self.paint_turns)
        self.positions = PositionsTable(desk, bridge)
        self.charts = FillQualityCharts(desk, bridge, redraw_hz=30, turns=self.paint_turns)
        # The right column runs the full height (the multi-strike panel over the charts and their neighbours),
        # so the charts get the height to be read; the ladder keeps the top left, the book and the account the
        # bottom left.
        right, bottom = Qt.DockWidgetArea.RightDockWidgetArea, Qt.DockWidgetArea.BottomDockWidgetArea
        self.setCorner(Qt.Corner.BottomRightCorner, right)
        self.add_dock("multi_strike", "Buy / Exit (multi-strike)", self.multi_strike, right)
        self.add_dock("charts", "Fill quality", self.charts, right)
        self.add_dock("blotter", "Orders and fills", self.blotter, bottom)
        self.add_dock("account", "Account", self.account, bottom)
        self.splitDockWidget(self.docks["blotter"], self.docks["account"], Qt.Orientation.Horizontal)
        self.add_dock("positions", "Positions", self.positions, bottom, tabify_with="blotter")
        self.models = ModelsPanel(desk, bridge)
        self.add_dock("models", "Models", self.models, right, tabify_with="charts")
        self.stats_panel = StatsPanel(desk)
        self.add_dock("stats", "Execution stats", self.stats_panel, right, tabify_with="charts")
        self.feedback = FeedbackPanel(desk, bridge)
        self.add_dock("feedback", "Feedback API", self.feedback, right, tabify_with="charts")
        # Drills sit with the right column, so the blotter and the charts stay in view while one runs.
        self.drill_library = DrillLibrary(desk, self)
        self.drills = DrillsPanel(desk, bridge, self.drill_library)
        self.add_dock("drills", "Drills", self.drills, right, tabify_with="multi_strike")
        self.docks["multi_strike"].raise_()
        self.docks["blotter"].raise_()
        self.docks["charts"].raise_()
        self.status = DeskStatusBar(desk, bridge)
        self.setStatusBar(self.status)
        self.feedback.server_started.connect(self.status.set_server_address)
        self.feedback.server_failed.connect(self.status.set_server_error)
        self.session_watch = (None if login is None
                              else SessionWatch(desk, bridge, login, self, self.status.on_message))

        self._build_menus()
        self.drills_menu = DrillsMenu(desk, bridge, self.drill_library, self.menu("Drills"),
                                      self._action("drills", lambda _=False: self.show_dock("drills")),
                                      self.drills.stop)
        self.drills_menu.picked.connect(self.open_drill)
        self.drill_library.reload()
        self.header.instrument_changed.connect(self._instrument_changed)
        self.header.lots_changed.connect(self.multi_strike.set_lots)
        self.ladder.price_clicked.connect(self.open_quick_order)
        if self.header.expiry is not None:
            self._instrument_changed(self.header.underlying, self.header.expiry)
        self.multi_strike.set_lots(self.header.lots)
        self._default_state = self.saveState(LAYOUT_VERSION)
        self._layout_restored = self._restore_layout()
        if not self._geometry_restored:
            self._fill_screen()
        self._sized = False

    # -- composition helpers for panels ------------------------------------------------------------------------
    def add_dock(
        self, key: str, title: str, widget: QWidget, area: Qt.DockWidgetArea, tabify_with: str | None = None
    ) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(f"dock_{key}")
        dock.setWidget(widget)
        # A dock whose tab is not the current one stays "visible" to Qt, only moved out of the window, so a panel
        # that pauses while hidden would go on refreshing (timers, tables, charts) for nobody. Its content is
        # hidden while its tab is away and shown when it comes back: the panel's hideEvent/showEvent pause and
        # catch up.
        policy = widget.sizePolicy()
        policy.setRetainSizeWhenHidden(True)  # the dock keeps its size and the layout its shape meanwhile
        widget.setSizePolicy(policy)
        dock.visibilityChanged.connect(widget.setVisible)
        self.addDockWidget(area, dock)
        if tabify_with is not None:
            self.tabifyDockWidget(self.docks[tabify_with], dock)
        self.docks[key] = dock
        if hasattr(self, "view_menu"):
            self.view_menu.addAction(dock.toggleViewAction())
        return dock

    def show_dock(self, key: str) -> None:
        dock = self.docks[key]
        dock.show()
        dock.raise_()
        dock.widget().setFocus()

    def reload_config(self) -> None:
        """Re-read the config file's models; the outcome (or the rejection) reaches the status bar as a message."""
        task = self.desk.clock.loop.create_task(self.desk.reload_config())
        task.add_done_callback(lambda t: t.cancelled() or t.exception())  # reported by the desk, not raised here

    def menu(self, title: str) -> QMenu:
        """The menu with this title, created (before Help) if it does not exist yet."""
        for action in self.menuBar().actions():
            if action.text().replace("&", "") == title and action.menu() is not None:
                found = action.menu()
                assert isinstance(found, QMenu)
                return found
        new = QMenu(title, self)
        self.menuBar().insertMenu(self._help_menu.menuAction(), new)
        return new

    # -- menus and shortcuts ---------------------------------------------------------------------------------
    def _action(self, key: str, slot: object, *, checkable: bool = False) -> QAction:
        spec = SHORTCUTS[key]
        action = QAction(spec.name.split(":")[0].split(" (")[0], self)
        action.setObjectName(f"action_{key}")
        action.setShortcut(QKeySequence(spec.key))
        action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        action.setCheckable(checkable)
        action.setToolTip(spec.name)
        signal = action.toggled if checkable else action.triggered
        signal.connect(slot)
        self.addAction(action)
        self.actions_by_key[key] = action
        return action

    def _build_menus(self) -> None:
        self.actions_by_key: dict[str, QAction] = {}
        bar = self.menuBar()
        file_menu = bar.addMenu("&File")
        file_menu.addAction(self._action("quit", self.close))
        self.view_menu = bar.addMenu("&View")
        for dock in self.docks.values():
            self.view_menu.addAction(dock.toggleViewAction())
        self.view_menu.addSeparator()
        self.view_menu.addAction(self._action("reset_layout", self.reset_layout))
        self.view_menu.addAction(self._action("ladder", lambda _=False: self.ladder.view.setFocus()))
        self.view_menu.addAction(self._action("multi_strike", lambda _=False: self.multi_strike.setFocus()))
        self.view_menu.addAction(self._action("stats", lambda _=False: self.show_dock("stats")))
        self.view_menu.addAction(self._action("feedback", lambda _=False: self.show_dock("feedback")))
        for i, name in enumerate(QUICK_UNDERLYINGS, start=1):
            action = self._action(f"underlying_{i}", lambda _=False, n=name: self._quick_underlying(n))
            self.view_menu.addAction(action)

        models = bar.addMenu("&Models")
        models.addAction(self._action("models", lambda _=False: self.show_dock("models")))
        reload_config = self._action("reload_config", lambda _=False: self.reload_config())
        reload_config.setEnabled(self.desk.config_path is not None)
        models.addAction(reload_config)

        trading = bar.addMenu("&Trading")
        kill = self._action("kill_switch", self.desk.set_kill_switch, checkable=True)
        kill.setChecked(self.desk.kill_switch)
        self.header.kill_switch.toggled.connect(kill.setChecked)
        kill.toggled.connect(self.header.kill_switch.setChecked)
        trading.addAction(kill)
        trading.addAction(self._action("exit_all", self.header.exit_all_positions))
        if self.session_watch is not None:
            relogin = QAction("Log in to Kite again…", self)
            relogin.setObjectName("action_relogin")
            relogin.triggered.connect(self._relogin)
            trading.addAction(relogin)
        trading.addSeparator()
        trading.addAction(self._action("focus_mode", self.set_focus_mode, checkable=True))
        self.buy_key = self._action("buy_selected", lambda: self._ticket_for_selection(Side.BUY))
        self.sell_key = self._action("sell_selected", lambda: self._ticket_for_selection(Side.SELL))
        self.buy_key.setEnabled(False)
        self.sell_key.setEnabled(False)

        self._help_menu = bar.addMenu("&Help")
        self._help_menu.addAction(self._action("help", self.show_shortcuts))
        about = QAction("About Imperium Desk", self)
        about.triggered.connect(self._about)
        self._help_menu.addAction(about)

    @property
    def focus_mode(self) -> bool:
        return self.actions_by_key["focus_mode"].isChecked()

    def set_focus_mode(self, on: bool) -> None:
        self.actions_by_key["focus_mode"].setChecked(on)
        self.buy_key.setEnabled(on)
        self.sell_key.setEnabled(on)
        self.status.showMessage("Trading focus mode ON: B / S open tickets" if on else "Trading focus mode off", 4000)

    def show_shortcuts(self) -> ShortcutHelpDialog:
        dialog = ShortcutHelpDialog(self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()
        return dialog

    def _about(self) -> None:
        box = QMessageBox(QMessageBox.Icon.Information, "Imperium Desk",
                          f"Imperium Desk {__version__}\nExecution desk for index options.\n"
                          f"Telemetry: {self.desk.telemetry_path}", QMessageBox.StandardButton.Ok, self)
        box.open()

    # -- flows ---------------------------------------------------------------------------------------------------
    def open_quick_order(self, click: LadderClick) -> QuickOrderDialog:
        if self.quick_order is not None:
            self.quick_order.close()
        dialog = QuickOrderDialog(self.desk, click, self.header.lots, self, bridge=self.bridge)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.finished.connect(lambda _: self._ticket_closed(dialog))
        self.quick_order = dialog
        dialog.open()
        return dialog

    def _relogin(self) -> None:
        watch = self.session_watch
        assert watch is not None  # the action exists only with a broker login
        if watch.dialog is None:
            watch.open_dialog()
        else:
            watch.dialog.raise_()
            watch.dialog.activateWindow()

    def open_drill(self, path: Path) -> None:
        """A drill picked in the menu: the panel, with that drill's description and timeline."""
        self.show_dock("drills")
        self.drills.select(path)

    def _ticket_closed(self, dialog: QuickOrderDialog) -> None:
        if self.quick_order is dialog:
            self.quick_order = None

    def _ticket_for_selection(self, side: Side) -> None:
        if not self.focus_mode or typing_in_progress():
            return
        click = self.ladder.selected_click(side)
        if click is not None:
            self.open_quick_order(click)

    def _quick_underlying(self, name: str) -> None:
        if name in self.desk.underlyings:
            self.header.set_underlying(name)

    def _instrument_changed(self, underlying: str, expiry: object) -> None:
        assert isinstance(expiry, date)  # Signal(str, object) carries the header's date
        self.ladder.set_instrument(underlying, expiry)
        self.multi_strike.set_instrument(underlying, expiry)

    # -- layout persistence and clean stop -------------------------------------------------------------------
    def reset_layout(self) -> None:
        self.restoreState(self._default_state, LAYOUT_VERSION)
        self._default_sizes()

    def _restore_layout(self) -> bool:
        """The saved geometry and dock state, each if there is one; True when the dock state was restored."""
        self._geometry_restored = False
        if self._settings is None:
            return False
        geometry = self._settings.value(SETTINGS_GEOMETRY)
        state = self._settings.value(SETTINGS_STATE)
        if isinstance(geometry, QByteArray):
            self._geometry_restored = self.restoreGeometry(geometry)
        return isinstance(state, QByteArray) and self.restoreState(state, LAYOUT_VERSION)

    def _fill_screen(self) -> None:
        """First start: the screen's available area (what the taskbar and panels leave), maximised, so a window
        manager fits the frame in too; un-maximised it keeps that size."""
        area = self.screen().availableGeometry()
        self.move(area.topLeft())
        self.resize(area.size())
        self.setWindowState(self.windowState() | Qt.WindowState.WindowMaximized)

    def _default_sizes(self) -> None:
        """First run: the right column takes ~40% of the width, the multi-strike panel at its top as tall as its
        whole preview needs and the charts the rest; the bottom row (the book | the account) ~36% of the height.
        Dock sizes only take once the window has its real size, hence after the first show."""
        width, height = self.width(), self.height()
        column = [self.docks["multi_strike"], self.docks["charts"]]
        self.resizeDocks(column[:1], [int(width * RIGHT_COLUMN_SHARE)], Qt.Orientation.Horizontal)
        panel = self._multi_strike_dock_height()
        self.resizeDocks(column, [panel, max(height - panel, 0)], Qt.Orientation.Vertical)
        self.resizeDocks([self.docks["blotter"]], [int(height * BOTTOM_ROW_SHARE)], Qt.Orientation.Vertical)
        account = self.account.sizeHint().width() + ACCOUNT_SLACK_PX
        self.resizeDocks([self.docks["blotter"], self.docks["account"]],
                         [max(self.docks["blotter"].width() + self.docks["account"].width() - account, 0), account],
                         Qt.Orientation.Horizontal)

    def _multi_strike_dock_height(self) -> int:
        """The multi-strike dock's height that shows the panel's inputs and its whole preview (its tab bar aside)."""
        dock = self.docks["multi_strike"]
        title = dock.titleBarWidget()
        title_height = title.sizeHint().height() if title is not None else self.style().pixelMetric(
            QStyle.PixelMetric.PM_TitleBarHeight, None, dock)
        return self.multi_strike.minimumSizeHint().height() + title_height

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 - Qt's name
        super().showEvent(event)
        if not self._sized:
            self._sized = True
            if not self._layout_restored:
                QTimer.singleShot(0, self._default_sizes)

    def _save_layout(self) -> None:
        if self._settings is None:
            return
        self._settings.setValue(SETTINGS_GEOMETRY, self.saveGeometry())
        self._settings.setValue(SETTINGS_STATE, self.saveState(LAYOUT_VERSION))
        self._settings.sync()

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt's name
        if self._stopped:
            event.accept()
            self.closed.emit()
            return
        event.ignore()  # close for real once the desk has stopped (orders cancelled, telemetry flushed)
        if self._stopping:
            return
        self._stopping = True
        self._save_layout()
        self.status.showMessage("Stopping: cancelling working orders, flushing telemetry...")
        stop = self.desk.start_stop()
        stop.add_done_callback(lambda _: self._desk_stopped())

    def _desk_stopped(self) -> None:
        if not shiboken6.isValid(self):  # the window was destroyed while the desk stopped (a test's teardown)
            return
        self._stopped = True
        if self.quick_order is not None:
            self.quick_order.close()
        if self.session_watch is not None and self.session_watch.dialog is not None:
            self.session_watch.dialog.reject()  # stops listening for the browser's redirect
        self.close()
