"""`imperium-desk report` as a user runs it: a real replay's telemetry, real subprocesses, real files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

from imperium_desk.analysis.outliers import RobustStats, iqr_outliers, mad_outliers
from imperium_desk.analysis.report import ReportOptions, build_report

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "imperium_desk" / "configs" / "scenarios" / "demo.yaml"
DESIGN_KEYS = (
    "arrival_slippage_bps", "delay_cost", "trading_cost", "opportunity_cost", "fees", "implementation_shortfall",
    "delay_cost_bps", "trading_cost_bps", "opportunity_cost_bps", "fees_bps", "implementation_shortfall_bps",
)


def cli(*args: str | Path, home: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "imperium_desk", *map(str, args), "--home", str(home)],
        check=False, capture_output=True, text=True, timeout=180, cwd=REPO, env={**os.environ, "PYTHONHASHSEED": "0"},
    )


@pytest.fixture(scope="module")
def telemetry(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo scenario's telemetry, from a real replay (run once for this module)."""
    home = tmp_path_factory.mktemp("replay")
    result = cli("replay", DEMO, "--out", home / "run", "--quiet", home=home)
    assert result.returncode == 0, result.stderr
    return home / "run" / "telemetry.jsonl"


def records(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_report_json_has_the_tca_of_every_parent_with_the_design_keys(telemetry: Path, tmp_path: Path) -> None:
    out = tmp_path / "report.json"
    result = cli("report", telemetry, "--json", out, home=tmp_path)
    assert result.returncode == 0, result.stderr
    report = json.loads(out.read_text())
    parent_ids = {r["parent_id"] for r in records(telemetry) if r["parent_id"]}
    assert [p["parent_id"] for p in report["parents"]] and {p["parent_id"] for p in report["parents"]} == parent_ids
    for parent in report["parents"]:
        for key in DESIGN_KEYS:
            assert key in parent, key
        assert parent["arrival_slippage_bps"] is not None and parent["implementation_shortfall"] is not None


def test_report_uses_the_parent_and_markout_records(telemetry: Path, tmp_path: Path) -> None:
    out = tmp_path / "report.json"
    assert cli("report", telemetry, "--json", out, home=tmp_path).returncode == 0
    report = json.loads(out.read_text())
    by_id = {p["parent_id"]: p for p in report["parents"]}
    parent_records = [r for r in records(telemetry) if r["event"] == "parent"]
    assert len(parent_records) == len(by_id)
    for record in parent_records:
        row = by_id[record["parent_id"]]
        assert row["incomplete"] is False
        assert (row["status"], row["qty"]) == (record["parent"]["status"], record["qty"])  # type: ignore[index]
    assert set(report["summary"]["markouts_bps"]) == {"1s", "10s", "60s"}


def test_report_summary_counts_match_the_telemetry(telemetry: Path, tmp_path: Path) -> None:
    out = tmp_path / "report.json"
    result = cli("report", telemetry, "--json", out, home=tmp_path)
    summary = json.loads(out.read_text())["summary"]
    events = [r["event"] for r in records(telemetry)]
    assert summary["records"] == len(events)
    assert summary["fills"] == events.count("fill") + events.count("partial_fill")
    assert summary["children"] == events.count("placed")
    assert "shortfall" in result.stdout and "by algo" in result.stdout


def test_report_html_is_one_page_with_svg_charts(telemetry: Path, tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    result = cli("report", telemetry, "--html", out, home=tmp_path)
    assert result.returncode == 0, result.stderr
    page = out.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    assert "<script" not in page and "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")
    charts = page.split("<svg")[1:]
    assert len(charts) >= 5  # IS breakdown, by algo, by urgency, latency and slippage histograms
    for chart in charts:
        ET.fromstring("<svg" + chart.split("</svg>")[0] + "</svg>")  # each chart is well-formed XML
    assert 'class="density"' in page  # a fitted density line over a histogram
    assert "Outliers" in page


def test_report_html_escapes_text_from_the_telemetry(telemetry: Path, tmp_path: Path) -> None:
    lines = telemetry.read_text(encoding="utf-8").splitlines()
    hostile = [line.replace('"execution_algo":"TWAP"', '"execution_algo":"<script>alert(1)</script>"')
               for line in lines]
    assert hostile != lines
    source = tmp_path / "hostile.jsonl"
    source.write_text("\n".join(hostile) + "\n", encoding="utf-8")
    out = tmp_path / "report.html"
    assert cli("report", source, "--html", out, home=tmp_path).returncode == 0
    page = out.read_text(encoding="utf-8")
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_report_config_fees_price_the_fills(telemetry: Path, tmp_path: Path) -> None:
    config = tmp_path / "fees.yaml"
    config.write_text("fees: {brokerage_per_order: 0}\n", encoding="utf-8")
    out = tmp_path / "report.json"
    assert cli("report", telemetry, "--json", out, "--config", config, home=tmp_path).returncode == 0
    report = json.loads(out.read_text())
    assert report["is_breakdown"]["fee_breakdown"]["brokerage"] == 0.0
    assert report["is_breakdown"]["fee_breakdown"]["stt"] > 0  # the demo sells too


def test_a_cut_off_last_line_is_skipped_with_a_warning(telemetry: Path, tmp_path: Path) -> None:
    source = tmp_path / "torn.jsonl"
    data = telemetry.read_bytes()
    source.write_bytes(data + data.splitlines()[0][:40])
    result = cli("report", source, home=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "cut off" in result.stderr


def test_outlier_counts_cover_every_fill_when_the_sample_is_smaller_than_the_file(telemetry: Path) -> None:
    # A sample of 10 of the demo's fills: thresholds come from the sample, the second pass flags every fill.
    report = build_report(telemetry, ReportOptions(sample_capacity=10)).data
    latency = report["outliers"]["metrics"]["latency_ms"]
    assert latency["thresholds_from_sample"] is True and report["distributions"]["latency_ms"]["stats"]["sampled"]
    s = latency["stats"]
    thresholds = RobustStats(s["n"], s["median"], s["mad"], s["mean_ad"], s["q1"], s["q3"])
    x = np.array([r["latency_ms"] for r in records(telemetry) if r["event"] in ("fill", "partial_fill")])
    assert s["n"] == 10 and x.size > 10
    assert latency["counts"]["either"] == int((mad_outliers(x, thresholds) | iqr_outliers(x, thresholds)).sum())


# -- bad input -----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("missing.jsonl", None, "no such file"),
        ("samples.csv", "latency_ms,slippage\n40.1,0.5\n41.0,0.3\n", "line 1: not JSON"),
        ("array.jsonl", '[1, 2, 3]\n', "line 1: not a JSON object but a array"),
        ("empty.jsonl", "", "empty: no telemetry records"),
        ("blank.jsonl", "\n\n", "empty: no telemetry records"),
        ("no_seq.jsonl", '{"schema_version": 1, "event": "fill"}\n', "line 1: not a telemetry record: no seq"),
        ("mixed.jsonl",
         '{"schema_version": 1, "seq": 1, "event": "scenario"}\n{"schema_version": 2, "seq": 2, "event": "scenario"}\n',
         "mixed schema versions: 1 (1 records from line 1), 2 (1 records from line 2)"),
        ("future.jsonl", '{"schema_version": 9, "seq": 1, "event": "scenario"}\n',
         "schema_version 9 is not one this report reads"),
        ("bad_fill.jsonl",
         '{"schema_version": 1, "seq": 1, "event": "fill", "parent_id": "P1", "side": "buy", "qty": 5, '
         '"executed_price": null}\n',
         "line 1: seq 1: fill: executed_price must be a positive number, got None"),
    ],
)
def test_bad_input_exits_2_with_a_clear_message_and_writes_nothing(
    tmp_path: Path, name: str, content: str | None, message: str
) -> None:
    source = tmp_path / name
    if content is not None:
        source.write_text(content, encoding="utf-8")
    out = tmp_path / "out"
    out.mkdir()
    result = cli("report", source, "--json", out / "r.json", "--html", out / "r.html", home=tmp_path)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert all(line.startswith("error: ") for line in result.stderr.splitlines())
    assert list(out.iterdir()) == []


def test_a_file_that_is_not_telemetry_stops_after_a_bounded_number_of_errors(tmp_path: Path) -> None:
    source = tmp_path / "notes.jsonl"
    source.write_text("".join(f"line {i}\n" for i in range(1000)), encoding="utf-8")
    result = cli("report", source, home=tmp_path)
    assert result.returncode == 2
    assert len(result.stderr.splitlines()) <= 21 and "stopped after 20 errors" in result.stderr


def test_an_output_folder_that_does_not_exist_exits_2_before_reading(telemetry: Path, tmp_path: Path) -> None:
    result = cli("report", telemetry, "--json", tmp_path / "nope" / "r.json", home=tmp_path)
    assert result.returncode == 2
    assert "the folder to write into does not exist" in result.stderr
