"""The PyInstaller one-folder app (packaging/imperium-desk.spec): built once per session, run from another folder
headless (a replay, byte for byte the source tree's) and, when Xvfb is installed, as a window on a virtual display."""

from __future__ import annotations

import os
import select
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.packaging.conftest import FrozenApp, checked, run, user_env

pytestmark = pytest.mark.packaging

WINDOW_TIMEOUT_S = 60.0
EXIT_BAD_INPUT = 2


def test_the_frozen_app_replays_the_shipped_demo_as_the_source_tree_does(
    frozen_app: FrozenApp, source_demo_telemetry: bytes, tmp_path: Path
) -> None:
    checked(run([frozen_app.executable, "replay", "demo", "--quiet", "--out", tmp_path / "run",
                 "--home", tmp_path / "home"], cwd=tmp_path))
    assert (tmp_path / "run" / "telemetry.jsonl").read_bytes() == source_demo_telemetry


@pytest.mark.parametrize("name", ["demo", "news-gap", "reject-storm", "latency-burst"])
def test_the_frozen_app_validates_a_shipped_scenario_on_the_shipped_demo_config(
    frozen_app: FrozenApp, tmp_path: Path, name: str
) -> None:
    # latency-burst names the recalibration learner: found by entry point, so the app's package metadata is in it
    checked(run([frozen_app.executable, "config", "validate", name, "--config", "demo", "--home", tmp_path],
                cwd=tmp_path))


def test_the_frozen_app_carries_its_icons_and_linux_desktop_entry(frozen_app: FrozenApp) -> None:
    internal = frozen_app.folder / "_internal"
    assert (internal / "icons" / "imperium-desk.svg").is_file()
    assert (internal / "icons" / "imperium-desk-256.png").is_file()
    assert (internal / "linux" / "imperium-desk.desktop").is_file()


def test_a_cluster_sweep_in_the_frozen_app_is_refused_as_bad_input(frozen_app: FrozenApp, tmp_path: Path) -> None:
    # Dask is left out of the app (packaging/imperium-desk.spec says why): one error line, exit 2, nothing run
    result = run([frozen_app.executable, "replay", "news-gap", "--seeds", "1..2", "--cluster", "local", "--quiet",
                  "--out", tmp_path / "sweep", "--home", tmp_path], cwd=tmp_path)
    assert result.returncode == EXIT_BAD_INPUT
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "sweep").exists()


@pytest.fixture
def virtual_display() -> Iterator[str]:
    """A private Xvfb server's DISPLAY (`-displayfd`: it picks a free display number and reports it)."""
    if shutil.which("Xvfb") is None:
        pytest.skip("Xvfb is not installed (apt-get install xvfb)")
    read_end, write_end = os.pipe()
    server = subprocess.Popen(["Xvfb", "-displayfd", str(write_end), "-screen", "0", "1920x1080x24", "-nolisten",
                               "tcp"], pass_fds=(write_end,), stderr=subprocess.DEVNULL)
    os.close(write_end)
    try:
        number = b""
        while not number.endswith(b"\n"):
            ready, _, _ = select.select([read_end], [], [], WINDOW_TIMEOUT_S)
            chunk = os.read(read_end, 16) if ready else b""
            if not chunk:
                pytest.fail("Xvfb reported no display number")
            number += chunk
        yield f":{number.decode().strip()}"
    finally:
        os.close(read_end)
        server.terminate()
        server.wait(timeout=30)


def test_the_frozen_window_opens_on_a_display_and_stops_on_sigint_with_exit_0(
    frozen_app: FrozenApp, virtual_display: str, tmp_path: Path
) -> None:
    env = {k: v for k, v in user_env().items() if k not in {"QT_QPA_PLATFORM", "WAYLAND_DISPLAY"}}
    env["DISPLAY"] = virtual_display
    proc = subprocess.Popen([str(frozen_app.executable), "--home", str(tmp_path / "home")], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        shown, deadline = "", time.monotonic() + WINDOW_TIMEOUT_S
        while "window shown" not in shown and time.monotonic() < deadline:
            if select.select([proc.stdout], [], [], 0.2)[0]:
                line = proc.stdout.readline()
                if not line:
                    break
                shown = line
        assert "window shown" in shown, f"no window; exit {proc.poll()}"
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, stderr
    assert "Traceback" not in stderr
