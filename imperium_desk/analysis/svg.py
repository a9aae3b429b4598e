"""Two small chart kinds drawn as inline SVG: a histogram with a density line, and labelled bars (signed).

Text is escaped here (labels come from telemetry: algo names, statuses); numbers are formatted. The charts are
static and sized in pixels; colours come from CSS classes the page defines.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape
from typing import Any

WIDTH, HEIGHT = 640, 300
_LEFT, _RIGHT, _TOP, _BOTTOM = 64, 16, 30, 46


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """Round tick values (steps of 1, 2 or 5 times a power of ten) covering [lo, hi]."""
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        return [lo]
    raw = (hi - lo) / max(count, 1)
    power = 10.0 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1.0, 2.0, 5.0, 10.0) if m * power >= raw)
    first = math.ceil(lo / step - 1e-9) * step
    ticks = []
    value = first
    while value <= hi + 1e-9 * step:
        ticks.append(round(value, 12) + 0.0)
        value += step
    return ticks


def fmt(value: float) -> str:
    """A tick or bar label: short, no float noise."""
    if value == 0:
        return "0"
    magnitude = abs(value)
    if magnitude >= 1e5 or magnitude < 1e-3:
        return f"{value:.2e}"
    return f"{value:.4g}"


class _Frame:
    """Maps data coordinates to the plot area inside the margins."""

    def __init__(self, x0: float, x1: float, y0: float, y1: float) -> None:
        self.x0, self.x1 = x0, x1 if x1 > x0 else x0 + 1.0
        self.y0, self.y1 = y0, y1 if y1 > y0 else y0 + 1.0
        self.left, self.right = _LEFT, WIDTH - _RIGHT
        self.top, self.bottom = _TOP, HEIGHT - _BOTTOM

    def x(self, v: float) -> float:
        return self.left + (v - self.x0) / (self.x1 - self.x0) * (self.right - self.left)

    def y(self, v: float) -> float:
        return self.bottom - (v - self.y0) / (self.y1 - self.y0) * (self.bottom - self.top)


def _open(title: str) -> list[str]:
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
        f'<text class="title" x="{WIDTH / 2:.0f}" y="18" text-anchor="middle">{escape(title)}</text>',
    ]


def _y_axis(frame: _Frame, ticks: Sequence[float]) -> list[str]:
    out = []
    for t in ticks:
        y = frame.y(t)
        out.append(f'<line class="grid" x1="{frame.left}" x2="{frame.right}" y1="{y:.1f}" y2="{y:.1f}"/>')
        out.append(f'<text class="tick" x="{frame.left - 6}" y="{y + 4:.1f}" text-anchor="end">{fmt(t)}</text>')
    return out


def histogram_chart(
    title: str, x_label: str, histogram: dict[str, Any], density: dict[str, list[float]] | None, fitted: str | None
) -> str:
    """Bars of the histogram as a density (count / (n · width)), and the fitted density as a line over them."""
    edges: list[float] = histogram["edges"]
    counts: list[int] = histogram["counts"]
    n = max(int(histogram["n"]), 1)
    heights = [c / (n * (b - a)) if b > a else 0.0 for c, a, b in zip(counts, edges, edges[1:], strict=False)]
    curve = list(zip(density["x"], density["y"], strict=True)) if density else []
    top = max([*heights, *(y for _, y in curve), 1e-12]) * 1.08
    frame = _Frame(edges[0], edges[-1], 0.0, top)
    out = _open(title)
    out += _y_axis(frame, nice_ticks(0.0, top))
    for h, a, b in zip(heights, edges, edges[1:], strict=False):
        x, right, y = frame.x(a), frame.x(b), frame.y(h)
        out.append(
            f'<rect class="bar" x="{x:.1f}" y="{y:.1f}" width="{max(right - x - 1, 0.5):.1f}" '
            f'height="{frame.bottom - y:.1f}"/>'
        )
    if curve:
        points = " ".join(f"{frame.x(x):.1f},{frame.y(min(y, top)):.1f}" for x, y in curve)
        out.append(f'<polyline class="density" points="{points}"/>')
    for t in nice_ticks(edges[0], edges[-1], 6):
        x = frame.x(t)
        out.append(f'<line class="axis" x1="{x:.1f}" x2="{x:.1f}" y1="{frame.bottom}" y2="{frame.bottom + 4}"/>')
        out.append(f'<text class="tick" x="{x:.1f}" y="{frame.bottom + 16}" text-anchor="middle">{fmt(t)}</text>')
    out.append(f'<line class="axis" x1="{frame.left}" x2="{frame.right}" y1="{frame.bottom}" y2="{frame.bottom}"/>')
    out.append(
        f'<text class="label" x="{(frame.left + frame.right) / 2:.0f}" y="{HEIGHT - 8}" '
        f'text-anchor="middle">{escape(x_label)}</text>'
    )
    if fitted:
        out.append(
            f'<line class="density" x1="{frame.right - 150}" x2="{frame.right - 130}" y1="{_TOP + 6}" y2="{_TOP + 6}"/>'
        )
        out.append(f'<text class="tick" x="{frame.right - 126}" y="{_TOP + 10}">fit: {escape(fitted)}</text>')
    out.append("</svg>")
    return "\n".join(out)


def bar_chart(title: str, unit: str, bars: Sequence[tuple[str, float | None]]) -> str:
    """One bar per label (None: no value, drawn as an empty slot), from a zero line, positive up."""
    values = [v for _, v in bars if v is not None]
    lo, hi = min([0.0, *values]), max([0.0, *values])
    pad = (hi - lo) * 0.12 or 1.0
    frame = _Frame(0.0, float(max(len(bars), 1)), lo - (pad if lo < 0 else 0.0), hi + pad)
    out = _open(title)
    out += _y_axis(frame, nice_ticks(frame.y0, frame.y1))
    zero = frame.y(0.0)
    slot = (frame.right - frame.left) / max(len(bars), 1)
    for i, (label, value) in enumerate(bars):
        centre = frame.left + slot * (i + 0.5)
        width = min(slot * 0.6, 80.0)
        if value is not None:
            y = frame.y(value)
            cls = "bar" if value >= 0 else "bar negative"
            out.append(
                f'<rect class="{cls}" x="{centre - width / 2:.1f}" y="{min(y, zero):.1f}" width="{width:.1f}" '
                f'height="{max(abs(zero - y), 0.5):.1f}"/>'
            )
            label_y = min(y, zero) - 4 if value >= 0 else max(y, zero) + 12
            out.append(
                f'<text class="value" x="{centre:.1f}" y="{label_y:.1f}" text-anchor="middle">{fmt(value)}</text>'
            )
        else:
            out.append(f'<text class="value" x="{centre:.1f}" y="{zero - 4:.1f}" text-anchor="middle">n/a</text>')
        out.append(
            f'<text class="tick" x="{centre:.1f}" y="{frame.bottom + 16}" text-anchor="middle">{escape(label)}</text>'
        )
    out.append(f'<line class="axis" x1="{frame.left}" x2="{frame.right}" y1="{zero:.1f}" y2="{zero:.1f}"/>')
    out.append(
        f'<text class="label" x="14" y="{(frame.top + frame.bottom) / 2:.0f}" text-anchor="middle" '
        f'transform="rotate(-90 14 {(frame.top + frame.bottom) / 2:.0f})">{escape(unit)}</text>'
    )
    out.append("</svg>")
    return "\n".join(out)
