"""A replay's telemetry files: the JSONL and its index appear together when the run completes, or not at all."""

from __future__ import annotations

from pathlib import Path

from imperium_desk.telemetry.config import TelemetryConfig
from imperium_desk.telemetry.replay_files import ReplayTelemetry
from imperium_desk.telemetry.sqlite_index import IndexReader
from tests.telemetry_support import record, seqs_of


def test_a_committed_run_has_its_jsonl_and_an_index_of_every_record(tmp_path: Path) -> None:
    files = ReplayTelemetry(tmp_path, TelemetryConfig(fsync=False))
    for seq in range(1, 1201):
        files.write(record(seq))
    assert files.commit() == tmp_path / "telemetry.jsonl"
    assert seqs_of(tmp_path / "telemetry.jsonl") == list(range(1, 1201))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["telemetry.jsonl", "telemetry.sqlite"]
    reader = IndexReader(tmp_path / "telemetry.sqlite")
    assert [r["seq"] for r in reader.query(limit=5000)] == list(range(1, 1201))
    reader.close()


def test_an_aborted_run_leaves_nothing_behind(tmp_path: Path) -> None:
    files = ReplayTelemetry(tmp_path, TelemetryConfig(fsync=False))
    for seq in range(1, 301):
        files.write(record(seq))
    files.abort()
    assert list(tmp_path.iterdir()) == []


def test_a_run_without_the_index_removes_an_earlier_runs_index(tmp_path: Path) -> None:
    first = ReplayTelemetry(tmp_path, TelemetryConfig(fsync=False))
    first.write(record(1))
    first.commit()
    second = ReplayTelemetry(tmp_path, TelemetryConfig(fsync=False, sinks=["jsonl"]))
    second.write(record(1))
    second.commit()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["telemetry.jsonl"]
