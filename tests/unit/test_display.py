"""The no-display check runs before Qt loads and names the fix in one line."""

from __future__ import annotations

from imperium_desk.ui.display import display_problem


def test_no_display_variable_names_xvfb_and_the_headless_commands() -> None:
    problem = display_problem({}, "linux")
    assert problem is not None and "DISPLAY is not set" in problem and "xvfb-run" in problem and "replay" in problem


def test_offscreen_platform_needs_no_display() -> None:
    assert display_problem({"QT_QPA_PLATFORM": "offscreen"}, "linux") is None


def test_wayland_counts_as_a_display() -> None:
    assert display_problem({"WAYLAND_DISPLAY": "wayland-0"}, "linux") is None


def test_a_local_display_without_its_x_socket_is_reported() -> None:
    problem = display_problem({"DISPLAY": ":987"}, "linux")
    assert problem is not None and "DISPLAY=:987" in problem and "X987" in problem


def test_a_remote_display_is_left_to_qt() -> None:
    assert display_problem({"DISPLAY": "otherhost:0"}, "linux") is None


def test_other_platforms_are_not_checked() -> None:
    assert display_problem({}, "darwin") is None

