"""The JSONL writer's durability: what "flushed" means, and how a torn tail left by a crash is repaired."""

from __future__ import annotations

import logging
from pathlib import Path

import orjson
import pytest

from imperium_desk.telemetry.jsonl import JsonlWriter
from imperium_desk.telemetry.segments import TelemetryFileError, iter_records
from tests.telemetry_support import lines_of, record, seqs_of


def write_file(path: Path, seqs: range, tail: bytes = b"") -> bytes:
    data = b"".join(orjson.dumps(record(s)) + b"\n" for s in seqs) + tail
    path.write_bytes(data)
    return data


@pytest.mark.parametrize("fsync", [True, False])
def test_flushed_seq_is_the_last_record_after_close(tmp_path: Path, fsync: bool) -> None:
    writer = JsonlWriter(tmp_path / "t.jsonl", fsync=fsync, flush_interval_s=0.001, flush_records=10)
    for seq in range(1, 1001):
        writer.write(record(seq))
    writer.close()
    assert writer.flushed_seq == 1000


def test_every_acknowledged_seq_is_already_in_the_file_when_acknowledged(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    acked: list[int] = []
    missing: list[int] = []

    def on_flushed(seq: int) -> None:  # the writer thread: read the file back as a crash-restart would
        if seq not in {orjson.loads(line)["seq"] for line in path.read_bytes().splitlines()}:
            missing.append(seq)
        acked.append(seq)

    writer = JsonlWriter(path, flush_interval_s=0.001, flush_records=25, on_flushed=on_flushed)
    for seq in range(1, 501):
        writer.write(record(seq))
    writer.close()
    assert acked and acked[-1] == 500
    assert acked == sorted(acked)
    assert missing == []


def test_acknowledged_batches_carry_every_record_once_in_order(tmp_path: Path) -> None:
    batches: list[tuple[list[int], list[bytes]]] = []
    writer = JsonlWriter(
        tmp_path / "t.jsonl", flush_interval_s=0.001, flush_records=7,
        on_flushed_batch=lambda recs, lines: batches.append(([r["seq"] for r in recs], list(lines))),
    )
    for seq in range(1, 301):
        writer.write(record(seq))
    writer.close()
    assert [s for seqs, _ in batches for s in seqs] == list(range(1, 301))
    assert b"".join(line for _, lines in batches for line in lines) == (tmp_path / "t.jsonl").read_bytes()


def test_lines_written_in_chunks_smaller_than_a_line_stay_whole(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    writer = JsonlWriter(path, write_chunk_bytes=17, flush_interval_s=0.001, serialize_on_caller=True)
    for seq in range(1, 401):
        writer.write(record(seq))
    writer.close()
    assert seqs_of(path) == list(range(1, 401))


def test_the_writer_thread_works_off_a_backlog_larger_than_one_slice(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    writer = JsonlWriter(path, flush_records=10**9, flush_interval_s=3600)
    for seq in range(1, 20_001):  # nothing wakes the writer until close: one backlog of 20,000 records
        writer.write(record(seq))
    writer.close()
    assert seqs_of(path) == list(range(1, 20_001))


def test_a_torn_last_line_is_cut_with_a_warning_and_seq_continues(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "t.jsonl"
    whole = write_file(path, range(1, 4))
    fragment = orjson.dumps(record(4))[:37]
    path.write_bytes(whole + fragment)
    with caplog.at_level(logging.WARNING):
        writer = JsonlWriter(path, append=True)
    assert writer.last_seq == 3
    assert writer.cut_bytes == len(fragment)
    assert f"{path}: cut {len(fragment)} bytes" in caplog.text
    writer.write(record(writer.last_seq + 1))
    writer.close()
    assert seqs_of(path) == [1, 2, 3, 4]


def test_a_file_that_is_only_a_torn_fragment_starts_again_at_seq_0(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    path.write_bytes(b'{"schema_version":1,"se')
    writer = JsonlWriter(path, append=True)
    writer.close()
    assert (writer.last_seq, writer.cut_bytes, path.read_bytes()) == (0, 23, b"")


def test_a_newline_ended_garbage_last_line_is_cut_too(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    whole = write_file(path, range(1, 6))
    path.write_bytes(whole + b"\x00\x00\x00\x00\n")
    writer = JsonlWriter(path, append=True)
    writer.close()
    assert writer.last_seq == 5
    assert path.read_bytes() == whole


def test_two_bad_lines_at_the_end_are_damage_named_by_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    whole = write_file(path, range(1, 6))
    path.write_bytes(whole + b"garbage\nmore garbage\n")
    with pytest.raises(TelemetryFileError, match=rf"{path.name}: line 6: "):
        JsonlWriter(path, append=True)
    assert path.read_bytes() == whole + b"garbage\nmore garbage\n"  # nothing cut


def test_a_corrupt_line_in_the_middle_is_an_error_naming_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    lines = write_file(path, range(1, 6)).splitlines(keepends=True)
    lines[2] = b'{"seq": 3, "event": "fi\n'
    path.write_bytes(b"".join(lines))
    with pytest.raises(TelemetryFileError, match=rf"{path.name}: line 3: not valid JSON"):
        list(iter_records(path))


def test_append_to_a_missing_file_starts_at_seq_0(tmp_path: Path) -> None:
    writer = JsonlWriter(tmp_path / "new.jsonl", append=True)
    writer.close()
    assert writer.last_seq == 0
    assert lines_of(tmp_path / "new.jsonl") == []
