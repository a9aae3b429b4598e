"""Packaging fixtures: the desk built as a user installs it (a wheel in a fresh venv, the PyInstaller app), once per
test session, and the telemetry of the same replay from the source tree to compare them with.

Each build is made once per session even under xdist: the workers share a folder (the session's base temp) and a
file lock, the first builds and the others wait for it and reuse the result.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
import sysconfig
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "imperium_desk" / "configs" / "scenarios" / "demo.yaml"
BUILD_TIMEOUT_S = 600


def user_env() -> dict[str, str]:
    """The environment of a user's shell: nothing pointing Python at the repository's tree."""
    return {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP"}}


def shared_dir(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder every xdist worker of this session sees (a plain run: its own base temp)."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if hasattr(request.config, "workerinput") else base


def built_once(root: Path, name: str, build: Callable[[Path], None]) -> Path:
    """`root/name`, made by `build` by the first worker to ask (the others wait on the lock)."""
    target, done = root / name, root / f"{name}.done"
    with (root / f"{name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not done.exists():
            shutil.rmtree(target, ignore_errors=True)
            target.mkdir()
            build(target)
            done.touch()
    return target


def run(cmd: list[str | Path], *, cwd: Path, env: dict[str, str] | None = None,
        timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(c) for c in cmd], cwd=cwd, env=env or user_env(), capture_output=True, text=True,
                          timeout=timeout, check=False)


def checked(result: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert result.returncode == 0, f"{result.args}: exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    return result


@dataclass(frozen=True)
class WheelVenv:
    """A venv holding only the wheel built from this tree; its dependencies come from the test venv's
    site-packages through a .pth line (read as a plain path, so that folder's own .pth files, an editable install
    of this repository among them, are not run)."""

    root: Path
    python: Path
    desk: Path  # the `imperium-desk` console script pip wrote


@pytest.fixture(scope="session")
def wheel_venv(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> WheelVenv:
    def build(target: Path) -> None:
        source = target / "src"  # a copy: building never writes build/ or *.egg-info into the repository
        shutil.copytree(REPO / "imperium_desk", source / "imperium_desk",
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        for name in ("pyproject.toml", "README.md"):
            shutil.copy(REPO / name, source / name)
        checked(run([sys.executable, "-m", "pip", "wheel", source, "--no-deps", "--no-build-isolation", "--no-index",
                     "--quiet", "-w", target / "wheel"], cwd=target, timeout=BUILD_TIMEOUT_S))
        venv = target / "venv"
        checked(run([sys.executable, "-m", "venv", "--without-pip", venv], cwd=target))
        python = venv / "bin" / "python"
        purelib = checked(run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                              cwd=target)).stdout.strip()
        Path(purelib, "_imperium_test_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
        wheel = next((target / "wheel").glob("imperium_desk-*.whl"))
        checked(run([sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "--no-index",
                     "--quiet", wheel], cwd=target, timeout=BUILD_TIMEOUT_S))

    root = built_once(shared_dir(request, tmp_path_factory), "wheel", build)
    return WheelVenv(root / "venv", root / "venv" / "bin" / "python", root / "venv" / "bin" / "imperium-desk")


@dataclass(frozen=True)
class FrozenApp:
    """The PyInstaller one-folder app built from packaging/imperium-desk.spec."""

    folder: Path  # dist/imperium-desk
    executable: Path
    build_s: float  # the build's wall time, reported by the tests that use it


@pytest.fixture(scope="session")
def frozen_app(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> FrozenApp:
    pytest.importorskip("PyInstaller", reason="pyinstaller is in the test extra; install it to build the app")

    def build(target: Path) -> None:
        import time

        started = time.monotonic()
        checked(run([sys.executable, "-m", "PyInstaller", "--noconfirm", "--log-level", "WARN",
                     "--workpath", target / "work", "--distpath", target / "dist",
                     REPO / "packaging" / "imperium-desk.spec"], cwd=REPO, timeout=BUILD_TIMEOUT_S))
        (target / "build.json").write_text(json.dumps({"build_s": time.monotonic() - started}))
        shutil.rmtree(target / "work", ignore_errors=True)

    root = built_once(shared_dir(request, tmp_path_factory), "frozen", build)
    folder = root / "dist" / "imperium-desk"
    return FrozenApp(folder, folder / "imperium-desk", json.loads((root / "build.json").read_text())["build_s"])


@pytest.fixture(scope="session")
def source_demo_telemetry(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """The demo replay's telemetry as the source tree writes it (`python -m imperium_desk` from the repository)."""
    out = tmp_path_factory.mktemp("source-demo")
    checked(run([sys.executable, "-m", "imperium_desk", "replay", DEMO, "--quiet", "--out", out / "run",
                 "--home", out / "home"], cwd=REPO, env=dict(os.environ)))
    return (out / "run" / "telemetry.jsonl").read_bytes()
