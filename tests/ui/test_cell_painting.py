"""The busy tables paint their own cells: the models' looks agree with their data roles, and the painter draws
them where a plain delegate would (alignment, elision, selection, backgrounds)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from PySide6.QtCore import QModelIndex, Qt
from PySide6.QtGui import QBrush, QColor, QImage, QPainter, QPalette
from pytestqt.qtbot import QtBot

from imperium_desk.desk import Desk
from imperium_desk.domain.enums import OptionRight, ParentStatus, Side
from imperium_desk.execution.request import ExecutionRequest, RequestMetadata
from imperium_desk.ui import palette
from imperium_desk.ui.blotter.columns import COLUMNS, column_index
from imperium_desk.ui.blotter.widget import OrdersBlotter
from imperium_desk.ui.bridge import DeskBridge
from imperium_desk.ui.ladder import StrikeLadder
from imperium_desk.ui.text_delegate import PADDING_PX, CellLook, CellText
from tests.ui.conftest import show_sized

W, H = 120, 24
RIGHT = (Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter).value
LEFT = (Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter).value
WHITE = QColor("#ffffff")


def painted(look: CellLook, selected: bool = False, width: int = W) -> np.ndarray[Any, Any]:
    """The cell painted on black: an (H, width) array, True where anything was drawn."""
    image = QImage(width, H, QImage.Format.Format_RGB32)
    image.fill(QColor("#000000"))
    painter = QPainter(image)
    palette = QPalette()
    palette.setColor(QPalette.ColorRole.Text, WHITE)
    CellText(palette).draw(painter, 0, 0, width, H, look, selected)
    painter.end()
    pixels = np.frombuffer(image.constBits(), np.uint32).reshape(H, width) & 0xFFFFFF
    drawn: np.ndarray[Any, Any] = pixels != 0
    return drawn


def ink_columns(mask: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    return np.flatnonzero(mask.any(axis=0))


def test_right_aligned_text_ends_at_the_padding(qtbot: QtBot) -> None:
    ink = ink_columns(painted(("123.45", RIGHT, None, None, False)))
    assert W - PADDING_PX - 3 <= ink.max() < W - PADDING_PX


def test_left_aligned_text_starts_at_the_padding(qtbot: QtBot) -> None:
    ink = ink_columns(painted(("P000001", LEFT, None, None, False)))
    assert PADDING_PX <= ink.min() <= PADDING_PX + 2


def test_a_text_wider_than_its_cell_is_elided_inside_it(qtbot: QtBot) -> None:
    ink = ink_columns(painted(("a reason far too long for this narrow column", LEFT, None, None, False), width=60))
    assert ink.max() < 60 - PADDING_PX + 1


def test_a_background_fills_the_cell_unless_it_is_selected(qtbot: QtBot) -> None:
    look: CellLook = ("", LEFT, None, QBrush(QColor("#406080")), False)
    assert painted(look).all()
    assert not painted(look, selected=True).any()  # the view paints the selection behind the row


def colour(value: Any) -> str | None:
    return None if value is None else (value.color() if isinstance(value, QBrush) else value).name()


def test_every_ladder_cell_looks_as_its_data_roles_say(ladder: StrikeLadder) -> None:
    model = ladder.model
    assert model.rowCount() > 0
    for row in range(model.rowCount()):
        for col in range(model.columnCount()):
            index = model.index(row, col)
            look = model.cell(index)
            assert look is not None
            text, align, foreground, background, bold = look
            assert text == model.data(index, Qt.ItemDataRole.DisplayRole)
            assert align & 0xF == model.data(index, Qt.ItemDataRole.TextAlignmentRole).value & 0xF
            assert colour(foreground) == colour(model.data(index, Qt.ItemDataRole.ForegroundRole))
            assert colour(background) == colour(model.data(index, Qt.ItemDataRole.BackgroundRole))
            assert bold == (model.data(index, Qt.ItemDataRole.FontRole) is not None)


@pytest.fixture
def blotter(qtbot: QtBot, desk: Desk, bridge: DeskBridge) -> OrdersBlotter:
    return show_sized(qtbot, OrdersBlotter(desk, bridge), 900, 300)


def fill_two_parents(qtbot: QtBot, desk: Desk, blotter: OrdersBlotter) -> None:
    symbol = desk.contract("NIFTY", desk.expiries("NIFTY", 1)[0], desk.atm_strike("NIFTY"), OptionRight.CE).symbol
    for side in (Side.BUY, Side.SELL):
        desk.submit(ExecutionRequest(symbol=symbol, side=side, quantity=desk.lot_size("NIFTY"),
                                     metadata=RequestMetadata(source="ladder")))
    parents = blotter.model.book.parents
    qtbot.waitUntil(lambda: blotter.model.rowCount() == 2 and not blotter.model.has_pending_changes
                    and all(p.status is ParentStatus.COMPLETE for p in parents.values()), timeout=3000)


def test_every_blotter_cell_looks_as_its_data_roles_say(
    qtbot: QtBot, desk: Desk, blotter: OrdersBlotter
) -> None:
    fill_two_parents(qtbot, desk, blotter)
    model = blotter.model
    columns = list(range(len(COLUMNS)))
    rows = [model.index(r, 0) for r in range(model.rowCount())]
    rows += [model.index(c, 0, parent) for parent in list(rows) for c in range(model.rowCount(parent))]
    assert len(rows) == 4  # two parents, one child each
    for first in rows:
        looks = model.row_looks(first, columns)
        assert looks is not None
        for col, (text, align, foreground, _, _) in enumerate(looks):
            index = first.siblingAtColumn(col)
            assert text == model.data(index, Qt.ItemDataRole.DisplayRole)
            expected_align = model.data(index, Qt.ItemDataRole.TextAlignmentRole)
            assert bool(align & Qt.AlignmentFlag.AlignRight.value) == (expected_align is not None)
            assert colour(foreground) == colour(model.data(index, Qt.ItemDataRole.ForegroundRole))


def side_cell_pixels(blotter: OrdersBlotter, index: QModelIndex) -> set[str]:
    """The colours the view painted in a row's Side cell."""
    view = blotter.view
    rect = view.visualRect(index.siblingAtColumn(column_index("side")))
    image = view.viewport().grab(rect).toImage()
    return {image.pixelColor(x, y).name() for x in range(image.width()) for y in range(image.height())}


def test_the_blotter_paints_each_rows_side_in_its_colour(
    qtbot: QtBot, desk: Desk, blotter: OrdersBlotter
) -> None:
    fill_two_parents(qtbot, desk, blotter)
    model = blotter.model
    sides = {model.data(model.index(r, column_index("side"))): model.index(r, 0) for r in range(2)}
    assert palette.BUY in side_cell_pixels(blotter, sides["BUY"])
    assert palette.SELL in side_cell_pixels(blotter, sides["SELL"])
    assert palette.BUY not in side_cell_pixels(blotter, sides["SELL"])


def test_a_selected_blotter_row_is_painted_in_the_highlight(
    qtbot: QtBot, desk: Desk, blotter: OrdersBlotter
) -> None:
    fill_two_parents(qtbot, desk, blotter)
    view = blotter.view
    highlight = view.palette().highlight().color().name()
    first = blotter.model.index(0, 0)
    assert highlight not in side_cell_pixels(blotter, first)
    view.setCurrentIndex(first)
    qtbot.waitUntil(lambda: highlight in side_cell_pixels(blotter, first), timeout=2000)
