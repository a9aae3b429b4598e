"""Painting the busy tables' cells (strike ladder, blotter): one line of text on an optional background.

The default delegate paints each cell through the style (panel, focus frame, icon, a laid-out and elided text)
after asking the model for ~9 roles; the ladder repaints its ~250 visible cells four times a second and the
blotter a screenful at each flush, and one such repaint held the Qt thread for 10-15 ms
(benchmarks/ui_responsiveness.py: the largest gap of a 10 ms timer). Here the model describes a cell in one call
(`cell`, a `CellLook`) and `CellText` draws its text at a computed point, with widths measured once per distinct
string: a few painter calls a cell, a third of the time. What those tables use is drawn: text with its
horizontal alignment, foreground and background, bold, selection and the keyboard focus cell; a text wider than
its cell is elided at the right. Icons, check boxes and editors are not, so it only serves models that need none.

Colours for cells without their own come from the view's palette when the painter is made (the theme is applied
before any view exists and does not change while the desk runs).
"""

from __future__ import annotations

from typing import Final, override

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QBrush, QColor, QFont, QFontMetrics, QPainter, QPalette
from PySide6.QtWidgets import QAbstractItemView, QStyle, QStyledItemDelegate, QStyleOptionViewItem

# (text, alignment flags as an int, foreground or None for the palette's text, background or None, bold)
CellLook = tuple[str, int, QColor | None, QBrush | None, bool]

PADDING_PX: Final = 4  # text inset from the cell's left and right edges
SELECTED: Final = QStyle.StateFlag.State_Selected.value
FOCUS: Final = QStyle.StateFlag.State_HasFocus.value
ALTERNATE: Final = QStyleOptionViewItem.ViewItemFeature.Alternate.value
_RIGHT: Final = Qt.AlignmentFlag.AlignRight.value
_CENTRE: Final = Qt.AlignmentFlag.AlignHCenter.value
_WIDTH_CACHE_MAX: Final = 20_000  # distinct strings measured before the cache starts again


class CellText:
    """Draws cell texts and backgrounds in a view's palette colours."""

    def __init__(self, palette: QPalette) -> None:
        self.text = palette.text().color()
        self.highlight = palette.highlight()
        self.highlighted_text = palette.highlightedText().color()
        self.alternate = palette.alternateBase()
        self.focus = palette.highlight().color()
        self._fonts: dict[bool, tuple[QFont, QFontMetrics, int, int]] = {}  # bold -> font, metrics, ascent, descent
        self._widths: dict[tuple[bool, str], int] = {}

    def draw(self, painter: QPainter, x: int, y: int, w: int, h: int, look: CellLook, selected: bool) -> None:
        """The cell's own background (not when selected: the selection's shows) and its text."""
        text, align, foreground, background, bold = look
        if background is not None and not selected:
            painter.fillRect(x, y, w, h, background)
        if text:
            self._draw_text(painter, x, y, w, h, text, align, bold,
                            self.highlighted_text if selected else (foreground or self.text))

    def _draw_text(self, painter: QPainter, x: int, y: int, w: int, h: int, text: str, align: int, bold: bool,
                   colour: QColor) -> None:
        font = self._fonts.get(bold)
        if font is None:
            font = self._font_for(painter.font(), bold)
        qfont, metrics, ascent, descent = font
        room = w - 2 * PADDING_PX
        width = self._widths.get((bold, text))
        if width is None:
            if len(self._widths) >= _WIDTH_CACHE_MAX:
                self._widths.clear()
            width = self._widths[(bold, text)] = metrics.horizontalAdvance(text)
        if width > room:
            text = metrics.elidedText(text, Qt.TextElideMode.ElideRight, max(room, 0))
            width = metrics.horizontalAdvance(text)
        if align & _RIGHT:
            left = x + w - PADDING_PX - width
        elif align & _CENTRE:
            left = x + (w - width) // 2
        else:
            left = x + PADDING_PX
        painter.setPen(colour)
        if bold:
            normal = painter.font()
            painter.setFont(qfont)
            painter.drawText(left, y + (h + ascent - descent) // 2, text)
            painter.setFont(normal)
        else:
            painter.drawText(left, y + (h + ascent - descent) // 2, text)

    def _font_for(self, base: QFont, bold: bool) -> tuple[QFont, QFontMetrics, int, int]:
        font = QFont(base)
        font.setBold(bold)
        metrics = QFontMetrics(font)
        entry = self._fonts[bold] = (font, metrics, metrics.ascent(), metrics.descent())
        return entry


class TextCellDelegate(QStyledItemDelegate):
    """Paints the cells of a view whose model has `cell(index) -> CellLook` (the strike ladder's)."""

    def __init__(self, view: QAbstractItemView) -> None:
        super().__init__(view)
        self._cells = CellText(view.palette())

    @override
    def paint(self, painter: QPainter, option: QStyleOptionViewItem,
              index: QModelIndex | QPersistentModelIndex) -> None:
        look: CellLook | None = index.model().cell(index)  # type: ignore[attr-defined]
        rect = option.rect
        state = option.state.value
        selected = bool(state & SELECTED)
        x, y, w, h = rect.x(), rect.y(), rect.width(), rect.height()
        cells = self._cells
        if selected:
            painter.fillRect(rect, cells.highlight)
        elif option.features.value & ALTERNATE and (look is None or look[3] is None):
            painter.fillRect(rect, cells.alternate)
        if look is not None:
            cells.draw(painter, x, y, w, h, look, selected)
        if state & FOCUS:
            painter.setPen(cells.focus)
            painter.drawRect(rect.adjusted(0, 0, -1, -1))
