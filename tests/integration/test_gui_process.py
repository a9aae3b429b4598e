"""The window command as a user runs it: a real process, offscreen or with no display at all."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def start_desk(home: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "imperium_desk", "--home", str(home)],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def wait_for_line(proc: subprocess.Popen[str], needle: str, timeout_s: float = 30.0) -> str:
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stdout], [], [], 0.2)
        if ready:
            line = proc.stdout.readline()
            if needle in line:
                return line
            if not line and proc.poll() is not None:
                break
    raise AssertionError(f"no {needle!r} line; exit {proc.poll()}")


def test_without_a_display_the_desk_fails_fast_with_one_line_naming_the_fix(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in {"DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"}}
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "imperium_desk", "--home", str(tmp_path)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=60, check=False,
    )
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "xvfb-run" in lines[0] and "replay" in lines[0]
    assert "Traceback" not in proc.stderr
    assert time.monotonic() - started < 20


def test_ctrl_c_stops_the_desk_cleanly_with_exit_0(tmp_path: Path) -> None:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    proc = start_desk(tmp_path, env)
    try:
        line = wait_for_line(proc, "window shown")
        assert "paper mode" in line
        time.sleep(0.5)  # let the feed tick a few times (this is the test process, not the desk's loop)
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, stderr
    assert "Traceback" not in stderr and "was destroyed but it is pending" not in stderr
    assert (tmp_path / "execution_quality_paper.jsonl").exists()
    assert (tmp_path / "desk-window.ini").exists()  # the layout was saved on the way out


def test_a_bad_config_is_exit_2_before_any_window(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("market: {tick_interval_ms: 1}\n", encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, "-m", "imperium_desk", "--config", str(bad), "--home", str(tmp_path)],
        cwd=REPO, env={**os.environ, "QT_QPA_PLATFORM": "offscreen"}, capture_output=True, text=True,
        timeout=60, check=False,
    )
    assert proc.returncode == 2
    assert "market.tick_interval_ms" in proc.stderr and "1" in proc.stderr
