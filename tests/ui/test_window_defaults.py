"""The window's first start on a 1920x1080 screen: it fills the screen's available area, each fill-quality plot
is tall enough to read and the multi-strike preview shows all its rows; a saved layout is restored instead.

The 1080p checks run the window in a child process (tests/ui/window_layout_child.py) on an offscreen screen of
that size (Qt's offscreen platform reads its screens from a JSON config file); the session's own QApplication
has the offscreen default of 800x800, smaller than the window's minimum size."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
CHILD = Path(__file__).with_name("window_layout_child.py")
SCREEN_1080P = {
    "synchronousWindowSystemEvents": False,
    "windowFrameMargins": False,
    "screens": [{"name": "Screen1080p", "x": 0, "y": 0, "width": 1920, "height": 1080, "logicalDpi": 96,
                 "logicalBaseDpi": 96, "dpr": 1}],
}
SAVED_GEOMETRY = (100, 60, 1400, 900)  # x, y, width, height: a window the trader made smaller
PLOT_FLOOR_PX = 150  # a plot's title, axis labels and ticks need ~90 px; the rest is the curve


def run_window_1080p(folder: Path, *geometry: int) -> dict[str, Any]:
    """What the child measured after the window's start on a 1920x1080 screen, with the layout file in
    `folder`; with `geometry` the window is moved there (un-maximised) before it closes and saves its layout."""
    config = folder / "screens.json"
    config.write_text(json.dumps(SCREEN_1080P), encoding="utf-8")
    env = {**os.environ, "QT_QPA_PLATFORM": f"offscreen:configfile={config}",
           "PYTHONPATH": os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)}
    args = [sys.executable, str(CHILD), str(folder / "layout.ini")]
    if geometry:
        args.append(",".join(map(str, geometry)))
    proc = subprocess.run(args, cwd=REPO, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


@pytest.fixture(scope="module")
def starts_1080p(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], dict[str, Any]]:
    """The first start (moved to SAVED_GEOMETRY before it closes), then a second start with its saved layout."""
    folder = tmp_path_factory.mktemp("screen-1080p")
    return run_window_1080p(folder, *SAVED_GEOMETRY), run_window_1080p(folder)


@pytest.fixture
def first_start_1080p(starts_1080p: tuple[dict[str, Any], dict[str, Any]]) -> dict[str, Any]:
    return starts_1080p[0]


def test_the_window_fills_the_available_area_of_a_1080p_screen_on_first_start(
    first_start_1080p: dict[str, Any],
) -> None:
    assert first_start_1080p["frame"] == first_start_1080p["available"] == [0, 0, 1920, 1080]
    assert first_start_1080p["maximized"]


def test_every_fill_quality_plot_is_tall_enough_to_read_at_1080p(first_start_1080p: dict[str, Any]) -> None:
    heights = first_start_1080p["plot_heights"]
    assert len(heights) == 5
    assert min(heights.values()) >= PLOT_FLOOR_PX


def test_the_multi_strike_preview_shows_every_row_of_the_default_band_at_1080p(
    first_start_1080p: dict[str, Any],
) -> None:
    assert first_start_1080p["preview_rows"] == 3  # one strike below ATM, ATM, one above
    assert first_start_1080p["preview_rows_shown"] == first_start_1080p["preview_rows"]
    assert first_start_1080p["preview_scroll_max"] == 0


def test_a_saved_geometry_is_restored_instead_of_filling_the_screen(
    starts_1080p: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    restarted = starts_1080p[1]
    assert not restarted["maximized"]
    assert restarted["frame"] == list(SAVED_GEOMETRY)
