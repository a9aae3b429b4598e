"""Hostile input through every file-reading CLI entry point (issue 20): `config validate`, `replay`,
`report --config`, `fit`, `report`, `reindex`, and `serve` over a damaged log.

Each corpus file (tests/hostile_corpus.py) is refused with exit 2, error lines only (the first naming the file),
no traceback and nothing written. The bounds (README "Input limits"): documents are refused before anything is
built (1 MiB, 64 levels, 10,000 alias-expanded nodes), sample and telemetry lines are at most 1 MiB, and `fit`
reads at most `MAX_ROWS` rows; one subprocess runs the whole corpus under a timeout and reports its peak RSS.
Runs in-process (`imperium_desk.cli.main`) except where a process boundary is the point.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest

from imperium_desk.cli import EXIT_BAD_INPUT, EXIT_OK, main
from imperium_desk.domain.validation import MAX_PROBLEMS_LISTED
from imperium_desk.models import samples_io
from tests.hostile_corpus import DOCUMENTS, SAMPLES, Hostile
from tests.telemetry_support import record

REPO = Path(__file__).resolve().parents[2]
CORPUS_TIMEOUT_S = 60  # the whole corpus, every entry point, in one process (about 5 s on a loaded 2-core box)
CORPUS_PEAK_RSS_MB = 400  # the interpreter with numpy/scipy/pydantic loaded is about 150 MB


def telemetry(path: Path, **overrides: Any) -> Path:
    path.write_bytes(b"".join(orjson.dumps(record(seq, **overrides)) + b"\n" for seq in range(1, 60)))
    return path


def run(capsys: pytest.CaptureFixture[str], *argv: str | Path) -> tuple[int, list[str], str]:
    """(exit code, stderr lines, stdout) of the CLI run in this process."""
    code = main([str(arg) for arg in argv])
    captured = capsys.readouterr()
    return code, captured.err.splitlines(), captured.out


def assert_refused(code: int, errors: list[str], path: Path, most: int = 1) -> None:
    assert code == EXIT_BAD_INPUT
    assert 1 <= len(errors) <= most
    assert all(line.startswith("error: ") for line in errors)  # no traceback, no stray output
    assert errors[0].startswith(f"error: {path}")  # the line names the file


@pytest.mark.parametrize("hostile", DOCUMENTS, ids=lambda h: h.name)
def test_config_validate_refuses_a_hostile_document_in_one_line(
    hostile: Hostile, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = hostile.write(tmp_path)
    code, errors, _ = run(capsys, "config", "validate", path)
    assert_refused(code, errors, path, most=2 if hostile.name == "wrong-types" else 1)


@pytest.mark.parametrize("hostile", DOCUMENTS, ids=lambda h: h.name)
def test_replay_refuses_a_hostile_scenario_and_writes_nothing(
    hostile: Hostile, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = hostile.write(tmp_path)
    out = tmp_path / "out"
    code, errors, _ = run(capsys, "replay", path, "--out", out, "--quiet", "--home", tmp_path / "home")
    assert_refused(code, errors, path, most=MAX_PROBLEMS_LISTED + 1)
    assert not out.exists()


@pytest.mark.parametrize("hostile", DOCUMENTS, ids=lambda h: h.name)
def test_report_refuses_a_hostile_config_and_writes_nothing(
    hostile: Hostile, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = hostile.write(tmp_path)
    out = tmp_path / "report.json"
    code, errors, _ = run(capsys, "report", telemetry(tmp_path / "t.jsonl"), "--config", path, "--json", out)
    assert_refused(code, errors, path, most=2)
    assert not out.exists()


@pytest.mark.parametrize("hostile", SAMPLES, ids=lambda h: h.name)
def test_fit_refuses_a_hostile_sample_file_in_one_line(
    hostile: Hostile, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = hostile.write(tmp_path)
    code, errors, _ = run(capsys, "fit", path)
    assert_refused(code, errors, path)


@pytest.mark.parametrize("hostile", SAMPLES, ids=lambda h: h.name)
def test_report_refuses_hostile_telemetry_and_writes_nothing(
    hostile: Hostile, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = hostile.write(tmp_path)
    out = tmp_path / "report.json"
    code, errors, _ = run(capsys, "report", path, "--json", out)
    assert_refused(code, errors, path, most=21)  # one line per bad line, stopping after 20 (analysis/reader.py)
    assert not out.exists()


@pytest.mark.parametrize("hostile", [h for h in SAMPLES if h.name != "empty"], ids=lambda h: h.name)
def test_reindex_refuses_a_hostile_log_and_writes_no_index(
    hostile: Hostile, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = hostile.write(tmp_path)
    db = tmp_path / "index.sqlite"
    code, errors, _ = run(capsys, "reindex", path, "--db", db)
    assert_refused(code, errors, path)
    assert not db.exists()


def test_an_empty_config_is_the_embedded_defaults(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "empty.yaml"
    path.write_bytes(b"")
    code, errors, _ = run(capsys, "config", "validate", path)
    assert (code, errors) == (EXIT_OK, [])


def test_an_empty_log_reindexes_to_an_empty_index(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "empty.jsonl"
    path.write_bytes(b"")
    code, errors, _ = run(capsys, "reindex", path, "--db", tmp_path / "index.sqlite")
    assert (code, errors) == (EXIT_OK, [])


def test_report_names_the_fills_whose_latency_is_not_a_number(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = telemetry(tmp_path / "t.jsonl", event="fill", latency_ms="fast")
    out = tmp_path / "report.json"
    code, errors, _ = run(capsys, "report", path, "--json", out)
    assert code == EXIT_OK
    report = json.loads(out.read_text())
    assert report["source"]["skipped_values"] == {"latency_ms": {"fills": 59, "first_lines": list(range(1, 11))}}
    assert report["distributions"]["latency_ms"]["stats"]["count"] == 0
    assert len(report["warnings"]) == 1  # the skipped fills, said on stderr too
    assert errors == [f"warning: {report['warnings'][0]}"]


def test_fit_reads_at_most_max_rows_and_says_how_many_it_used(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(samples_io, "MAX_ROWS", 500)
    path = tmp_path / "latency.csv"
    path.write_text("latency_ms\n" + "".join(f"{20 + (i * 7919) % 97 / 3:.3f}\n" for i in range(2000)))
    code, errors, out = run(capsys, "fit", path)
    assert code == EXIT_OK
    assert len(errors) == 1 and errors[0].startswith(f"warning: {path}: ")  # the rows left unread are said
    assert out.splitlines()[0].endswith("; 500 rows read")


def test_serve_on_a_log_ending_in_two_damaged_lines_exits_2_in_one_line(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    log = home / "execution_quality_paper.jsonl"
    log.write_bytes(orjson.dumps(record(1)) + b"\ngarbage\nmore garbage\n")
    log.chmod(0o600)  # a home as the desk leaves it, so start-up has nothing else to say
    result = subprocess.run(
        [sys.executable, "-m", "imperium_desk", "serve", "--home", str(home), "--port", "0"],
        check=False, capture_output=True, text=True, timeout=60, cwd=REPO, env=dict(os.environ),
    )
    assert result.returncode == EXIT_BAD_INPUT
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and errors[0].startswith(f"error: {log}: line 2")
    assert "Traceback" not in result.stderr
    assert log.read_bytes().endswith(b"more garbage\n")  # the damage is named, not cut


def test_the_whole_corpus_runs_in_one_process_within_its_time_and_memory_bounds(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "tests.hostile_corpus", str(tmp_path)],
        check=False, capture_output=True, text=True, timeout=CORPUS_TIMEOUT_S, cwd=REPO, env=dict(os.environ),
    )
    assert result.returncode == 0, result.stderr[-2000:]
    summary = json.loads(result.stdout)
    assert set(summary["exits"].values()) == {EXIT_BAD_INPUT}
    assert summary["peak_rss_mb"] < CORPUS_PEAK_RSS_MB


def test_a_config_with_fifty_thousand_wrong_items_gets_a_screenful_of_short_lines(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "many.yaml"
    path.write_text("market:\n  underlyings: [" + ",".join(["[1]"] * 50_000) + "]\n")
    code, errors, _ = run(capsys, "config", "validate", path)
    assert_refused(code, errors, path, most=MAX_PROBLEMS_LISTED + 1)
    assert len(errors) == MAX_PROBLEMS_LISTED + 1  # the first problems, then how many more
    assert max(map(len, errors)) < 400  # each shown from the offending value's head only
