"""Drill event markers on the fill-quality time plots: a vertical line where an event began (labelled with its
type) and a dashed, dimmer one where it ended.

The chart hands each `scenario` telemetry record to `add` with the x value it gives fills (seconds since the chart
started, taken when the record arrives), so markers and points share one time base. Nothing is drawn there:
`sync` runs from the chart's frame timer and rebuilds the lines only when a marker arrived or the selected asset
changed. Only the newest `capacity` markers are kept, so a long session of drills cannot pile up plot items.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import pyqtgraph as pg
from PySide6.QtCore import Qt

ALL: Final = "All"  # the chart's key for every asset
MAX_MARKERS: Final = 50
START_COLOUR: Final = (232, 106, 146)
END_COLOUR: Final = (232, 106, 146, 110)


@dataclass(frozen=True, slots=True)
class DrillMarker:
    """One drill event's start or end, at the chart's x, with what it targets (to show it only on the charts of
    that asset or underlying)."""

    t: float  # the chart's x: seconds since it started
    start: bool
    type: str
    label: str  # events.N
    asset: str | None  # the event's trading symbol, if it targets one
    underlying: str | None  # the one underlying it acts on; None: several (an event without a target)

    @classmethod
    def of(cls, record: Mapping[str, Any], t: float) -> DrillMarker:
        entry = record.get("scenario") or {}
        return cls(t, entry.get("phase") == "start", str(entry.get("type", "")), str(entry.get("event", "")),
                   record.get("asset"), record.get("underlying"))

    def shows_on(self, key: str, key_underlying: str | None) -> bool:
        """Whether the chart showing `key` ("All", an underlying or a symbol of `key_underlying`) shows this."""
        if key == ALL or self.underlying is None:
            return True
        if key == key_underlying:  # an underlying: its own events and those of its symbols
            return self.underlying == key
        return self.asset == key or (self.asset is None and self.underlying == key_underlying)


class DrillMarkers:
    """The markers of `plots` (x-linked time plots); only `labelled` carries the type labels (one is enough)."""

    def __init__(self, plots: Sequence[Any], labelled: Any, capacity: int = MAX_MARKERS) -> None:
        self._plots = tuple(plots)
        self._labelled = labelled
        self._markers: deque[DrillMarker] = deque(maxlen=capacity)
        self._lines: list[tuple[Any, Any]] = []  # (plot, line) drawn now
        self._version = 0
        self._drawn: tuple[int, str] | None = None
        self.shown: list[DrillMarker] = []  # the markers drawn for the selected asset (tests read this)
        self._start_pen = pg.mkPen(START_COLOUR, width=1)
        self._end_pen = pg.mkPen(END_COLOUR, width=1, style=Qt.PenStyle.DashLine)

    def add(self, record: Mapping[str, Any], t: float) -> None:
        """Remember one `scenario` record's marker; drawn by the next `sync`."""
        self._markers.append(DrillMarker.of(record, t))
        self._version += 1

    @property
    def markers(self) -> list[DrillMarker]:
        return list(self._markers)

    def sync(self, key: str, key_underlying: str | None) -> None:
        """Draw the markers for the selected asset if they changed since the last call (the chart's frame)."""
        if self._drawn == (self._version, key):
            return
        self._drawn = (self._version, key)
        for plot, line in self._lines:
            plot.removeItem(line)
        self._lines.clear()
        self.shown = [m for m in self._markers if m.shows_on(key, key_underlying)]
        for marker in self.shown:
            for plot in self._plots:
                line = self._line(marker, plot is self._labelled)
                plot.addItem(line, ignoreBounds=True)  # markers must not stretch the stepped ranges
                self._lines.append((plot, line))

    def _line(self, marker: DrillMarker, labelled: bool) -> Any:
        pen = self._start_pen if marker.start else self._end_pen
        label = marker.type if labelled and marker.start else None
        line = pg.InfiniteLine(pos=marker.t, angle=90, movable=False, pen=pen, label=label,
                               labelOpts={"position": 0.85, "color": START_COLOUR})
        line.setToolTip(f"{marker.label} {marker.type} {'start' if marker.start else 'end'} at {marker.t:.1f} s")
        line.setZValue(5)
        return line
