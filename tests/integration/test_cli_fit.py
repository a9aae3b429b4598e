"""`imperium-desk fit` as a user runs it: real subprocesses on the shipped sample data, and the bad-input cases.

The bad-input cases run `cli.main` in this process (the same code the console script calls): one subprocess
each would spend ~1 s importing scipy to print one line. One case runs as a real process to show the exit code
and the absence of a traceback end to end.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from imperium_desk.cli import main
from imperium_desk.config import config_from_mapping

REPO = Path(__file__).resolve().parents[2]
LATENCY_CSV = REPO / "imperium_desk" / "resources" / "latency_nifty.csv"
SLIPPAGE_CSV = REPO / "imperium_desk" / "resources" / "slippage_nifty.csv"


def cli(*args: str | Path, home: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "imperium_desk", *map(str, args), "--home", str(home)],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
        env={**os.environ, "PYTHONHASHSEED": "0"},
    )


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_fit_prints_a_ranked_table_of_every_family(tmp_path: Path) -> None:
    result = cli("fit", SLIPPAGE_CSV, home=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "column 'slippage_bps', 5000 samples, slippage in bps; ranked by aic" in lines[0]
    assert lines[1].split() == ["#", "family", "loglik", "AIC", "BIC", "KS", "stat", "KS", "p", "params"]
    ranked = [line.split()[:2] for line in lines[2:]]
    assert ranked[0] == ["1", "student_t"]  # the generator's model
    assert [r[0] for r in ranked] == ["1", "2", "3", "4", "5", "6", "-", "-"]
    assert "skipped: needs every sample > 0" in result.stdout  # lognormal on signed slippage


def test_emitted_config_loads_with_config_validate(tmp_path: Path) -> None:
    result = cli("fit", LATENCY_CSV, "--emit-config", home=tmp_path)
    assert result.returncode == 0, result.stderr
    snippet = write(tmp_path / "fitted.yaml", result.stdout)
    validated = cli("config", "validate", snippet, home=tmp_path)
    assert validated.returncode == 0, validated.stderr
    model = config_from_mapping(yaml.safe_load(result.stdout), "snippet").latency_model.global_
    assert model.type == "mixture"  # the generator's floor + lognormal mixture is closest to a mixture


def test_emit_config_prints_only_yaml_for_the_winner_by_bic(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["fit", str(SLIPPAGE_CSV), "--emit-config", "--criterion", "bic"]) == 0
    snippet = yaml.safe_load(capsys.readouterr().out)
    assert list(snippet) == ["slippage_model"]
    assert snippet["slippage_model"]["global"]["type"] == "student_t"
    assert snippet["slippage_model"]["global"]["unit"] == "bps"


def test_fit_reads_fill_latency_from_telemetry_jsonl(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lines = [{"event": "ack", "latency_ms": 1000.0}]
    lines += [{"event": "fill", "latency_ms": 30.0 + (i * 7919 % 100) / 10, "slippage_bps": None} for i in range(60)]
    path = write(tmp_path / "telemetry.jsonl", "".join(json.dumps(line) + "\n" for line in lines))
    assert main(["fit", str(path)]) == 0
    assert "column 'latency_ms', 60 samples, latency in ms" in capsys.readouterr().out


def test_a_point_mass_is_warned_about_and_the_fit_still_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(
        tmp_path / "s.csv", "slippage_bps\n" + "0\n" * 19 + "".join(f"{(i * 37) % 50 - 25}.5\n" for i in range(23))
    )
    assert main(["fit", str(path)]) == 0
    captured = capsys.readouterr()
    assert captured.err == (
        f"warning: {path}: column 'slippage_bps': 19 of 42 samples equal 0; "
        "no continuous family describes such a point mass\n"
    )
    assert "skipped: degenerate" in captured.out


def test_a_bad_file_exits_2_with_one_line_and_no_traceback(tmp_path: Path) -> None:
    path = write(tmp_path / "lat.csv", "latency_ms\n12.5\nslow\n")
    result = cli("fit", path, home=tmp_path)
    assert result.returncode == 2
    assert result.stderr == f"error: {path}: column 'latency_ms': row 2 (line 3): 'slow' is not a number\n"
    assert result.stdout == ""


NUMBERS = "".join(f"{10 + i % 7}.5\n" for i in range(30))


@pytest.mark.parametrize(
    ("name", "text", "args", "message"),
    [
        ("missing.csv", None, [], "missing.csv: cannot read: No such file or directory"),
        ("ragged.csv", "latency_ms,venue\n1,NSE\n2\n", [], "ragged.csv: malformed CSV: row 2 (line 3) has 1 fields"),
        (
            "cols.csv",
            "latency_ms,venue\n1,NSE\n",
            ["--column", "lat"],
            "cols.csv: no column 'lat' (columns: latency_ms, venue)",
        ),
        ("empty.csv", "venue,latency_ms\n", [], "empty.csv: column 'latency_ms' has no values"),
        (
            "text.csv",
            "latency_ms\n1\n2\nn/a\n",
            [],
            "text.csv: column 'latency_ms': row 3 (line 4): 'n/a' is not a number",
        ),
        (
            "few.csv",
            "slippage_bps\n1\n2\n3\n",
            [],
            "few.csv: column 'slippage_bps': need at least 10 samples to fit, got 3",
        ),
        ("same.csv", "latency_ms\n" + "5\n" * 20, [], "same.csv: column 'latency_ms': all 20 samples equal 5.0"),
        ("neg.csv", "latency_ms\n1\n-1\n", [], "neg.csv: column 'latency_ms': row 2 (line 3): '-1' is negative"),
        (
            "inf.csv",
            "slippage\n" + NUMBERS + "inf\n",
            [],
            "inf.csv: column 'slippage': row 31 (line 32): 'inf' is not a finite",
        ),
        (
            "none.csv",
            "a,b\n1,2\n",
            [],
            "none.csv: no latency_ms / slippage / slippage_bps column; name one with --column",
        ),
        ("bad.jsonl", '{"latency_ms": 1}\n{oops\n', [], "bad.jsonl: line 2: not valid JSON"),
        (
            "keys.jsonl",
            '{"latency_ms": 1}\n',
            ["--column", "slippage"],
            "keys.jsonl: no column 'slippage' in any record (keys: latency_ms)",
        ),
    ],
)
def test_bad_input_exits_2_with_one_line_naming_the_file_and_column(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, text: str | None, args: list[str], message: str
) -> None:
    path = tmp_path / name
    if text is not None:
        write(path, text)
    assert main(["fit", str(path), *args]) == 2
    captured = capsys.readouterr()
    assert captured.err.count("\n") == 1 and captured.err.startswith("error: ")
    assert f"{tmp_path}/{message}" in captured.err
    assert captured.out == ""


def test_an_unknown_criterion_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["fit", str(LATENCY_CSV), "--criterion", "hqc"])
    assert exited.value.code == 2
    assert "--criterion" in capsys.readouterr().err
