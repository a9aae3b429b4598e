"""The files that ship inside the package (imperium_desk/shipped.py), the globs that declare them as package data,
and the CLI's lookup of a shipped scenario or config by name."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

import imperium_desk
from imperium_desk.cli import config_arg, scenario_arg
from imperium_desk.config import load_config
from imperium_desk.shipped import (
    configs_dir,
    instruments_file,
    learning_dir,
    package_root,
    resources_dir,
    scenarios_dir,
    shipped_config,
    shipped_scenario,
    shipped_scenario_names,
    theme_file,
)

REPO = Path(__file__).resolve().parents[2]


def test_the_shipped_folders_are_inside_the_imported_package() -> None:
    package = Path(imperium_desk.__file__).resolve().parent
    assert package_root().resolve() == package
    for path in (configs_dir(), resources_dir(), scenarios_dir(), learning_dir(), instruments_file(), theme_file()):
        assert path.resolve().is_relative_to(package) and path.exists()


def test_every_shipped_data_file_is_declared_as_package_data() -> None:
    # A data file the globs miss is in the source tree but not in a wheel or the frozen app.
    globs = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["imperium_desk"]
    declared = {p for glob in globs for p in package_root().glob(glob)}
    shipped = {p for folder in (configs_dir(), resources_dir()) for p in folder.rglob("*") if p.is_file()}
    assert shipped - declared == set()


def test_a_drill_is_found_by_its_name() -> None:
    assert shipped_scenario("news-gap") == scenarios_dir() / "news-gap.yaml"


def test_a_learning_scenario_is_found_by_its_name() -> None:
    assert shipped_scenario("latency-burst") == learning_dir() / "latency-burst.yaml"


@pytest.mark.parametrize("text", ["demo.yaml", "scenarios/demo", "./demo", "", "no-such-drill"])
def test_a_path_or_an_unknown_stem_is_no_shipped_scenario_name(text: str) -> None:
    assert shipped_scenario(text) is None


def test_every_listed_name_resolves_to_a_shipped_scenario() -> None:
    names = shipped_scenario_names()
    assert {"demo", "news-gap", "latency-burst"} <= set(names)
    assert all(shipped_scenario(name) is not None for name in names)


def test_the_shipped_configs_load_by_name() -> None:
    for name in ("default", "demo"):
        path = shipped_config(name)
        assert path is not None
        load_config(path)


def test_the_instruments_file_is_no_desk_config_name() -> None:
    assert shipped_config("instruments") is None


def test_the_cli_takes_a_shipped_scenario_by_name_from_any_folder(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert scenario_arg("demo") == scenarios_dir() / "demo.yaml"
    assert config_arg("demo") == configs_dir() / "demo.yaml"


def test_the_cli_prefers_a_file_of_that_name_to_a_shipped_scenario(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "demo").write_text("id: mine\n", encoding="utf-8")
    assert scenario_arg("demo") == Path("demo")
    assert config_arg("demo") == Path("demo")


def test_the_cli_keeps_an_unknown_name_as_the_path_given(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert scenario_arg("missing.yaml") == Path("missing.yaml")
