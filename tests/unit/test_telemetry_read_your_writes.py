"""Read-your-writes on the telemetry index: a reader's thread waits (bounded) until the SQLite index holds a seq, the
JSONL flushing at once for it instead of at its next interval; already indexed means no wait at all."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from imperium_desk.telemetry.config import TelemetryConfig
from imperium_desk.telemetry.hub import TelemetryHub
from imperium_desk.telemetry.jsonl import JsonlWriter
from imperium_desk.telemetry.sinks import SinkUnavailable
from imperium_desk.telemetry.sqlite_index import SqliteIndex
from tests.telemetry_support import record

RECORDS = 100
LIVENESS_S = 30.0  # a bound no correct run comes near: past it the behaviour under test did not happen
# The JSONL would flush on its own only after ten minutes: anything indexed sooner was flushed because a reader asked.
NEVER_ON_ITS_OWN: dict[str, Any] = {"flush_interval_ms": 600_000, "flush_records": 1_000_000}


class HeldIndex(SqliteIndex):
    """The real SQLite index, whose writes can be held at a gate: a reader can be seen waiting for them."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.gate = threading.Event()
        self.gate.set()
        self.entered = threading.Event()  # a write has started (and waits at the gate if it is closed)

    def write(self, records: Sequence[dict[str, Any]], lines: Sequence[bytes]) -> None:
        self.entered.set()
        self.gate.wait()
        super().write(records, lines)


class DownSink:
    """A secondary that never opens."""

    name = "sqlite"

    def open(self) -> int:
        raise SinkUnavailable("down")

    def write(self, records: Sequence[dict[str, Any]], lines: Sequence[bytes]) -> None:
        raise SinkUnavailable("down")

    def close(self) -> None:
        pass


def hub_with(tmp_path: Path, sink: SqliteIndex | DownSink, **telemetry: Any) -> TelemetryHub:
    config = TelemetryConfig(**{"sinks": ["jsonl"], "fsync": False, "flush_interval_ms": 2, **telemetry})
    return TelemetryHub(tmp_path / "t.jsonl", config, [sink], append=True, rotate=False, backoff_s=(60.0, 60.0))


def write_records(hub: TelemetryHub, count: int = RECORDS) -> None:
    for seq in range(1, count + 1):
        hub.write(record(seq))


def eventually(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + LIVENESS_S
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"never happened: {what}")
        time.sleep(0.002)


def indexed_seqs(index: SqliteIndex) -> list[int]:
    return [seq for seq, _ in index.reader.query_lines(limit=10 * RECORDS)]


def test_a_seq_already_indexed_is_answered_without_waiting(tmp_path: Path) -> None:
    index = SqliteIndex(tmp_path / "t.sqlite")
    hub = hub_with(tmp_path, index)
    try:
        write_records(hub)
        eventually(lambda: hub.status()[1].stored_seq == RECORDS, "the index holds every record")
        assert hub.wait_stored("sqlite", RECORDS, timeout_s=0.0)
    finally:
        hub.close()


def test_a_wait_has_the_log_flush_now_and_returns_once_the_index_holds_the_seq(tmp_path: Path) -> None:
    index = SqliteIndex(tmp_path / "t.sqlite")
    hub = hub_with(tmp_path, index, **NEVER_ON_ITS_OWN)
    try:
        write_records(hub)
        assert hub.wait_stored("sqlite", RECORDS, timeout_s=LIVENESS_S)
        assert indexed_seqs(index) == list(range(1, RECORDS + 1))
    finally:
        hub.close()


def test_a_waiting_reader_returns_only_after_the_index_stores_the_seq(tmp_path: Path) -> None:
    index = HeldIndex(tmp_path / "t.sqlite")
    index.gate.clear()
    hub = hub_with(tmp_path, index, **NEVER_ON_ITS_OWN)
    answers: list[bool] = []
    try:
        write_records(hub)
        reader = threading.Thread(target=lambda: answers.append(hub.wait_stored("sqlite", RECORDS, LIVENESS_S)))
        reader.start()
        assert index.entered.wait(LIVENESS_S)  # the flush the reader asked for reached the index, which is held
        assert answers == []
        index.gate.set()
        reader.join(LIVENESS_S)
        assert answers == [True]
        assert indexed_seqs(index) == list(range(1, RECORDS + 1))
    finally:
        index.gate.set()
        hub.close()


def test_a_wait_past_its_bound_answers_false(tmp_path: Path) -> None:
    index = HeldIndex(tmp_path / "t.sqlite")
    index.gate.clear()
    hub = hub_with(tmp_path, index)
    try:
        write_records(hub)
        assert not hub.wait_stored("sqlite", RECORDS, timeout_s=0.05)
    finally:
        index.gate.set()
        hub.close()


def test_a_wait_on_a_sink_that_is_down_answers_false_without_using_its_bound(tmp_path: Path) -> None:
    hub = hub_with(tmp_path, DownSink())
    answers: list[bool] = []
    try:
        eventually(lambda: hub.status()[1].state == "down", "the sink is down")
        write_records(hub)
        reader = threading.Thread(target=lambda: answers.append(hub.wait_stored("sqlite", RECORDS, 10 * LIVENESS_S)),
                                  daemon=True)
        reader.start()
        reader.join(LIVENESS_S)
        assert answers == [False]
    finally:
        hub.close(timeout_s=0.0)


def test_a_wait_on_a_sink_the_hub_does_not_run_answers_false(tmp_path: Path) -> None:
    hub = hub_with(tmp_path, SqliteIndex(tmp_path / "t.sqlite"))
    try:
        write_records(hub)
        assert not hub.wait_stored("redis", RECORDS, timeout_s=0.0)
    finally:
        hub.close()


def test_flush_now_acknowledges_what_is_written_before_the_next_interval(tmp_path: Path) -> None:
    writer = JsonlWriter(tmp_path / "w.jsonl", flush_interval_s=600.0, flush_records=1_000_000, fsync=True)
    try:
        for seq in range(1, RECORDS + 1):
            writer.write(record(seq))
        writer.flush_now()
        eventually(lambda: writer.flushed_seq == RECORDS, "the log acknowledges every record")
        assert len((tmp_path / "w.jsonl").read_bytes().splitlines()) == RECORDS
    finally:
        writer.close()
