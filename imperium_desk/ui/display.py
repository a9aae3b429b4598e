"""Is there a screen to open a window on, and can Qt's platform plugin for it load? Checked before Qt loads, so
the answer is one clear line instead of a Qt platform-plugin abort (`platform_libs.py` checks the plugin)."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path

from imperium_desk.ui.platform_libs import unknown_platform, xcb_problem

HEADLESS_PLATFORMS = {"offscreen", "minimal", "vnc", "eglfs", "linuxfb", "minimalegl", "vkkhrdisplay"}
FIX = (
    "run it under a virtual display (`xvfb-run -a ./scripts/desk`) or use the headless commands "
    "(`./scripts/desk replay demo`)"
)


def display_problem(env: Mapping[str, str] | None = None, platform: str | None = None) -> str | None:
    """Why no window can be shown here, as one line naming the fix; None when a display is available and Qt's
    platform plugin for it loads."""
    env = os.environ if env is None else env
    platform = sys.platform if platform is None else platform
    unknown = unknown_platform(env, platform)
    if unknown is not None:
        return unknown
    qpa = env.get("QT_QPA_PLATFORM", "").split(":")[0]
    if qpa in HEADLESS_PLATFORMS or not platform.startswith("linux"):
        return None
    return _no_display(env) or xcb_problem(env, platform)


def _no_display(env: Mapping[str, str]) -> str | None:
    if env.get("WAYLAND_DISPLAY"):
        return None
    display = env.get("DISPLAY", "")
    if not display:
        return f"imperium-desk: no display (DISPLAY is not set): {FIX}"
    host, _, number = display.rpartition(":")
    if host in ("", "unix"):  # a local X server listens on its socket
        socket = Path("/tmp/.X11-unix") / f"X{number.split('.')[0]}"
        if not socket.exists():
            return f"imperium-desk: no X server on DISPLAY={display} ({socket} is missing): {FIX}"
    return None
