"""The models panel: which latency and slippage model each asset uses, a form to switch one, and a preview.

The table lists `Desk.model_rows()`: per asset and lane the model in force after resolution and the key that
matched (Scope), so a per-asset override stands out from the global default. It is refreshed when the desk says
its models changed (`DeskBridge.models`: the panel, a config reload or a scripted switch) and when shown.
Selecting a row loads it into the form (scope = that asset) and previews it.

Apply and Remove override go through `Desk.switch_model`, Preview through `Desk.preview_samples`. Both are
coroutines (validation may read a CSV off the loop), scheduled on the desk's loop; the panel never waits on them.
A `ModelConfigError` is shown line by line under the form and the desk keeps its models. A switch applies to new
orders only: orders in flight keep the model they started with, which the status line says.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Coroutine, Mapping, Sequence
from pathlib import Path
from typing import Any, Final

import numpy as np
import pyqtgraph as pg
import shiboken6
from PySide6.QtCore import (
    QItemSelectionModel,
    QModelIndex,
    QPersistentModelIndex,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import QBrush, QColor, QFont, QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFrame,
    QHBoxLayout,
    QScrollArea,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from imperium_desk.desk import Desk, ModelConfigError, ModelRow
from imperium_desk.model_input import ModelKind
from imperium_desk.models.resolver import ModelSwitch
from imperium_desk.ui import palette
from imperium_desk.ui.bridge import DeskBridge
from imperium_desk.ui.distributions import Distribution
from imperium_desk.ui.models_form import GLOBAL_SCOPE, FormError, ModelForm, as_kind, format_number
from imperium_desk.ui.row_table_model import RowTableModel
from imperium_desk.ui.widgets import push_button, row_table, wrapped_label

# Chart series (RGB, as pyqtgraph takes them): they tell the preview from the mean line, no meaning beyond that.
PREVIEW_COLOUR: Final = (74, 163, 255)
MEAN_COLOUR: Final = (224, 179, 65)
PREVIEW_FILL_ALPHA: Final = 90
PREVIEW_SAMPLES: Final = 20_000
PREVIEW_BINS: Final = 60


# -- text ----------------------------------------------------------------------------------------------------
def _value_text(key: str, value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int | float):
        return format_number(value)
    if key == "source":
        return Path(str(value)).name  # absolute after loading; the file name is what a trader recognises
    if isinstance(value, Mapping) and "type" in value:
        return f"{value['type']}({format_params(value)})"
    if isinstance(value, Mapping):
        return "(" + _fields_text(value, ()) + ")"
    return str(value)


def _fields_text(params: Mapping[str, Any], skip: Sequence[str]) -> str:
    return " ".join(f"{k}={_value_text(k, v)}" for k, v in params.items() if k not in skip and v is not None)


def format_params(params: Mapping[str, Any]) -> str:
    """Compact parameters: "median_ms=40 sigma=0.3"; a mixture as "0.95×lognormal(...) + 0.05×normal(...)"."""
    if params.get("type") == "mixture":
        shared = ("type", "weight", "unit")  # a component's unit is the mixture's (shown once, at the end)
        parts = [
            f"{_value_text('weight', c.get('weight'))}×{c.get('type')}({_fields_text(c, shared)})"
            for c in params.get("components", [])
        ]
        rest = _fields_text(params, ("type", "components"))
        return " + ".join(parts) + (f"  {rest}" if rest else "")
    return _fields_text(params, ("type",))


def family_of(params: Mapping[str, Any] | None) -> str | None:
    return None if params is None else str(params.get("type", "?"))


def describe_switch(switch: ModelSwitch, before: str | None, after: str | None) -> str:
    """The status line, e.g. "NIFTY latency: normal → lognormal (applied to new orders)". `before`/`after` name
    the model in force at that scope when the switch added or removed an override (its own old/new is then None)."""
    lane = "" if switch.lane == "order" else f" {switch.lane}"
    old = family_of(switch.old) or before or "inherited"
    new = family_of(switch.new) or after or "inherited"
    removed = "override removed; " if switch.new is None else ""
    return f"{switch.scope} {switch.kind}{lane}: {old} → {new} ({removed}applied to new orders)"


# -- table ---------------------------------------------------------------------------------------------------
class ModelRowsModel(RowTableModel[ModelRow]):
    """One row per (asset, kind, lane): the resolved model and the scope that matched; overrides highlighted."""

    HEADERS = ("Asset", "Kind", "Lane", "Scope", "Model", "Parameters")
    ASSET, KIND, LANE, SCOPE, MODEL, PARAMS = range(6)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._params_text: list[str] = []

    @staticmethod
    def key(row: ModelRow) -> tuple[str, str, str]:
        return row.asset, row.kind, row.lane

    def set_rows(self, rows: Sequence[ModelRow]) -> None:
        rows = list(rows)
        same_keys = [self.key(r) for r in rows] == [self.key(r) for r in self._rows]
        self._replace_rows(rows, same_keys, self._commit)

    def _commit(self, rows: list[ModelRow]) -> None:
        self._rows, self._params_text = rows, [format_params(r.params) for r in rows]

    @property
    def rows(self) -> list[ModelRow]:
        return list(self._rows)

    def row(self, index: int) -> ModelRow:
        return self._rows[index]

    def find(self, asset: str, kind: str, lane: str) -> int:
        for i, row in enumerate(self._rows):
            if self.key(row) == (asset, kind, lane):
                return i
        return -1

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        row, column = self._rows[index.row()], index.column()
        override = row.scope != GLOBAL_SCOPE
        if role == Qt.ItemDataRole.DisplayRole:
            return self._text(index.row(), column)
        if role == Qt.ItemDataRole.ToolTipRole:
            if column == self.SCOPE:
                return f"override keyed by {row.scope}" if override else "the global default"
            if column == self.PARAMS:
                return json.dumps(row.params, indent=1)
        if override and column == self.SCOPE:
            if role == Qt.ItemDataRole.ForegroundRole:
                return QBrush(QColor(palette.NOTICE))
            if role == Qt.ItemDataRole.FontRole:
                font = QFont()
                font.setBold(True)
                return font
        return None

    def _text(self, index: int, column: int) -> str:
        row = self._rows[index]
        match column:
            case self.ASSET:
                return row.asset
            case self.KIND:
                return row.kind
            case self.LANE:
                return row.lane
            case self.SCOPE:
                return row.scope
            case self.MODEL:
                return family_of(row.params) or ""
            case _:
                return self._params_text[index]


# -- preview -------------------------------------------------------------------------------------------------
class ModelPreview(pg.PlotWidget):  # type: ignore[misc]  # pyqtgraph is untyped
    """A small histogram of samples drawn from a model, its mean marked."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("modelsPreview")
        self.setBackground(None)  # the QSS theme paints behind the plot
        self.setMinimumSize(220, 140)
        item = self.getPlotItem()
        item.setLabel("left", "share of draws")
        item.setMouseEnabled(x=False, y=False)
        item.hideButtons()
        self.curve = item.plot(
            stepMode="center",
            fillLevel=0,
            antialias=False,
            pen=pg.mkPen(PREVIEW_COLOUR, width=1),
            brush=pg.mkBrush(*PREVIEW_COLOUR, PREVIEW_FILL_ALPHA),
        )
        self.mean_line = pg.InfiniteLine(
            angle=90,
            movable=False,
            pen=pg.mkPen(MEAN_COLOUR, width=1),
            label="mean",
            labelOpts={"position": 0.95, "color": MEAN_COLOUR},
        )
        self.mean_line.setZValue(10)  # over the histogram's fill, label included
        self.mean_line.setVisible(False)
        item.addItem(self.mean_line)
        self.distribution: Distribution | None = None

    def show_samples(self, samples: np.ndarray[Any, Any], title: str, unit: str) -> None:
        values = np.asarray(samples, dtype=np.float64)
        values = values[np.isfinite(values)]
        dist = Distribution.of(values, bins=PREVIEW_BINS)
        self.distribution = dist
        item = self.getPlotItem()
        item.setTitle(f"{title} · mean {dist.mean:.4g} {unit}" if dist.n else title, size="9pt")
        item.setLabel("bottom", unit)
        if not dist.n:
            self.clear_preview()
            return
        self.curve.setData(dist.edges, dist.counts / dist.n)
        self.mean_line.setValue(dist.mean)
        self.mean_line.setVisible(True)

    def clear_preview(self) -> None:
        self.curve.setData([], [])
        self.mean_line.setVisible(False)


