"""`imperium-desk serve` as a user runs it: a real process, the API reachable, Ctrl+C a clean stop with exit 0."""

from __future__ import annotations

import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[2]
NEWS_GAP = REPO / "imperium_desk" / "configs" / "scenarios" / "news-gap.yaml"


def start_serve(home: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "imperium_desk", "serve", "--home", str(home), "--port", "0", *args],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def address_line(proc: subprocess.Popen[str], timeout_s: float = 30.0) -> str:
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stdout], [], [], 0.2)
        if ready:
            line = proc.stdout.readline()
            if "feedback API on" in line or (not line and proc.poll() is not None):
                return line
    raise AssertionError(f"serve printed no address; exit {proc.poll()}")


def address_of(line: str) -> str:
    return line.split("feedback API on ", 1)[1].split(maxsplit=1)[0]


def test_serve_answers_on_its_address_and_stops_cleanly_on_ctrl_c(tmp_path: Path) -> None:
    proc = start_serve(tmp_path)
    try:
        line = address_line(proc)
        token = (tmp_path / "feedback.token").read_text().strip()
        with httpx.Client(base_url=address_of(line), headers={"Authorization": f"Bearer {token}"}) as client:
            posted = client.post("/feedback/metrics", json={"schema_version": 1, "event": "ack", "latency_ms": 4.0})
            models = client.get("/feedback/models")
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert str(tmp_path / "feedback.token") in line
    assert posted.status_code == 202 and models.status_code == 200
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    assert b'"event":"ack"' in (tmp_path / "execution_quality_paper.jsonl").read_bytes()  # flushed on the way out


def test_serve_refuses_a_remote_host_without_allow_remote(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "imperium_desk", "serve", "--home", str(tmp_path), "--host", "0.0.0.0"],
        cwd=REPO, capture_output=True, text=True, timeout=60, check=False,
    )
    assert proc.returncode == 2
    assert "host '0.0.0.0' is not loopback" in proc.stderr and "--allow-remote" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_serve_with_allow_remote_binds_the_host_and_warns(tmp_path: Path) -> None:
    proc = start_serve(tmp_path, "--host", "0.0.0.0", "--allow-remote")
    try:
        line = address_line(proc)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert address_of(line).startswith("http://0.0.0.0:")
    assert "warning: the feedback API listens on 0.0.0.0" in err
    assert proc.returncode == 0


def test_a_replay_posts_its_outcome_to_the_running_desk(tmp_path: Path) -> None:
    proc = start_serve(tmp_path)
    try:
        address = address_of(address_line(proc))
        replay = subprocess.run(
            [sys.executable, "-m", "imperium_desk", "replay", str(NEWS_GAP),
             "--out", str(tmp_path / "run"), "--home", str(tmp_path), "--quiet", "--post", address],
            cwd=REPO, capture_output=True, text=True, timeout=120, check=False,
        )
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert replay.returncode == 0, replay.stderr
    assert f"posted 1 outcome(s) to {address}" in replay.stdout
    log = (tmp_path / "execution_quality_paper.jsonl").read_text()
    (line,) = [x for x in log.splitlines() if '"event":"scenario_outcome"' in x]
    assert '"scenario_id":"news-gap"' in line and '"baseline"' in line


def test_posting_without_a_desk_token_is_refused_before_the_run(tmp_path: Path) -> None:
    replay = subprocess.run(
        [sys.executable, "-m", "imperium_desk", "replay", str(NEWS_GAP),
         "--out", str(tmp_path / "run"), "--home", str(tmp_path), "--post", "http://127.0.0.1:9"],
        cwd=REPO, capture_output=True, text=True, timeout=60, check=False,
    )
    assert replay.returncode == 2 and "--post: no token" in replay.stderr
    assert not (tmp_path / "run").exists()
