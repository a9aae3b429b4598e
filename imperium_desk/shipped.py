"""The files that ship inside the package: configs, instrument data, scenarios, the theme and sample data.

They live in the package (`imperium_desk/configs/`, `imperium_desk/resources/`) and are declared as package data,
so a source checkout, an installed wheel and the PyInstaller build find them the same way: through
`importlib.resources`, relative to the imported `imperium_desk`, never to the working directory or a repository
around it. The desk reads them as plain files (YAML parsers, `Path` arguments, Qt's stylesheet), so the package must
be installed as files, not zipped; `package_root` says so instead of handing back a path that does not exist.

Stdlib only, and no imports from the rest of the package: every layer may ask where a shipped file is.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

SCENARIO_SUFFIXES = (".yaml", ".yml", ".json")


def package_root() -> Path:
    """The folder of the installed `imperium_desk` package (a wheel's site-packages copy, the source tree, or the
    frozen app's `_internal/imperium_desk`)."""
    root = files("imperium_desk")
    if not isinstance(root, Path):  # a zip import: the desk needs real files (see the module docstring)
        raise RuntimeError(f"imperium_desk is imported from {root}, not from files; install it unzipped")
    return root


def configs_dir() -> Path:
    """`configs/`: default.yaml (the embedded defaults spelled out), demo.yaml, instruments.yaml, scenarios/,
    learning/."""
    return package_root() / "configs"


def resources_dir() -> Path:
    """`resources/`: theme.qss, the icon and the generated sample data (latency_nifty.csv, slippage_nifty.csv)."""
    return package_root() / "resources"


def scenarios_dir() -> Path:
    """The drills that ship with the desk (`configs/scenarios/`)."""
    return configs_dir() / "scenarios"


def learning_dir() -> Path:
    """The scenarios that show the feedback loop's learner at work (`configs/learning/`)."""
    return configs_dir() / "learning"


def instruments_file() -> Path:
    """The instruments file the desk reads unless `market.instruments` names another."""
    return configs_dir() / "instruments.yaml"


def theme_file() -> Path:
    """The window's stylesheet."""
    return resources_dir() / "theme.qss"


def icon_file() -> Path:
    """The desk's icon (SVG): the window's, and the source of the installer's PNGs (packaging/render_icons.py)."""
    return resources_dir() / "imperium-desk.svg"


def shipped_scenario(name: str) -> Path | None:
    """The shipped scenario called `name` (a file stem under `scenarios/`, then `learning/`, e.g. `demo`,
    `news-gap`, `latency-burst`), or None when `name` is not one (a path, or no such stem)."""
    if not name or Path(name).name != name or Path(name).suffix in SCENARIO_SUFFIXES:
        return None
    for folder in (scenarios_dir(), learning_dir()):
        for suffix in SCENARIO_SUFFIXES:
            candidate = folder / f"{name}{suffix}"
            if candidate.is_file():
                return candidate
    return None


def shipped_config(name: str) -> Path | None:
    """The shipped desk config called `name` (`default` or `demo`, a stem under `configs/`), or None when `name` is
    not one. instruments.yaml is no desk config, so it is not offered."""
    if not name or Path(name).name != name or Path(name).suffix or name == "instruments":
        return None
    candidate = configs_dir() / f"{name}.yaml"
    return candidate if candidate.is_file() else None


def shipped_scenario_names() -> list[str]:
    """Every name `shipped_scenario` accepts, sorted (the drills, then the learning scenarios)."""
    return [p.stem for folder in (scenarios_dir(), learning_dir())
            for p in sorted(folder.iterdir()) if p.suffix in SCENARIO_SUFFIXES]
