"""Can Qt's xcb platform plugin load here? Checked before Qt loads, like `display.py`: on a fresh Debian desktop
without Qt's system libraries the window would otherwise die in Qt's platform-plugin abort (a core dump, exit 134);
here it is one line naming the `apt-get install` that fixes it.

The check dlopens the plugin PySide6 ships (or the one `QT_QPA_PLATFORM_PLUGIN_PATH` names) and libxcb-cursor,
which Qt's xcb plugin needs since 6.5 (some builds dlopen it instead of linking it, so it is checked by name too).
These are the libraries the window loads a moment later anyway, so when they are all there the check costs
almost nothing. Only when one fails does `ldd` list every missing library, transitively, for the one-line fix;
without `ldd` the dynamic loader's own error names the first one.

`python -m imperium_desk.ui.platform_libs` is the set-up's view of the same check (`scripts/_setup.sh`): it prints
the missing libraries' Debian packages, one a line, then `?soname` for a missing library not in the table; nothing
when the plugin loads. It never imports Qt.
"""

from __future__ import annotations

import ctypes
import importlib.util
import os
import re
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Final

XCB_PLUGIN: Final = "libqxcb.so"
XCB_CURSOR: Final = "libxcb-cursor.so.0"
# Qt's xcb plugin's system libraries (`ldd` of PySide6's libqxcb.so) -> the Debian package that ships each one
# (checked with `dpkg -S` on Debian 12). The one place this mapping lives: the set-up asks this module.
DEBIAN_PACKAGES: Final[Mapping[str, str]] = MappingProxyType({
    "libxcb-cursor.so.0": "libxcb-cursor0",
    "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-image.so.0": "libxcb-image0",
    "libxcb-keysyms.so.1": "libxcb-keysyms1",
    "libxcb-randr.so.0": "libxcb-randr0",
    "libxcb-render-util.so.0": "libxcb-render-util0",
    "libxcb-render.so.0": "libxcb-render0",
    "libxcb-shape.so.0": "libxcb-shape0",
    "libxcb-shm.so.0": "libxcb-shm0",
    "libxcb-sync.so.1": "libxcb-sync1",
    "libxcb-util.so.1": "libxcb-util1",
    "libxcb-xfixes.so.0": "libxcb-xfixes0",
    "libxcb-xinerama.so.0": "libxcb-xinerama0",
    "libxcb-xinput.so.0": "libxcb-xinput0",
    "libxcb-xkb.so.1": "libxcb-xkb1",
    "libxcb.so.1": "libxcb1",
    "libX11-xcb.so.1": "libx11-xcb1",
    "libX11.so.6": "libx11-6",
    "libXau.so.6": "libxau6",
    "libXdmcp.so.6": "libxdmcp6",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
    "libxkbcommon.so.0": "libxkbcommon0",
    "libEGL.so.1": "libegl1",
    "libGL.so.1": "libgl1",
    "libGLX.so.0": "libglx0",
    "libGLdispatch.so.0": "libglvnd0",
    "libOpenGL.so.0": "libopengl0",
    "libfontconfig.so.1": "libfontconfig1",
    "libfreetype.so.6": "libfreetype6",
    "libdbus-1.so.3": "libdbus-1-3",
    "libglib-2.0.so.0": "libglib2.0-0",
    "libgthread-2.0.so.0": "libglib2.0-0",
    "libexpat.so.1": "libexpat1",
    "libpng16.so.16": "libpng16-16",
})
_LDD_NOT_FOUND = re.compile(r"^\s*(\S+)\s+=>\s+not found\s*$", re.MULTILINE)
_DLERROR_NAME = re.compile(r"(?:^|: )([^\s:/]+\.so[.\d]*): cannot open shared object file")


@dataclass(frozen=True, slots=True)
class MissingLibraries:
    """The shared libraries Qt's xcb plugin cannot load (sonames, in the order found), and the fix."""

    libraries: tuple[str, ...]

    @property
    def packages(self) -> tuple[str, ...]:
        """The Debian packages that ship the known libraries, sorted, each once."""
        return tuple(sorted({DEBIAN_PACKAGES[lib] for lib in self.libraries if lib in DEBIAN_PACKAGES}))

    @property
    def unknown(self) -> tuple[str, ...]:
        """Missing libraries the table does not name a package for."""
        return tuple(lib for lib in self.libraries if lib not in DEBIAN_PACKAGES)

    def fix(self) -> str:
        """What to run, as one line: the apt-get command, and any library without a known package by name."""
        parts = []
        if self.packages:
            parts.append(f"sudo apt-get install {' '.join(self.packages)}")
        if self.unknown:
            parts.append(f"install the package that provides {', '.join(self.unknown)}")
        return " and ".join(parts)


def missing_from_ldd(output: str) -> tuple[str, ...]:
    """The `not found` libraries of an `ldd` listing, each once, in order."""
    return tuple(dict.fromkeys(_LDD_NOT_FOUND.findall(output)))


