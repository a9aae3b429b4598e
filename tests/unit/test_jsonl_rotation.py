"""Rotation of the desk's JSONL (by size, by UTC day) and reading a log across its segments."""

from __future__ import annotations

from pathlib import Path

import orjson

from imperium_desk.telemetry.config import TelemetryConfig
from imperium_desk.telemetry.hub import TelemetryHub
from imperium_desk.telemetry.jsonl import JsonlWriter
from imperium_desk.telemetry.segments import iter_records, last_seq, log_segments, segment_path
from tests.telemetry_support import START, lines_of, record, seqs_of

DAY = 86_400.0


def write_log(path: Path, seqs: range, **kw: object) -> JsonlWriter:
    writer = JsonlWriter(path, append=True, flush_interval_s=0.001, flush_records=16, **kw)  # type: ignore[arg-type]
    for seq in seqs:
        writer.write(record(seq))
    writer.close()
    return writer


def test_size_rotation_keeps_each_segment_under_the_limit_and_names_it_by_its_first_seq(tmp_path: Path) -> None:
    path = tmp_path / "execution_quality_paper.jsonl"
    write_log(path, range(1, 201), rotate_max_bytes=20_000)
    segments = log_segments(path)
    assert len(segments) > 3
    assert segments[-1] == path  # the active file keeps its name
    for segment in segments:
        assert segment.stat().st_size <= 20_000
        first = orjson.loads(lines_of(segment)[0])["seq"]
        if segment != path:
            assert segment == segment_path(path, first)
    assert [s for p in segments for s in seqs_of(p)] == list(range(1, 201))


def test_day_rotation_starts_a_segment_at_the_first_record_of_a_new_utc_day(tmp_path: Path) -> None:
    path = tmp_path / "execution_quality_paper.jsonl"
    midnight = (START // DAY + 1) * DAY
    writer = JsonlWriter(path, append=True, rotate_daily=True, flush_interval_s=0.001)
    for seq in range(1, 11):  # five records before midnight UTC, five after
        writer.write(record(seq, ts=midnight + (seq - 5.5) * 60))
    writer.close()
    assert log_segments(path) == [segment_path(path, 1), path]
    assert seqs_of(segment_path(path, 1)) == [1, 2, 3, 4, 5]
    assert seqs_of(path) == [6, 7, 8, 9, 10]


def test_day_rotation_remembers_the_active_files_day_across_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "execution_quality_paper.jsonl"
    midnight = (START // DAY + 1) * DAY
    first = JsonlWriter(path, append=True, rotate_daily=True)
    first.write(record(1, ts=midnight - 60))
    first.close()
    second = JsonlWriter(path, append=True, rotate_daily=True)
    second.write(record(2, ts=midnight + 60))
    second.close()
    assert log_segments(path) == [segment_path(path, 1), path]
    assert seqs_of(path) == [2]


def test_records_are_read_across_segments_after_a_given_seq(tmp_path: Path) -> None:
    path = tmp_path / "execution_quality_paper.jsonl"
    write_log(path, range(1, 301), rotate_max_bytes=15_000)
    assert [r["seq"] for r, _ in iter_records(path, after_seq=137)] == list(range(138, 301))
    assert [r["seq"] for r, _ in iter_records(path, after_seq=10, upto_seq=20)] == list(range(11, 21))


def test_each_read_line_is_the_records_bytes_in_the_file(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    write_log(path, range(1, 51), rotate_max_bytes=8_000)
    pairs = list(iter_records(path))
    assert all(orjson.loads(line) == rec for rec, line in pairs)
    assert b"".join(line + b"\n" for _, line in pairs) == b"".join(p.read_bytes() for p in log_segments(path))


def test_reading_after_a_seq_deep_in_a_large_file_finds_exactly_the_later_records(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    write_log(path, range(1, 8001))  # several MiB: the reader bisects instead of scanning
    assert path.stat().st_size > 3 << 20
    for after in (1, 2500, 7999, 8000):
        assert [r["seq"] for r, _ in iter_records(path, after_seq=after)] == list(range(after + 1, 8001))


def test_seq_continues_across_a_restart_even_when_the_active_file_is_empty(tmp_path: Path) -> None:
    path = tmp_path / "execution_quality_paper.jsonl"
    write_log(path, range(1, 101), rotate_max_bytes=10_000)
    path.rename(segment_path(path, seqs_of(path)[0]))  # as if the desk stopped right after a rotation
    path.write_bytes(b"")
    writer = write_log(path, range(101, 111), rotate_max_bytes=10_000)
    assert writer.last_seq == 100
    assert last_seq(path) == 110
    assert [r["seq"] for r, _ in iter_records(path)] == list(range(1, 111))


def test_a_replay_hub_never_rotates(tmp_path: Path) -> None:
    path = tmp_path / "telemetry.jsonl"
    config = TelemetryConfig(sinks=["jsonl"], fsync=False, rotate={"max_mb": 0.001, "daily": True})
    hub = TelemetryHub(path, config, append=False, rotate=False, serialize_on_caller=True)
    for seq in range(1, 101):
        hub.write(record(seq, ts=START + seq * 3600.0))  # crosses days and passes 1 kB many times
    hub.close()
    assert log_segments(path) == [path]
    assert seqs_of(path) == list(range(1, 101))
