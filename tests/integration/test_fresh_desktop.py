"""A fresh desktop without Qt's system libraries, reproduced: a PySide6 whose xcb platform plugin needs a library
that does not exist (a mirror of the installed PySide6, symlinks but for a copy of libqxcb.so with one of its
needed libraries renamed). Qt itself aborts on it (the core dump of the first report); the desk says what to
install in one line and exits 1; the set-up installs the packages, or prints the apt-get line."""

from __future__ import annotations

import os
import resource
import signal
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from imperium_desk.ui.platform_libs import plugin_dirs

REPO = Path(__file__).resolve().parents[2]
PLUGIN = Path("Qt") / "plugins" / "platforms" / "libqxcb.so"
HIDDEN = b"libxcb-icccm.so.4\0"
STAND_IN = b"libimperium-no.so\0"  # same length, so the patched string table keeps every offset
REMOTE_DISPLAY = "127.0.0.1:79"  # a display the desk's socket check accepts; Qt fails before connecting to it
FAKE_LDD = "\tlibxcb-icccm.so.4 => not found\n\tlibxcb-keysyms.so.1 => not found\n\tlibnowhere.so.3 => not found\n"

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Qt's xcb plugin is Linux only")


def _mirror(real: Path, fake: Path, patched: Path) -> None:
    fake.mkdir(parents=True)
    for entry in real.iterdir():
        if entry == patched:
            data = entry.read_bytes()
            assert HIDDEN in data
            (fake / entry.name).write_bytes(data.replace(HIDDEN, STAND_IN))
        elif patched.is_relative_to(entry):
            _mirror(entry, fake / entry.name, patched)
        else:
            (fake / entry.name).symlink_to(entry)


@pytest.fixture(scope="module")
def broken_pyside(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder to put first on PYTHONPATH: `import PySide6` finds a PySide6 whose xcb plugin cannot load."""
    real = next(d for d in plugin_dirs({}) if (d / "libqxcb.so").is_file()).parents[2]
    root = tmp_path_factory.mktemp("broken-pyside")
    _mirror(real, root / "PySide6", real / PLUGIN)
    return root


def broken_env(broken_pyside: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in {"QT_QPA_PLATFORM", "QT_QPA_PLATFORM_PLUGIN_PATH", "WAYLAND_DISPLAY", "XDG_SESSION_TYPE"}}
    pythonpath = os.pathsep.join(p for p in (str(broken_pyside), str(REPO), env.get("PYTHONPATH", "")) if p)
    return {**env, "PYTHONPATH": pythonpath, "DISPLAY": REMOTE_DISPLAY, **extra}


def fake_tools(folder: Path, uid: int) -> Path:
    """`ldd` listing missing libraries, `id -u` answering `uid`, `apt-get` writing its arguments to apt.log."""
    folder.mkdir()
    tools = {
        "ldd": f"printf '{FAKE_LDD}'",
        "id": f"echo {uid}",
        "apt-get": f'echo "$@" >> {folder / "apt.log"}',
    }
    for name, body in tools.items():
        path = folder / name
        path.write_text(f"#!/bin/sh\n{body}\n", encoding="utf-8")
        path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return folder


def run_setup_check(broken_pyside: Path, tools: Path) -> subprocess.CompletedProcess[str]:
    venv = Path(sys.executable).parent.parent
    script = f'source scripts/_setup.sh; VENV="{venv}"; imperium_desktop_libs'
    env = broken_env(broken_pyside, PATH=f"{tools}{os.pathsep}{os.environ['PATH']}")
    return subprocess.run(["bash", "-c", script], cwd=REPO, env=env, capture_output=True, text=True, timeout=60,
                          check=False)


def no_core_file() -> None:
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def test_the_hidden_library_really_stops_qt(broken_pyside: Path, tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", "from PySide6.QtWidgets import QApplication; QApplication([])"],
        cwd=tmp_path, env=broken_env(broken_pyside), capture_output=True, text=True, timeout=60, check=False,
        preexec_fn=no_core_file,
    )
    assert proc.returncode == -signal.SIGABRT


def test_the_desk_exits_1_with_one_line_instead_of_a_core_dump(broken_pyside: Path, tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "imperium_desk", "--home", str(tmp_path)],
        cwd=REPO, env=broken_env(broken_pyside), capture_output=True, text=True, timeout=60, check=False,
    )
    assert proc.returncode == 1
    assert len(proc.stderr.strip().splitlines()) == 1
    assert "Traceback" not in proc.stderr


def test_the_set_up_installs_the_missing_packages_as_root(broken_pyside: Path, tmp_path: Path) -> None:
    tools = fake_tools(tmp_path / "bin", uid=0)
    proc = run_setup_check(broken_pyside, tools)
    assert proc.returncode == 0
    first_install = (tools / "apt.log").read_text(encoding="utf-8").splitlines()[0].split()
    assert first_install[0] == "install"
    assert [a for a in first_install[1:] if not a.startswith("-")] == ["libxcb-icccm4", "libxcb-keysyms1"]


def test_the_set_up_prints_the_apt_get_line_when_it_cannot_install(broken_pyside: Path, tmp_path: Path) -> None:
    tools = fake_tools(tmp_path / "bin", uid=1000)
    proc = run_setup_check(broken_pyside, tools)
    assert proc.returncode == 0
    assert not (tools / "apt.log").exists()
    command = proc.stderr.strip().splitlines()[-1].partition(": sudo ")[2].split()
    assert command == ["apt-get", "install", "libxcb-icccm4", "libxcb-keysyms1"]


def test_a_platform_no_plugin_provides_exits_1_with_one_line_instead_of_a_core_dump(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "QT_QPA_PLATFORM_PLUGIN_PATH"}
    env.update(QT_QPA_PLATFORM="no-such-platform", DISPLAY=REMOTE_DISPLAY, PYTHONPATH=str(REPO))
    proc = subprocess.run(
        [sys.executable, "-m", "imperium_desk", "--home", str(tmp_path)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60, check=False, preexec_fn=no_core_file,
    )
    assert proc.returncode == 1
    assert len(proc.stderr.strip().splitlines()) == 1
