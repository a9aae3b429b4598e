"""Latency/slippage models from the command line: a replay with a scripted model switch reproduced byte for
byte by another process, and bad model input refused with exit 2 naming the field.

The bad-input cases run `cli.main` in this process (the code the console script calls); the replay runs as
real processes, since reproducing across processes is the point."""

from __future__ import annotations

from pathlib import Path

import pytest

from imperium_desk import cli
from tests.integration.test_cli_replay import cli as run_cli
from tests.integration.test_cli_replay import write

SCENARIO = """
id: switch-drill
seed: 5
duration_s: 30
orders:
  - every_s: 1
    instrument: {underlying: NIFTY, strike: ATM, right: CE}
    side: buy
    lots: 1
events:
  - {type: model_switch, at_s: 12, kind: latency, underlying: NIFTY,
     model: {type: mixture, components: [{weight: 0.8, type: lognormal, median_ms: 20, sigma: 0.3},
                                         {weight: 0.2, type: exponential, mean_ms: 90}]}}
  - {type: model_switch, at_s: 20, kind: slippage, model: {type: student_t, loc: 1, scale: 0.5, df: 4}}
"""


def test_a_replay_with_scripted_model_switches_is_byte_identical_across_processes(tmp_path: Path) -> None:
    scenario = write(tmp_path / "switch.yaml", SCENARIO)
    a, b = tmp_path / "a", tmp_path / "b"
    assert run_cli("replay", scenario, "--out", a, home=tmp_path, hash_seed="1").returncode == 0
    assert run_cli("replay", scenario, "--out", b, home=tmp_path, hash_seed="2").returncode == 0
    first = (a / "telemetry.jsonl").read_bytes()
    assert first.count(b'"event":"model_switch"') == 2
    assert first == (b / "telemetry.jsonl").read_bytes()


GOOD_CSV = "latency_ms\n12.5\n14.0\n"
BAD_MODELS = {
    "unknown type": ("{type: gamma, shape: 2}", None, "latency_model.global"),
    "negative std": ("{type: normal, mean_ms: 50, std_ms: -3}", None, "latency_model.global.std_ms"),
    "weights not summing to 1": (
        "{type: mixture, components: [{weight: 0.5, type: constant, value_ms: 1},"
        " {weight: 0.4, type: constant, value_ms: 2}]}",
        None,
        "latency_model.global.components",
    ),
    "missing CSV": ("{type: historical, source: nowhere.csv}", None, "nowhere.csv"),
    "malformed CSV": ("{type: historical, source: data.csv}", "latency_ms\n12.5\nabc\n", "row 2"),
    "empty column": ("{type: historical, source: data.csv}", "latency_ms,other\n,1\n,2\n", "latency_ms"),
    "missing column": ("{type: historical, source: data.csv, column: rtt}", GOOD_CSV, "rtt"),
}


@pytest.mark.parametrize("case", list(BAD_MODELS))
def test_a_config_with_a_bad_model_exits_2_naming_the_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str
) -> None:
    model, csv, named = BAD_MODELS[case]
    if csv is not None:
        write(tmp_path / "data.csv", csv)
    config = write(tmp_path / "desk.yaml", f"latency_model:\n  global: {model}\n")
    assert cli.main(["config", "validate", str(config), "--home", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert named in err
    assert "Traceback" not in err


def test_a_replay_whose_scripted_switch_is_bad_exits_2_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scenario = write(tmp_path / "bad.yaml", SCENARIO.replace("df: 4", "df: -4"))
    out = tmp_path / "out"
    assert cli.main(["replay", str(scenario), "--out", str(out), "--home", str(tmp_path)]) == 2
    assert "events.1" in capsys.readouterr().err
    assert not out.exists() or not any(out.iterdir())
