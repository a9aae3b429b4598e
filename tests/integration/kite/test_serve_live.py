"""`imperium-desk serve` in live mode as a user runs it, against a fake Kite: refused without --yes-live, refused
without a login (saying how to give one), and with both it connects, serves and stops cleanly on Ctrl+C."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from imperium_desk.desk.live import ACCESS_TOKEN_ENV
from tests.fake_kite.faults import Route
from tests.fake_kite.server import FakeKite
from tests.fake_kite.state import FakeKiteConfig
from tests.integration.kite.live_support import FAST_FAKE, NO_KEYRING_ENV, live_config_mapping
from tests.integration.test_feedback_serve import REPO, address_line, address_of

EXIT_BAD_INPUT = 2


@pytest.fixture
def fake(make_fake_kite: Callable[[FakeKiteConfig], FakeKite]) -> FakeKite:
    return make_fake_kite(FAST_FAKE)


def serve_command(fake: FakeKite, tmp_path: Path, *args: str) -> list[str]:
    config = tmp_path / "live.json"
    config.write_text(json.dumps(live_config_mapping(fake)))
    return [sys.executable, "-m", "imperium_desk", "serve", "--config", str(config), "--home", str(tmp_path / "home"),
            "--port", "0", "--mode", "live", *args]


def serve_env(token: str | None) -> dict[str, str]:
    """The environment of a user's shell, with keyring refusing (the developer's keyring untouched) and the token
    given or not."""
    env = {k: v for k, v in os.environ.items() if k != ACCESS_TOKEN_ENV}
    env.update(NO_KEYRING_ENV)
    if token is not None:
        env[ACCESS_TOKEN_ENV] = token
    return env


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error: ")]


def test_serve_in_live_mode_without_yes_live_exits_2_with_the_reason_and_never_connects(
    fake: FakeKite, tmp_path: Path
) -> None:
    proc = subprocess.run(serve_command(fake, tmp_path), cwd=REPO, env=serve_env(fake.access_token),
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == EXIT_BAD_INPUT
    (line,) = error_lines(proc.stderr)
    assert line.startswith("error: --yes-live:")
    assert "Traceback" not in proc.stderr
    assert fake.requests() == []


def test_serve_in_live_mode_without_a_token_exits_2_saying_how_to_provide_one(fake: FakeKite, tmp_path: Path) -> None:
    proc = subprocess.run(serve_command(fake, tmp_path, "--yes-live"), cwd=REPO, env=serve_env(None),
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == EXIT_BAD_INPUT
    (line,) = error_lines(proc.stderr)
    assert line.startswith("error: kite: ") and ACCESS_TOKEN_ENV in line
    assert "Traceback" not in proc.stderr
    assert fake.requests() == []


def test_serve_in_live_mode_with_the_token_in_the_environment_serves_and_stops_on_ctrl_c(
    fake: FakeKite, tmp_path: Path
) -> None:
    proc = subprocess.Popen(serve_command(fake, tmp_path, "--yes-live"), cwd=REPO, env=serve_env(fake.access_token),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = address_line(proc)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert address_of(line).startswith("http://127.0.0.1:")
    assert line.startswith("Imperium Desk live mode")
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    routes = {r.route for r in fake.requests()}
    assert Route.INSTRUMENTS in routes and Route.ORDERS in routes  # the day's instruments, the reconcile
    assert fake.ws_refusals() == []
    assert fake.access_token not in err
    assert (tmp_path / "home" / "execution_quality_live.jsonl").exists()
