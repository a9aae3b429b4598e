"""`config validate` judges a file the way `replay` runs it: every mistake replay refuses, validate refuses with
exit 2 and the same error lines, and a file validate passes is one replay can start.

Both commands run through `cli.main` in this process (the code the console script calls); nothing here gets as
far as running a replay, so no output folder is ever written."""

from __future__ import annotations

from pathlib import Path

import pytest

from imperium_desk import cli

ORDERS = """id: checked
seed: 3
duration_s: 60
orders:
  - at_s: 0
    instrument: {underlying: NIFTY, expiry: nearest, strike: ATM, right: CE}
    side: buy
    lots: 1
    algo: IMMEDIATE
"""

# One mistake per file, each of a kind replay refuses with exit 2.
BAD_SCENARIOS = {
    "order_on_an_underlying_the_market_does_not_simulate": ORDERS + "config:\n  market: {underlyings: [BANKNIFTY]}\n",
    "order_on_an_underlying_no_instruments_file_has": ORDERS.replace("underlying: NIFTY", "underlying: NOSUCH"),
    "embedded_config_with_an_invalid_model_field":
        ORDERS + "config:\n  latency_model: {global: {type: normal, mean_ms: 50, std_ms: -5}}\n",
    "embedded_config_with_an_unknown_field": ORDERS + "config:\n  market: {tick_rate: 4}\n",
    "scenario_with_an_unknown_field": ORDERS + "sede: 4\n",
    "invalid_event": ORDERS + "events:\n  - {type: throttle, at_s: 1, rate: 7}\n",
    "order_on_a_symbol_that_does_not_exist": ORDERS + "  - {at_s: 1, symbol: NIFTY99ZZZ25000CE, side: buy, lots: 1}\n",
    "event_on_a_symbol_that_does_not_exist":
        ORDERS + "events:\n  - {type: news_shock, at_s: 1, symbol: NIFTY99ZZZ25000CE, jump_pct: 1}\n",
    "random_event_template_on_a_symbol_that_does_not_exist": ORDERS
        + "events:\n  - {type: random, rate_per_min: 6, event: {type: news_shock, symbol: NOPE, jump_pct: 1}}\n",
    "random_event_no_draw_of_which_is_valid": ORDERS
        + "events:\n  - {type: random, rate_per_min: 6,\n"
          "     event: {type: throttle, rate: {dist: uniform, low: 1, high: 5}}}\n",
    "market_underlying_the_instruments_file_lacks": ORDERS + "config:\n  market: {underlyings: [NIFTY, NOSUCH]}\n",
    "missing_instruments_file": ORDERS + "config:\n  market: {instruments: no-such-instruments.yaml}\n",
    "historical_model_without_its_data_file":
        ORDERS + "config:\n  latency_model: {global: {type: historical, source: no-such-latency.csv}}\n",
    "learner_that_is_not_installed":
        ORDERS + "config:\n  feedback: {learning: {enabled: true, learners: [no-such-learner]}}\n",
}


def _run(capsys: pytest.CaptureFixture[str], *argv: str | Path) -> tuple[int, list[str]]:
    capsys.readouterr()
    code = cli.main([str(a) for a in argv])
    return code, capsys.readouterr().err.splitlines()


@pytest.mark.parametrize("text", BAD_SCENARIOS.values(), ids=BAD_SCENARIOS.keys())
def test_a_scenario_replay_refuses_is_refused_by_validate_with_the_same_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str
) -> None:
    scenario = tmp_path / "bad.yaml"
    scenario.write_text(text, encoding="utf-8")
    validated = _run(capsys, "config", "validate", scenario, "--home", tmp_path)
    replayed = _run(capsys, "replay", scenario, "--out", tmp_path / "out", "--quiet", "--home", tmp_path)
    assert validated[0] == replayed[0] == cli.EXIT_BAD_INPUT
    assert validated[1] == replayed[1] and validated[1]
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "config_text",
    [
        "latency_model: {global: {type: normal, mean_ms: 50, std_ms: -5}}\n",
        "market: {underlyings: [NIFTY, NOSUCH]}\n",
        "feedback: {learning: {enabled: true, learners: [no-such-learner]}}\n",
    ],
    ids=["invalid_model_field", "underlying_the_instruments_file_lacks", "learner_that_is_not_installed"],
)
def test_a_config_replay_refuses_is_refused_by_validate_of_the_scenario_with_the_same_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], config_text: str
) -> None:
    scenario = tmp_path / "good.yaml"
    scenario.write_text(ORDERS, encoding="utf-8")
    config = tmp_path / "desk.yaml"
    config.write_text(config_text, encoding="utf-8")
    validated = _run(capsys, "config", "validate", scenario, "--config", config, "--home", tmp_path)
    replayed = _run(capsys, "replay", scenario, "--config", config, "--out", tmp_path / "out", "--quiet",
                    "--home", tmp_path)
    assert validated[0] == replayed[0] == cli.EXIT_BAD_INPUT
    assert validated[1] == replayed[1] and validated[1]


@pytest.mark.parametrize(
    "config_text",
    [
        "market: {underlyings: [NIFTY, NOSUCH]}\n",
        "market: {instruments: no-such-instruments.yaml}\n",
        "feedback: {learning: {enabled: true, learners: [no-such-learner]}}\n",
    ],
    ids=["underlying_the_instruments_file_lacks", "missing_instruments_file", "learner_that_is_not_installed"],
)
def test_a_config_that_cannot_run_is_not_called_valid(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], config_text: str
) -> None:
    config = tmp_path / "desk.yaml"
    config.write_text(config_text, encoding="utf-8")
    assert _run(capsys, "config", "validate", config, "--home", tmp_path)[0] == cli.EXIT_BAD_INPUT


def test_a_scenario_that_runs_is_valid_on_the_config_it_is_given(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scenario = tmp_path / "good.yaml"
    scenario.write_text(ORDERS, encoding="utf-8")
    config = tmp_path / "desk.yaml"
    config.write_text("market: {underlyings: [NIFTY]}\n", encoding="utf-8")
    assert _run(capsys, "config", "validate", scenario, "--config", config, "--home", tmp_path)[0] == cli.EXIT_OK


def test_config_option_with_a_config_file_to_validate_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "desk.yaml"
    config.write_text("market: {underlyings: [NIFTY]}\n", encoding="utf-8")
    assert _run(capsys, "config", "validate", config, "--config", config, "--home", tmp_path)[0] == cli.EXIT_BAD_INPUT
