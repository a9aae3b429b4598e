"""`pip install .` (not editable): a wheel built from this tree, installed into a fresh venv and run from another
folder finds its package data (configs, instruments, theme, scenarios) and replays as the source tree does."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.packaging.conftest import WheelVenv, checked, run

pytestmark = pytest.mark.packaging

# Run by the installed interpreter: where each shipped file is found, and whether it loads.
FIND_SHIPPED = """
import json
import imperium_desk
from imperium_desk.config import load_config
from imperium_desk.market.config import default_instruments_path
from imperium_desk.domain.instruments import InstrumentCatalog
from imperium_desk.scenarios.library import shipped_scenarios_dir
from imperium_desk.scenarios.prepare import prepare_scenario
from imperium_desk.scenarios.spec import load_scenario
from imperium_desk.shipped import shipped_config, shipped_scenario, shipped_scenario_names, theme_file
from imperium_desk.ui.theme import THEME_FILE

scenarios = {name: shipped_scenario(name) for name in shipped_scenario_names()}
for path in scenarios.values():
    prepare_scenario(load_scenario(path), load_config(None))
configs = {name: shipped_config(name) for name in ("default", "demo")}
for path in configs.values():
    load_config(path)
InstrumentCatalog.load(default_instruments_path())
print(json.dumps({
    "package": imperium_desk.__file__, "instruments": str(default_instruments_path()), "theme": str(THEME_FILE),
    "theme_text": theme_file().read_text()[:20], "drills": str(shipped_scenarios_dir()),
    "scenarios": {k: str(v) for k, v in scenarios.items()}, "configs": {k: str(v) for k, v in configs.items()},
}))
"""


def test_the_fresh_venv_imports_the_package_from_the_wheel_not_the_repository(wheel_venv: WheelVenv,
                                                                               tmp_path: Path) -> None:
    found = checked(run([wheel_venv.python, "-c", "import imperium_desk; print(imperium_desk.__file__)"],
                        cwd=tmp_path)).stdout.strip()
    assert Path(found).is_relative_to(wheel_venv.root)


def test_the_installed_package_finds_and_loads_every_shipped_file(wheel_venv: WheelVenv, tmp_path: Path) -> None:
    found = json.loads(checked(run([wheel_venv.python, "-c", FIND_SHIPPED], cwd=tmp_path)).stdout)
    paths = [found["package"], found["instruments"], found["theme"], found["drills"],
             *found["scenarios"].values(), *found["configs"].values()]
    assert all(Path(p).is_relative_to(wheel_venv.root) and Path(p).exists() for p in paths)
    assert {"demo", "news-gap", "latency-burst"} <= found["scenarios"].keys()


def test_the_installed_desk_replays_the_shipped_demo_as_the_source_tree_does(
    wheel_venv: WheelVenv, source_demo_telemetry: bytes, tmp_path: Path
) -> None:
    checked(run([wheel_venv.desk, "replay", "demo", "--quiet", "--out", tmp_path / "run", "--home", tmp_path / "home"],
                cwd=tmp_path))
    assert (tmp_path / "run" / "telemetry.jsonl").read_bytes() == source_demo_telemetry
