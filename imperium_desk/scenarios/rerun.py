"""Re-running a replay from its `run.json`, byte for byte, in another process or on another day.

A replay's `run.json` keeps, under `rerun`, what the run was made of: the scenario file's text (its SHA-256 is
`scenario_sha256`), the path it was read from (relative model data files resolve against its folder) and the
config it was given, before the scenario's own `config:` overrides. Reading one back checks both hashes, so a
run.json that was edited, or a config that a newer version of the desk reads differently, is refused with the
field that differs instead of silently producing other telemetry.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from imperium_desk.config import Config, ConfigError, config_from_mapping
from imperium_desk.scenarios.spec import LoadedScenario, scenario_from_text

RERUN_KEY = "rerun"


def rerun_section(scenario: LoadedScenario, config: Config) -> dict[str, Any]:
    """What `run.json` keeps to re-run the run: `config` is the config given to the replay."""
    return {
        "scenario_path": str(scenario.path.resolve()),
        "scenario": scenario.text,
        "config": config.model_dump(mode="json", by_alias=True),
    }


def is_run_document(raw: Any) -> bool:
    """A replay's run.json rather than a scenario (a scenario has no `rerun` field: it would be rejected)."""
    return isinstance(raw, dict) and RERUN_KEY in raw


@dataclass(frozen=True, slots=True)
class Rerun:
    """What a run.json says to run again: the scenario (its text checked against `scenario_sha256`), the config as given
    to the replay, the seed, and the desk version that wrote it (None if not recorded). The caller checks
    `config_sha256` once the scenario's overrides are applied, since that is where a newer desk could read the config
    differently."""

    scenario: LoadedScenario
    config: Config
    seed: int
    version: str | None
    config_sha256: str  # of the effective config (after the scenario's overrides): checked before the run


def load_rerun(path: Path, raw: dict[str, Any]) -> Rerun:
    """The scenario, config and seed of the run that wrote `raw` (the parsed `path`). Raises ConfigError naming
    the field."""
    section = raw.get(RERUN_KEY)
    if not isinstance(section, dict):
        raise ConfigError([f"{path}: {RERUN_KEY}: must be a mapping, got {type(section).__name__}"])
    errors = []
    for key, kind in (("scenario_path", str), ("scenario", str), ("config", dict)):
        if not isinstance(section.get(key), kind):
            errors.append(f"{path}: {RERUN_KEY}.{key}: missing or not a {kind.__name__}")
    seed = raw.get("seed")
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        errors.append(f"{path}: seed: must be a non-negative integer, got {seed!r}")
    for key in ("scenario_sha256", "config_sha256"):
        if not isinstance(raw.get(key), str):
            errors.append(f"{path}: {key}: missing or not a string")
    if errors:
        raise ConfigError(errors)
    text: str = section["scenario"]
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    if digest != raw["scenario_sha256"]:
        raise ConfigError([f"{path}: {RERUN_KEY}.scenario: its SHA-256 is {digest}, not scenario_sha256 "
                           f"{raw['scenario_sha256']}: the run.json was edited"])
    scenario = scenario_from_text(text, Path(section["scenario_path"]), f"{path}: {RERUN_KEY}.scenario")
    config = config_from_mapping(section["config"], f"{path}: {RERUN_KEY}.config")
    version = raw.get("version")
    run_seed: int = raw["seed"]
    return Rerun(scenario, config, run_seed, version if isinstance(version, str) else None, raw["config_sha256"])
