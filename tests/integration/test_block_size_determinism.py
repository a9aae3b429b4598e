"""Every shipped scenario replays to byte-identical telemetry whatever the market's block size (issue 18).

Block sizes 1 and 7 against the default: 1 re-derives at every tick (the slowest, ~1.5x the default's time) and 7
puts block boundaries, drill events and subscriptions at unaligned ticks.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from imperium_desk.config import config_from_mapping
from imperium_desk.desk import run_replay
from imperium_desk.market.config import MarketConfig
from imperium_desk.scenarios.spec import load_scenario
from imperium_desk.shipped import configs_dir

CONFIGS = configs_dir()
SCENARIOS = [*sorted((CONFIGS / "scenarios").glob("*.yaml")), CONFIGS / "learning" / "latency-burst.yaml"]


def _telemetry_sha256(scenario: Path, block: int, out: Path) -> str:
    config = config_from_mapping({"market": {"block_ticks": block}}, "test")
    summary = run_replay(load_scenario(scenario), config, out)
    return hashlib.sha256(summary.telemetry_path.read_bytes()).hexdigest()


def test_every_shipped_scenario_is_tested() -> None:
    assert len(SCENARIOS) >= 9


@pytest.mark.slow
@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda p: p.stem)
def test_a_scenario_writes_the_same_telemetry_at_every_block_size(scenario: Path, tmp_path: Path) -> None:
    default = _telemetry_sha256(scenario, MarketConfig().block_ticks, tmp_path / "default")
    for block in (1, 7):
        assert _telemetry_sha256(scenario, block, tmp_path / str(block)) == default, f"block_ticks={block}"
