"""The xcb platform-plugin check: which libraries are missing, which Debian packages ship them, and when Qt will
use xcb at all. (The check against a real plugin with a hidden library: tests/integration/test_fresh_desktop.py.)"""

from __future__ import annotations

import stat
from pathlib import Path

from imperium_desk.ui.platform_libs import (
    DEBIAN_PACKAGES,
    MissingLibraries,
    missing_from_ldd,
    missing_libraries,
    platform_keys,
    unknown_platform,
    uses_xcb,
)

LDD_LISTING = """\tlinux-vdso.so.1 (0x00007ffd)
\tlibQt6XcbQpa.so.6 => /venv/PySide6/Qt/plugins/platforms/../../lib/libQt6XcbQpa.so.6 (0x00007f01)
\tlibxcb-cursor.so.0 => not found
\tlibxcb-icccm.so.4 => not found
\tlibGL.so.1 => /lib/x86_64-linux-gnu/libGL.so.1 (0x00007f02)
\tlibxcb-keysyms.so.1 => not found
\tlibxcb-icccm.so.4 => not found
"""


def fake_ldd(tmp_path: Path, listing: str) -> Path:
    script = tmp_path / "ldd"
    (tmp_path / "listing.txt").write_text(listing, encoding="utf-8")
    script.write_text(f"#!/bin/sh\ncat {tmp_path / 'listing.txt'}\n", encoding="utf-8")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script


def test_the_libraries_of_the_first_fresh_desktop_report_map_to_their_debian_packages() -> None:
    missing = MissingLibraries(("libxcb-cursor.so.0", "libxcb-icccm.so.4", "libxcb-keysyms.so.1",
                                "libxkbcommon-x11.so.0", "libEGL.so.1", "libGL.so.1", "libfontconfig.so.1",
                                "libdbus-1.so.3", "libxcb-render-util.so.0", "libxcb-image.so.0"))
    assert missing.packages == ("libdbus-1-3", "libegl1", "libfontconfig1", "libgl1", "libxcb-cursor0",
                                "libxcb-icccm4", "libxcb-image0", "libxcb-keysyms1", "libxcb-render-util0",
                                "libxkbcommon-x11-0")
    assert missing.unknown == ()


def test_two_libraries_of_one_package_name_it_once() -> None:
    assert MissingLibraries(("libglib-2.0.so.0", "libgthread-2.0.so.0")).packages == ("libglib2.0-0",)


def test_a_library_with_no_known_package_is_kept_apart_by_name() -> None:
    missing = MissingLibraries(("libxcb-shape.so.0", "libnowhere.so.3"))
    assert missing.packages == ("libxcb-shape0",)
    assert missing.unknown == ("libnowhere.so.3",)


def test_every_package_in_the_table_is_a_debian_binary_package_name() -> None:
    for soname, package in DEBIAN_PACKAGES.items():
        assert soname.startswith("lib") and ".so." in soname
        assert package == package.lower() and " " not in package


def test_the_not_found_lines_of_ldd_are_the_missing_libraries_each_once_in_order() -> None:
    assert missing_from_ldd(LDD_LISTING) == ("libxcb-cursor.so.0", "libxcb-icccm.so.4", "libxcb-keysyms.so.1")


def test_a_plugin_that_does_not_load_is_diagnosed_from_ldd(tmp_path: Path) -> None:
    plugin = tmp_path / "libqxcb.so"
    plugin.write_text("not a shared object", encoding="utf-8")
    missing = missing_libraries(plugin, ldd=str(fake_ldd(tmp_path, LDD_LISTING)))
    assert missing is not None
    assert missing.libraries[:3] == ("libxcb-cursor.so.0", "libxcb-icccm.so.4", "libxcb-keysyms.so.1")


def test_without_ldd_the_plugin_itself_is_named(tmp_path: Path) -> None:
    plugin = tmp_path / "libqxcb.so"
    plugin.write_text("not a shared object", encoding="utf-8")
    missing = missing_libraries(plugin, ldd=str(tmp_path / "no-ldd-here"))
    assert missing is not None and missing.libraries[0] == "libqxcb.so"


def test_qt_uses_xcb_on_linux_unless_told_otherwise_or_in_a_wayland_session() -> None:
    assert uses_xcb({}, "linux")
    assert uses_xcb({"QT_QPA_PLATFORM": "xcb"}, "linux")
    assert not uses_xcb({"QT_QPA_PLATFORM": "offscreen:size=800x600"}, "linux")
    assert not uses_xcb({"QT_QPA_PLATFORM": "wayland;xcb"}, "linux")
    assert not uses_xcb({"WAYLAND_DISPLAY": "wayland-0", "XDG_SESSION_TYPE": "wayland"}, "linux")
    assert not uses_xcb({}, "darwin")


def plugin_folder(tmp_path: Path, *names: str) -> Path:
    folder = tmp_path / "platforms"
    folder.mkdir()
    for name in names:
        (folder / f"libq{name}.so").write_bytes(b"")
    return folder


def test_the_platform_names_are_the_plugins_file_names_and_the_wayland_variants(tmp_path: Path) -> None:
    assert platform_keys(plugin_folder(tmp_path, "xcb", "wayland")) == {"xcb", "wayland", "wayland-egl",
                                                                        "wayland-brcm"}


def test_a_platform_no_plugin_provides_is_a_problem(tmp_path: Path) -> None:
    env = {"QT_QPA_PLATFORM": "xbc", "QT_QPA_PLATFORM_PLUGIN_PATH": str(plugin_folder(tmp_path, "xcb"))}
    assert unknown_platform(env, "linux") is not None


def test_a_fallback_list_with_one_provided_platform_is_no_problem(tmp_path: Path) -> None:
    env = {"QT_QPA_PLATFORM": "xbc;offscreen:fontengine=freetype",
           "QT_QPA_PLATFORM_PLUGIN_PATH": str(plugin_folder(tmp_path, "offscreen"))}
    assert unknown_platform(env, "linux") is None


def test_an_unset_platform_is_left_to_qt() -> None:
    assert unknown_platform({}, "linux") is None
