"""The JSONL writer: every record written once, in order, as whole lines, by both serialisation paths."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from imperium_desk.telemetry.jsonl import JsonlWriter


@pytest.mark.parametrize("on_caller", [False, True])
def test_every_record_is_written_once_in_order(tmp_path: Path, on_caller: bool) -> None:
    path = tmp_path / "t.jsonl"
    writer = JsonlWriter(path, flush_records=7, flush_interval_s=0.001, serialize_on_caller=on_caller)
    for i in range(5000):
        writer.write({"seq": i + 1, "payload": "x" * (i % 13)})
    writer.close()
    lines = path.read_bytes().split(b"\n")
    assert lines[-1] == b""  # the file ends with a newline: no torn last line
    assert [json.loads(line)["seq"] for line in lines[:-1]] == list(range(1, 5001))
    assert writer.written == 5000


def test_records_reach_the_file_within_the_flush_interval_without_a_full_batch(tmp_path: Path) -> None:
    import time

    path = tmp_path / "t.jsonl"
    writer = JsonlWriter(path, flush_records=1000, flush_interval_s=0.01)
    writer.write({"seq": 1})
    deadline = time.monotonic() + 5.0
    while writer.written < 1 and time.monotonic() < deadline:
        time.sleep(0.005)
    assert path.read_bytes() == b'{"seq":1}\n'
    writer.close()


def test_append_mode_keeps_what_the_file_had(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    path.write_bytes(b'{"seq":1}\n')
    writer = JsonlWriter(path, append=True)
    writer.write({"seq": 2})
    writer.close()
    assert path.read_bytes() == b'{"seq":1}\n{"seq":2}\n'


def test_a_record_that_cannot_be_serialised_is_reported_on_close(tmp_path: Path) -> None:
    writer = JsonlWriter(tmp_path / "t.jsonl", flush_interval_s=0.001)
    writer.write({"bad": object()})
    with pytest.raises(RuntimeError, match="telemetry writer"):
        writer.close()