# -- the panel -----------------------------------------------------------------------------------------------
class ModelsPanel(QWidget):
    """The active model per asset, a form to switch one (Apply / Remove override) and a preview histogram.

    `apply()`, `remove_override()` and `preview()` are what the buttons do; each returns the scheduled task (or
    None when the form itself is unreadable, with the problem shown). `switched` carries each `ModelSwitch` the
    panel made.
    """

    switched = Signal(object)  # ModelSwitch

    def __init__(self, desk: Desk, bridge: DeskBridge, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("modelsPanel")
        self._desk = desk
        self._busy = False  # a switch is in flight: Apply/Remove wait for its answer
        self._loading_selection = False  # a refresh reselects rows: that must not overwrite the form
        self._preview_seq = 0  # only the newest preview may draw

        self._build()
        self._refresh_timer = QTimer(self)
        self._refresh_timer.setSingleShot(True)
        self._refresh_timer.setInterval(0)  # a reload can switch many models at once: one refresh for all
        self._refresh_timer.timeout.connect(self.refresh)
        bridge.models.connect(self._on_models_changed)
        self.refresh()
        if self.table_model.rowCount():
            row = self.table_model.row(0)
            self.form.load(row.kind, row.lane, row.asset, row.params)
        self._update_scope_note()

    def _build(self) -> None:
        self.table_model = ModelRowsModel(self)
        self.table = row_table(QTableView(self), self.table_model, "modelsTable",
                               selection=QAbstractItemView.SelectionMode.SingleSelection)
        self.table.selectionModel().currentRowChanged.connect(self._on_row_selected)

        self.form = ModelForm(self)
        self.form.edited.connect(self._on_form_edited)
        self.scope_note = wrapped_label(self, "modelsScopeNote")
        self.error_label = wrapped_label(self, "modelsError")
        self.error_label.setStyleSheet(f"color: {palette.ERROR};")
        self.error_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.error_label.setVisible(False)
        self.status_label = wrapped_label(self, "modelsStatus")

        self.preview_button = push_button(self, "Preview", "modelsPreviewButton", self.preview)
        self.apply_button = push_button(self, "Apply", "modelsApplyButton", self.apply)
        self.apply_button.setDefault(True)
        self.remove_button = push_button(self, "Remove override", "modelsRemoveButton", self.remove_override)
        buttons = QHBoxLayout()
        buttons.addWidget(self.preview_button)
        buttons.addStretch(1)
        buttons.addWidget(self.remove_button)
        buttons.addWidget(self.apply_button)

        editor = QWidget(self)
        column = QVBoxLayout(editor)
        column.setContentsMargins(0, 0, 0, 0)
        column.addWidget(self.form)
        column.addWidget(self.scope_note)
        column.addLayout(buttons)
        column.addWidget(self.error_label)
        column.addWidget(self.status_label)
        column.addStretch(1)
        self.preview_plot = ModelPreview(self)
        bottom = QWidget(self)
        side_by_side = QHBoxLayout(bottom)
        side_by_side.setContentsMargins(0, 0, 0, 0)
        # The form scrolls rather than setting the dock's minimum height: tabbed with the charts, a 410 px form
        # made the whole window at least 1,087 px tall, taller than a 1080p screen.
        editor_scroll = QScrollArea(self)
        editor_scroll.setObjectName("modelsEditorScroll")
        editor_scroll.setWidgetResizable(True)
        editor_scroll.setFrameShape(QFrame.Shape.NoFrame)
        editor_scroll.setWidget(editor)
        side_by_side.addWidget(editor_scroll, 3)
        side_by_side.addWidget(self.preview_plot, 2)

        splitter = QSplitter(Qt.Orientation.Vertical, self)
        splitter.setObjectName("modelsSplitter")
        splitter.addWidget(self.table)
        splitter.addWidget(bottom)
        splitter.setStretchFactor(0, 1)
        splitter.setStretchFactor(1, 2)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(splitter)

    # -- the table -------------------------------------------------------------------------------------------
    def refresh(self) -> None:
        """Re-read the desk's models into the table and the scope choices; the form keeps what is typed."""
        selected = self._selected_key()
        self.table_model.set_rows(self._desk.model_rows())
        rows = self.table_model.rows
        scopes = [*self._desk.underlyings, *sorted({r.asset for r in rows} - set(self._desk.underlyings))]
        self.form.set_scope_choices(scopes)
        if selected is not None:
            self._select(*selected)
        self._update_scope_note()

    @property
    def rows(self) -> list[ModelRow]:
        return self.table_model.rows

    def _selected_key(self) -> tuple[str, str, str] | None:
        current = self.table.selectionModel().currentIndex()
        if not current.isValid() or not self.table.selectionModel().isRowSelected(current.row()):
            return None
        return ModelRowsModel.key(self.table_model.row(current.row()))

    def _select(self, asset: str, kind: str, lane: str) -> None:
        row = self.table_model.find(asset, kind, lane)
        if row < 0:
            return
        self._loading_selection = True
        try:
            self.table.selectionModel().setCurrentIndex(
                self.table_model.index(row, 0),
                QItemSelectionModel.SelectionFlag.ClearAndSelect | QItemSelectionModel.SelectionFlag.Rows,
            )
        finally:
            self._loading_selection = False

    def _on_row_selected(self, current: QModelIndex, _previous: QModelIndex) -> None:
        if self._loading_selection or not current.isValid():
            return
        row = self.table_model.row(current.row())
        # Scope = the asset, not the key that matched: editing a row edits that asset (adding an override if it
        # had none); the global model is chosen explicitly in the scope box.
        self.form.load(row.kind, row.lane, row.asset, row.params)
        self._show_errors([])
        self._update_scope_note()
        self._start_preview(as_kind(row.kind), dict(row.params))

    def _on_models_changed(self, _switch: object) -> None:
        if self.isVisible():  # a hidden panel (a tabbed-away dock) catches up when shown
            self._refresh_timer.start()

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802
        super().showEvent(event)
        self.refresh()

    # -- the form --------------------------------------------------------------------------------------------
    def _on_form_edited(self) -> None:
        self._show_errors([])  # they were about the text that just changed
        self._update_scope_note()

    def _own_models(self, kind: str, lane: str) -> set[str]:
        """Scopes with a model of their own for `kind` and `lane`: per-asset keys, and "global" for a lane whose
        global model is set (removable: the lane then falls back to the order latency)."""
        latency, slippage = self._desk.models_config()
        if kind == "slippage":
            return set(slippage.per_asset)
        if lane == "order":
            return set(latency.per_asset)
        lane_models = getattr(latency.lanes, lane, None)
        if lane_models is None:
            return set()
        return set(lane_models.per_asset) | ({GLOBAL_SCOPE} if lane_models.global_ is not None else set())

    def _update_scope_note(self) -> None:
        kind, lane, scope = self.form.kind, self.form.lane, self.form.scope
        lane_text = "" if lane == "order" else f" {lane}"
        removable = scope in self._own_models(kind, lane)
        if not scope:
            note = "Give a scope: global, an underlying or a trading symbol."
        elif scope == GLOBAL_SCOPE:
            note = f"Apply changes the global {kind}{lane_text} model (assets without an override)."
            if removable:
                note += " Remove falls back to the order latency."
        elif removable:
            note = f"Apply replaces the {scope} {kind}{lane_text} override; Remove falls back to the next scope."
        else:
            note = f"Apply adds a {scope} {kind}{lane_text} override."
        self.scope_note.setText(note)
        self.remove_button.setEnabled(removable and not self._busy)
        self.apply_button.setEnabled(not self._busy)

    def _show_errors(self, errors: Sequence[str]) -> None:
        self.error_label.setText("\n".join(errors))
        self.error_label.setVisible(bool(errors))

    def _schedule[T](self, coro: Coroutine[Any, Any, T]) -> asyncio.Task[T]:
        # The desk's loop (qasync in the app and in tests): the call returns at once, the answer comes back
        # through the task's done callback on the Qt thread.
        return self._desk.clock.loop.create_task(coro)

    # -- Apply / Remove --------------------------------------------------------------------------------------
    def apply(self) -> asyncio.Task[ModelSwitch] | None:
        """Switch the form's scope to the form's model."""
        try:
            kind, lane, scope = self.form.target()
            model = self.form.model()
        except FormError as exc:
            self._show_errors(exc.errors)
            return None
        return self._switch(kind, lane, scope, model)

    def remove_override(self) -> asyncio.Task[ModelSwitch] | None:
        """Drop the form's scope override: the asset falls back to its underlying's model or the global one."""
        try:
            kind, lane, scope = self.form.target()
        except FormError as exc:
            self._show_errors(exc.errors)
            return None
        return self._switch(kind, lane, scope, None)

    def _switch(
        self, kind: ModelKind, lane: str, scope: str, model: dict[str, Any] | None
    ) -> asyncio.Task[ModelSwitch]:
        before = self._in_force(scope, kind, lane)
        self._busy = True
        self._update_scope_note()
        task = self._schedule(self._desk.switch_model(kind, scope, model, lane=lane, source="panel"))
        task.add_done_callback(lambda t: self._on_switched(t, before))
        return task

    def _in_force(self, scope: str, kind: str, lane: str) -> str | None:
        """The model in force for `scope` as the table shows it, e.g. "normal (global)"; None when not listed."""
        for wanted_lane in (lane, "order"):  # a lane without its own row uses the order model
            index = self.table_model.find(scope, kind, wanted_lane)
            if index >= 0:
                row = self.table_model.row(index)
                return f"{family_of(row.params)} ({row.scope})"
        return None

    def _on_switched(self, task: asyncio.Task[ModelSwitch], before: str | None) -> None:
        if task.cancelled():
            return
        exc = task.exception()  # retrieved even when nobody is left to show it: asyncio would log it as lost
        if not shiboken6.isValid(self):  # the window closed meanwhile
            return
        self._busy = False
        if exc is not None:
            self._update_scope_note()
            errors = exc.errors if isinstance(exc, ModelConfigError) else [f"{type(exc).__name__}: {exc}"]
            self._show_errors(errors)
            return
        switch = task.result()
        self.refresh()  # before the bridge's coalesced refresh: the status line reads the new table
        self._show_errors([])
        after = self._in_force(switch.scope, switch.kind, switch.lane)
        self.status_label.setText(describe_switch(switch, before, after))
        effective = switch.new if switch.new is not None else self._effective_params(switch)
        if effective is not None:
            self._start_preview(switch.kind, dict(effective))
        self.switched.emit(switch)

    def _effective_params(self, switch: ModelSwitch) -> Mapping[str, Any] | None:
        for lane in (switch.lane, "order"):
            index = self.table_model.find(switch.scope, switch.kind, lane)
            if index >= 0:
                return self.table_model.row(index).params
        return None

    # -- Preview ---------------------------------------------------------------------------------------------
    def preview(self) -> asyncio.Task[np.ndarray[Any, Any]] | None:
        """Draw the form's model (validated by the desk) into the histogram."""
        try:
            model = self.form.model()
        except FormError as exc:
            self._show_errors(exc.errors)
            return None
        return self._start_preview(self.form.kind, model)

    def _start_preview(self, kind: ModelKind, model: dict[str, Any]) -> asyncio.Task[np.ndarray[Any, Any]]:
        self._preview_seq += 1
        seq = self._preview_seq
        task = self._schedule(self._desk.preview_samples(kind, model, n=PREVIEW_SAMPLES))
        task.add_done_callback(lambda t: self._on_preview(t, seq, kind, model))
        return task

    def _on_preview(
        self, task: asyncio.Task[np.ndarray[Any, Any]], seq: int, kind: str, model: Mapping[str, Any]
    ) -> None:
        if task.cancelled():
            return
        exc = task.exception()  # retrieved even when unused: asyncio would log it as lost
        if not shiboken6.isValid(self) or seq != self._preview_seq:
            return  # closed, or a newer preview was asked for
        if exc is not None:
            self.preview_plot.clear_preview()
            self._show_errors(exc.errors if isinstance(exc, ModelConfigError) else [f"preview: {exc}"])
            return
        unit = "ms" if kind == "latency" else str(model.get("unit", "bps"))
        self.preview_plot.show_samples(task.result(), str(model.get("type", "?")), unit)