def plugin_dirs(env: Mapping[str, str] | None = None) -> list[Path]:
    """Where Qt will look for its platform plugins, first choice first: `QT_QPA_PLATFORM_PLUGIN_PATH`, then the
    `platforms` folder of the PySide6 that `import PySide6` would find (located without importing it)."""
    env = os.environ if env is None else env
    dirs = [Path(p) for p in env.get("QT_QPA_PLATFORM_PLUGIN_PATH", "").split(os.pathsep) if p]
    spec = importlib.util.find_spec("PySide6")
    if spec is not None and spec.submodule_search_locations:
        dirs.append(Path(next(iter(spec.submodule_search_locations))) / "Qt" / "plugins" / "platforms")
    return dirs


def uses_xcb(env: Mapping[str, str] | None = None, platform: str | None = None) -> bool:
    """Will Qt pick its xcb (X11) platform plugin? On Linux when QT_QPA_PLATFORM asks for it first, or names none
    outside a Wayland session."""
    env = os.environ if env is None else env
    platform = sys.platform if platform is None else platform
    if not platform.startswith("linux"):
        return False
    asked = env.get("QT_QPA_PLATFORM", "").split(";")[0].split(":")[0]
    if asked:
        return asked == "xcb"
    return not (env.get("WAYLAND_DISPLAY") and env.get("XDG_SESSION_TYPE") == "wayland")


def _dlopen_failure(path: str) -> str | None:
    """None when the dynamic loader opens `path` (a file or a soname); else its error."""
    try:
        ctypes.CDLL(path)
    except OSError as exc:
        return str(exc)
    return None


def missing_libraries(plugin: Path, ldd: str = "ldd") -> MissingLibraries | None:
    """What keeps `plugin` (Qt's xcb platform plugin) from loading; None when it and libxcb-cursor load."""
    plugin_error = _dlopen_failure(str(plugin))
    cursor_error = _dlopen_failure(XCB_CURSOR)
    if plugin_error is None and cursor_error is None:
        return None
    found: list[str] = []
    if plugin_error is not None:
        try:
            listing = subprocess.run([ldd, str(plugin)], capture_output=True, text=True, timeout=30, check=False)
            found.extend(missing_from_ldd(listing.stdout))
        except (OSError, subprocess.SubprocessError):
            pass
        if not found:  # no ldd, or it listed nothing: the loader's error names the first missing library
            found.extend(_DLERROR_NAME.findall(plugin_error) or [plugin.name])
    if cursor_error is not None:
        found.append(XCB_CURSOR)
    return MissingLibraries(tuple(dict.fromkeys(found)))


def xcb_missing(env: Mapping[str, str] | None = None) -> MissingLibraries | None:
    """The libraries Qt's xcb plugin lacks here; None when one of the plugins Qt would try loads (Qt falls back
    from `QT_QPA_PLATFORM_PLUGIN_PATH` to PySide6's own), or when there is no plugin to check (left to Qt)."""
    first: MissingLibraries | None = None
    for folder in plugin_dirs(env):
        plugin = folder / XCB_PLUGIN
        if not plugin.is_file():
            continue
        missing = missing_libraries(plugin)
        if missing is None:
            return None
        first = first or missing
    return first


def platform_keys(folder: Path) -> set[str]:
    """The platform names the plugins in `folder` answer to (`libqxcb.so` -> xcb). The Wayland plugin also serves
    its variants (wayland-egl, wayland-brcm), which Qt lists under their own names."""
    keys = {p.name[len("libq"):-len(".so")] for p in folder.glob("libq*.so")}
    return keys | ({"wayland-egl", "wayland-brcm"} if "wayland" in keys else set())


def unknown_platform(env: Mapping[str, str] | None = None, platform: str | None = None) -> str | None:
    """`QT_QPA_PLATFORM` naming only platforms no plugin provides (a typo, a plugin not installed): Qt would abort
    with a core dump; here one line names the plugins there are. None when one of the names is there, when the
    variable is unset, off Linux, or when no plugin folder is found (left to Qt)."""
    env = os.environ if env is None else env
    platform = sys.platform if platform is None else platform
    asked = [part.split(":")[0] for part in env.get("QT_QPA_PLATFORM", "").split(";") if part.split(":")[0]]
    if not asked or not platform.startswith("linux"):
        return None
    available: set[str] = set()
    for folder in plugin_dirs(env):
        if folder.is_dir():
            available |= platform_keys(folder)
    if not available or any(name in available for name in asked):
        return None
    return (f"imperium-desk: no Qt platform plugin for QT_QPA_PLATFORM={env['QT_QPA_PLATFORM']!r} (there are: "
            f"{', '.join(sorted(available))}): unset it, or name one of those")


def xcb_problem(env: Mapping[str, str] | None = None, platform: str | None = None) -> str | None:
    """Why Qt's xcb platform plugin cannot load here, as one line naming the fix; None when it can (or when the
    window will not use xcb)."""
    if not uses_xcb(env, platform):
        return None
    missing = xcb_missing(env)
    if missing is None:
        return None
    return (f"imperium-desk: Qt's X11 (xcb) platform plugin cannot load, {', '.join(missing.libraries)} "
            f"missing: {missing.fix()}")


def main(argv: Sequence[str] | None = None) -> int:
    """For scripts/_setup.sh: the missing libraries' packages, one a line (`?soname` when unknown); exit 0."""
    del argv
    missing = xcb_missing()
    if missing is not None:
        for line in (*missing.packages, *(f"?{lib}" for lib in missing.unknown)):
            print(line)
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
