"""The installer's icon and Linux desktop entry (packaging/icons, packaging/linux): PNGs rendered from the SVG,
and an entry that names the executable and the icon."""

from __future__ import annotations

import configparser
import subprocess
import sys

from tests.packaging.conftest import REPO, user_env

PACKAGING = REPO / "packaging"


def test_the_committed_pngs_are_the_svg_rendered() -> None:
    result = subprocess.run([sys.executable, PACKAGING / "render_icons.py", "--check"], capture_output=True,
                            text=True, timeout=120, check=False, env={**user_env(), "QT_QPA_PLATFORM": "offscreen"})
    assert result.returncode == 0, result.stderr


def test_the_desktop_entry_launches_the_desk_with_its_icon() -> None:
    entry = configparser.ConfigParser(interpolation=None)
    entry.optionxform = str  # type: ignore[assignment,method-assign]  # keys are case-sensitive
    entry.read(PACKAGING / "linux" / "imperium-desk.desktop", encoding="utf-8")
    desktop = entry["Desktop Entry"]
    assert desktop["Type"] == "Application" and desktop["Terminal"] == "false"
    assert desktop["Exec"].split()[0] == "imperium-desk"
    assert (PACKAGING / "icons" / f"{desktop['Icon']}-256.png").is_file()
