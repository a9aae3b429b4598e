"""Every shipped drill replays byte for byte in two separate processes, and a different seed changes it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tests.integration.test_cli_replay import REPO, cli

DRILLS = sorted(p for p in (REPO / "imperium_desk" / "configs" / "scenarios").glob("*.yaml") if p.stem != "demo")


def test_at_least_six_drills_ship_and_together_use_every_event_type() -> None:
    assert len(DRILLS) >= 6
    types = {e["type"] for p in DRILLS for e in _events(p)}
    assert types >= {"news_shock", "liquidity_drop", "latency_burst", "reject_storm", "broker_outage", "throttle",
                     "risk_change", "random"}


def _events(path: Path) -> list[dict[str, object]]:
    events: list[dict[str, object]] = yaml.safe_load(path.read_text(encoding="utf-8")).get("events", [])
    return events


@pytest.mark.parametrize("drill", DRILLS, ids=lambda p: p.stem)
def test_a_drill_replays_byte_identically_in_two_processes_and_a_new_seed_differs(
    tmp_path: Path, drill: Path
) -> None:
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    assert cli("replay", drill, "--out", a, "--quiet", home=tmp_path, hash_seed="1").returncode == 0
    assert cli("replay", drill, "--out", b, "--quiet", home=tmp_path, hash_seed="2").returncode == 0
    first = (a / "telemetry.jsonl").read_bytes()
    assert first == (b / "telemetry.jsonl").read_bytes()
    run = json.loads((a / "run.json").read_text())
    assert run["timeline"], "a drill's events are in run.json"
    assert b'"event":"scenario"' in first
    outcome = json.loads((a / "outcome.json").read_text())
    assert outcome["scenario_id"] == drill.stem and set(outcome) >= {"run", "baseline", "delta"}
    assert cli("replay", drill, "--out", c, "--seed", "99", "--quiet", home=tmp_path).returncode == 0
    assert (c / "telemetry.jsonl").read_bytes() != first
