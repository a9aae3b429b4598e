"""The models panel on a running desk: it lists what each asset resolves to, switches models through the desk
(new orders carry the new model), shows the desk's validation errors inline, previews a model, removes overrides."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import qasync
from PySide6.QtCore import Qt
from PySide6.QtGui import QBrush
from PySide6.QtWidgets import QComboBox, QLineEdit, QWidget
from pytestqt.qtbot import QtBot

from imperium_desk.clock import WallClock
from imperium_desk.desk import Desk
from imperium_desk.domain.enums import OptionRight, Side
from imperium_desk.execution.request import ExecutionRequest, RequestMetadata
from imperium_desk.models.config import LATENCY_FAMILIES, SLIPPAGE_FAMILIES
from imperium_desk.ui.bridge import DeskBridge
from imperium_desk.ui.models_form import ChoiceEditor
from imperium_desk.ui.models_panel import ModelRowsModel, ModelsPanel
from tests.ui.conftest import show_sized, ui_config

# NIFTY has a latency override of its own; everything else resolves to the fixture's global models
# (constant 5 ms latency, constant 1 tick slippage).
NIFTY_LATENCY = {"type": "normal", "mean_ms": 6, "std_ms": 1}
OVERRIDES: dict[str, Any] = {"latency_model": {"per_asset": {"NIFTY": NIFTY_LATENCY}}}


@pytest.fixture
def desk(qt_loop: qasync.QEventLoop, tmp_path: Path) -> Iterator[Desk]:
    d = Desk(ui_config(OVERRIDES), home=tmp_path, clock=WallClock(qt_loop))
    d.start()
    yield d
    qt_loop.run_until_complete(d.stop())


@pytest.fixture
def panel(qtbot: QtBot, desk: Desk, bridge: DeskBridge) -> ModelsPanel:
    return show_sized(qtbot, ModelsPanel(desk, bridge), 1000, 760)


def click(qtbot: QtBot, widget: QWidget) -> None:
    qtbot.mouseClick(widget, Qt.MouseButton.LeftButton)  # type: ignore[no-untyped-call]


def click_row(qtbot: QtBot, panel: ModelsPanel, asset: str, kind: str, lane: str = "order") -> None:
    row = panel.table_model.find(asset, kind, lane)
    assert row >= 0, f"no {asset} {kind} {lane} row"
    index = panel.table_model.index(row, ModelRowsModel.ASSET)
    panel.table.scrollTo(index)
    qtbot.mouseClick(  # type: ignore[no-untyped-call]
        panel.table.viewport(), Qt.MouseButton.LeftButton, pos=panel.table.visualRect(index).center()
    )


def choose_family(qtbot: QtBot, panel: ModelsPanel, family: str) -> None:
    pick(qtbot, panel.form.type_combo, family)
    assert panel.form.family == family


def pick(qtbot: QtBot, combo: QComboBox, text: str) -> None:
    """Choose an entry with the keys: Home, then Down to it (typed search would merge with an earlier one)."""
    combo.setFocus()
    qtbot.keyClick(combo, Qt.Key.Key_Home)  # type: ignore[no-untyped-call]
    for _ in range(combo.findText(text)):
        qtbot.keyClick(combo, Qt.Key.Key_Down)  # type: ignore[no-untyped-call]


def type_into(qtbot: QtBot, panel: ModelsPanel, field: str, text: str) -> None:
    line = panel.form.field_widget(field)
    assert isinstance(line, QLineEdit)
    qtbot.keyClick(line, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)  # type: ignore[no-untyped-call]
    qtbot.keyClick(line, Qt.Key.Key_Delete)  # type: ignore[no-untyped-call]
    qtbot.keyClicks(line, text)  # type: ignore[no-untyped-call]


def shown(panel: ModelsPanel, asset: str, kind: str, column: int, lane: str = "order") -> Any:
    model = panel.table.model()
    return model.data(model.index(panel.table_model.find(asset, kind, lane), column))


def nifty_buy(desk: Desk) -> ExecutionRequest:
    expiry = desk.expiries("NIFTY", 1)[0]
    symbol = desk.contract("NIFTY", expiry, desk.atm_strike("NIFTY"), OptionRight.CE).symbol
    return ExecutionRequest(
        symbol=symbol, side=Side.BUY, quantity=desk.lot_size("NIFTY"), metadata=RequestMetadata(source="ladder")
    )


def latency_override(desk: Desk, scope: str) -> dict[str, Any] | None:
    model = desk.models_config()[0].per_asset.get(scope)
    return None if model is None else model.model_dump(mode="json", exclude_none=True)


def test_the_table_lists_each_underlying_with_its_resolved_models_and_the_scope_that_matched(
    panel: ModelsPanel,
) -> None:
    columns = (ModelRowsModel.SCOPE, ModelRowsModel.MODEL, ModelRowsModel.PARAMS)

    def row(asset: str, kind: str) -> tuple[Any, ...]:
        return tuple(shown(panel, asset, kind, c) for c in columns)

    assert row("NIFTY", "latency") == ("NIFTY", "normal", "mean_ms=6 std_ms=1")
    assert row("BANKNIFTY", "latency") == ("global", "constant", "value_ms=5")
    for underlying in ("NIFTY", "BANKNIFTY"):
        assert row(underlying, "slippage") == ("global", "constant", "value=1 unit=ticks")
    override = shown(panel, "NIFTY", "latency", ModelRowsModel.SCOPE)
    scope_colour = panel.table_model.data(
        panel.table_model.index(panel.table_model.find("NIFTY", "latency", "order"), ModelRowsModel.SCOPE),
        Qt.ItemDataRole.ForegroundRole,
    )
    inherited_colour = panel.table_model.data(
        panel.table_model.index(panel.table_model.find("BANKNIFTY", "latency", "order"), ModelRowsModel.SCOPE),
        Qt.ItemDataRole.ForegroundRole,
    )
    assert override == "NIFTY" and isinstance(scope_colour, QBrush) and inherited_colour is None


def test_choosing_a_family_rebuilds_the_form_with_that_familys_fields(qtbot: QtBot, panel: ModelsPanel) -> None:
    choose_family(qtbot, panel, "lognormal")
    expected = [name for name in LATENCY_FAMILIES["lognormal"].model_fields if name != "type"]
    assert list(panel.form.editors) == expected
    assert panel.findChild(QWidget, "modelsField_median_ms") is not None
    assert panel.findChild(QWidget, "modelsField_std_ms") is None  # the normal family's field is gone

    pick(qtbot, panel.form.kind_combo, "slippage")
    expected = [name for name in SLIPPAGE_FAMILIES["lognormal"].model_fields if name != "type"]
    assert list(panel.form.editors) == expected
    assert isinstance(panel.form.editors["unit"], ChoiceEditor)
    assert not panel.form.lane_combo.isEnabled()  # slippage has the order lane only


def test_apply_switches_the_desks_model_and_the_next_fill_carries_it(
    qtbot: QtBot, desk: Desk, bridge: DeskBridge, panel: ModelsPanel
) -> None:
    click_row(qtbot, panel, "NIFTY", "latency")
    choose_family(qtbot, panel, "lognormal")
    type_into(qtbot, panel, "median_ms", "4")
    type_into(qtbot, panel, "sigma", "0.2")
    click(qtbot, panel.apply_button)
    qtbot.waitUntil(lambda: (latency_override(desk, "NIFTY") or {}).get("type") == "lognormal", timeout=3000)

    assert latency_override(desk, "NIFTY") == {"type": "lognormal", "median_ms": 4.0, "sigma": 0.2}
    qtbot.waitUntil(lambda: shown(panel, "NIFTY", "latency", ModelRowsModel.MODEL) == "lognormal", timeout=1000)
    assert panel.status_label.text() == "NIFTY latency: normal → lognormal (applied to new orders)"
    assert not panel.error_label.isVisible()

    fills: list[dict[str, Any]] = []
    bridge.record.connect(lambda r: fills.append(r) if r["event"] in {"fill", "partial_fill"} else None)
    parent_id = desk.submit(nifty_buy(desk)).parent_id
    qtbot.waitUntil(lambda: any(f["parent_id"] == parent_id for f in fills), timeout=3000)
    latency = next(f for f in fills if f["parent_id"] == parent_id)["model_params"]["latency"]
    assert latency["scope"] == "NIFTY" and latency["type"] == "lognormal" and latency["median_ms"] == 4.0


def test_apply_with_a_negative_std_shows_an_error_naming_std_ms_and_leaves_the_desk_unchanged(
    qtbot: QtBot, desk: Desk, panel: ModelsPanel
) -> None:
    before = desk.models_config()
    click_row(qtbot, panel, "NIFTY", "latency")
    type_into(qtbot, panel, "std_ms", "-5")
    click(qtbot, panel.apply_button)
    qtbot.waitUntil(panel.error_label.isVisible, timeout=3000)

    assert "std_ms" in panel.error_label.text()
    assert desk.models_config() == before
    assert latency_override(desk, "NIFTY") == {"type": "normal", "mean_ms": 6.0, "std_ms": 1.0}
    assert panel.status_label.text() == ""
    assert panel.apply_button.isEnabled()  # the answer came back: the trader can correct and retry


def test_preview_draws_a_histogram_of_the_forms_model(qtbot: QtBot, desk: Desk, panel: ModelsPanel) -> None:
    before = desk.models_config()
    choose_family(qtbot, panel, "normal")
    type_into(qtbot, panel, "mean_ms", "30")
    type_into(qtbot, panel, "std_ms", "3")
    curve = panel.preview_plot.curve
    assert curve.xData is None or len(curve.xData) == 0
    click(qtbot, panel.preview_button)
    qtbot.waitUntil(lambda: curve.yData is not None and len(curve.yData) > 0, timeout=3000)

    assert len(curve.yData) == 60 and curve.yData.sum() == pytest.approx(1.0)
    assert panel.preview_plot.mean_line.value() == pytest.approx(30.0, abs=0.2)
    assert curve.xData[0] < 25 and curve.xData[-1] > 35  # the bulk of N(30, 3) is on the plot
    assert desk.models_config() == before  # a preview switches nothing


def test_remove_override_restores_the_global_model_for_that_asset(qtbot: QtBot, desk: Desk, panel: ModelsPanel) -> None:
    click_row(qtbot, panel, "NIFTY", "latency")
    assert panel.remove_button.isEnabled()
    click(qtbot, panel.remove_button)
    qtbot.waitUntil(lambda: latency_override(desk, "NIFTY") is None, timeout=3000)

    qtbot.waitUntil(lambda: shown(panel, "NIFTY", "latency", ModelRowsModel.SCOPE) == "global", timeout=1000)
    assert shown(panel, "NIFTY", "latency", ModelRowsModel.MODEL) == "constant"
    status = panel.status_label.text()
    assert status == "NIFTY latency: normal → constant (global) (override removed; applied to new orders)"
    assert not panel.remove_button.isEnabled()  # nothing left to remove


def test_remove_override_is_disabled_for_an_asset_that_inherits(qtbot: QtBot, panel: ModelsPanel) -> None:
    click_row(qtbot, panel, "BANKNIFTY", "latency")
    assert panel.form.scope == "BANKNIFTY"
    assert not panel.remove_button.isEnabled()
    assert "adds a BANKNIFTY latency override" in panel.scope_note.text()


def test_a_switch_made_elsewhere_refreshes_the_table(qtbot: QtBot, desk: Desk, panel: ModelsPanel) -> None:
    model = {"type": "normal", "mean": 2, "std": 0.5, "unit": "bps"}
    task = desk.clock.loop.create_task(desk.switch_model("slippage", "BANKNIFTY", model, source="api"))
    qtbot.waitUntil(task.done, timeout=3000)
    assert task.exception() is None

    qtbot.waitUntil(lambda: shown(panel, "BANKNIFTY", "slippage", ModelRowsModel.SCOPE) == "BANKNIFTY", timeout=1000)
    assert shown(panel, "BANKNIFTY", "slippage", ModelRowsModel.PARAMS) == "mean=2 std=0.5 unit=bps"


def test_a_mixture_typed_as_yaml_is_applied_and_listed_compactly(qtbot: QtBot, desk: Desk, panel: ModelsPanel) -> None:
    click_row(qtbot, panel, "BANKNIFTY", "slippage")
    choose_family(qtbot, panel, "mixture")
    components = panel.form.field_widget("components")
    components.setFocus()
    qtbot.keyClicks(components, "- {weight: 0.9, type: normal, mean: 1, std: 0.5}")  # type: ignore[no-untyped-call]
    qtbot.keyClick(components, Qt.Key.Key_Return)  # type: ignore[no-untyped-call]
    qtbot.keyClicks(components, "- {weight: 0.1, type: constant, value: 5}")  # type: ignore[no-untyped-call]
    click(qtbot, panel.apply_button)
    qtbot.waitUntil(lambda: "BANKNIFTY" in desk.models_config()[1].per_asset, timeout=3000)

    applied = desk.models_config()[1].per_asset["BANKNIFTY"].model_dump(mode="json", exclude_none=True)
    assert [c["type"] for c in applied["components"]] == ["normal", "constant"]
    qtbot.waitUntil(lambda: shown(panel, "BANKNIFTY", "slippage", ModelRowsModel.SCOPE) == "BANKNIFTY", timeout=1000)
    assert shown(panel, "BANKNIFTY", "slippage", ModelRowsModel.PARAMS) == (
        "0.9×normal(mean=1 std=0.5) + 0.1×constant(value=5)  unit=bps"
    )
