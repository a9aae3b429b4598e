"""The telemetry hub: secondary sinks that fail or fall behind still end with every record exactly once, in order."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import orjson
import pytest

from imperium_desk.telemetry.config import TelemetryConfig
from imperium_desk.telemetry.hub import TelemetryHub
from imperium_desk.telemetry.sinks import SinkUnavailable
from tests.telemetry_support import record, seqs_of

FAST_BACKOFF = (0.005, 0.05)


class ListSink:
    """A real secondary sink keeping (seq, line) pairs in memory; it can be taken down and held up on purpose."""

    name = "list"

    def __init__(self) -> None:
        self.stored: list[tuple[int, bytes]] = []
        self.up = threading.Event()
        self.up.set()
        self.gate = threading.Event()  # write() waits here; set = no waiting
        self.gate.set()
        self.failures = 0
        self.opens = 0
        self.writes = 0

    def open(self) -> int:
        if not self.up.is_set():
            self.failures += 1
            raise SinkUnavailable("list sink is down")
        self.opens += 1
        return self.stored[-1][0] if self.stored else 0

    def write(self, records: Sequence[dict[str, Any]], lines: Sequence[bytes]) -> None:
        self.gate.wait()
        if not self.up.is_set():
            self.failures += 1
            raise SinkUnavailable("list sink is down")
        self.writes += 1
        high = self.stored[-1][0] if self.stored else 0
        for rec, line in zip(records, lines, strict=True):
            assert orjson.loads(line) == rec  # the protocol: the record's JSONL line, no newline
            if rec["seq"] > high:
                self.stored.append((rec["seq"], line))
                high = rec["seq"]

    def close(self) -> None:
        pass

    def seqs(self) -> list[int]:
        return [s for s, _ in self.stored]


def config(**kw: Any) -> TelemetryConfig:
    base: dict[str, Any] = {"sinks": ["jsonl"], "fsync": False, "flush_interval_ms": 2, "flush_records": 50}
    return TelemetryConfig(**{**base, **kw})


def hub_for(tmp_path: Path, *sinks: ListSink, **kw: Any) -> TelemetryHub:
    cfg = kw.pop("cfg", None) or config()
    return TelemetryHub(tmp_path / "t.jsonl", cfg, sinks, append=True, rotate=False, backoff_s=FAST_BACKOFF, **kw)


def wait_for(condition: Callable[[], bool], what: str, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"never happened: {what}")
        time.sleep(0.002)


def test_a_healthy_sink_gets_every_record_once_in_order(tmp_path: Path) -> None:
    sink = ListSink()
    hub = hub_for(tmp_path, sink)
    for seq in range(1, 5001):
        hub.write(record(seq))
    hub.close()
    assert sink.seqs() == list(range(1, 5001))
    assert b"".join(line + b"\n" for _, line in sink.stored) == (tmp_path / "t.jsonl").read_bytes()


def test_a_sink_unavailable_for_a_while_ends_with_every_record_once_in_order(tmp_path: Path) -> None:
    sink = ListSink()
    hub = hub_for(tmp_path, sink)
    for seq in range(1, 1001):
        hub.write(record(seq))
    wait_for(lambda: sink.seqs()[-1:] == [1000], "the first thousand stored")
    sink.up.clear()
    for seq in range(1001, 3001):
        hub.write(record(seq))
    wait_for(lambda: hub.status()[1].state == "down", "the hub sees the sink down")
    sink.up.set()
    for seq in range(3001, 4001):
        hub.write(record(seq))
    hub.close(timeout_s=60)
    assert sink.failures > 0
    assert sink.seqs() == list(range(1, 4001))


def test_a_sink_whose_buffer_overflows_catches_up_from_the_jsonl(tmp_path: Path) -> None:
    sink = ListSink()
    sink.gate.clear()  # the sink's first write hangs until released: records pile up behind it
    hub = hub_for(tmp_path, sink, cfg=config(sink_buffer_records=100))
    for seq in range(1, 2001):
        hub.write(record(seq))
    wait_for(lambda: hub.status()[1].state == "catching_up" and hub.flushed_seq == 2000, "the buffer overflows")
    assert hub.status()[1].buffered <= 100  # bounded: the rest is read back from the JSONL
    sink.gate.set()
    for seq in range(2001, 3001):
        hub.write(record(seq))
    hub.close(timeout_s=60)
    assert sink.seqs() == list(range(1, 3001))


def test_a_sink_overflowing_while_it_catches_up_misses_nothing(tmp_path: Path) -> None:
    sink = ListSink()
    sink.up.clear()
    hub = hub_for(tmp_path, sink, cfg=config(sink_buffer_records=100))
    for seq in range(1, 5001):  # written while the sink is down: more than one catch-up write
        hub.write(record(seq))
    wait_for(lambda: hub.flushed_seq == 5000, "all flushed")
    sink.gate.clear()  # the catch-up's first write will hang ...
    sink.up.set()
    wait_for(lambda: sink.opens == 1, "the sink re-opened")
    for top in range(5050, 7001, 50):  # ... while live records overflow the buffer, in small flushed batches
        for seq in range(top - 49, top + 1):
            hub.write(record(seq))
        wait_for(lambda top=top: hub.flushed_seq == top, f"seq {top} flushed")
    assert 0 < hub.status()[1].buffered <= 100  # the buffer holds what fitted; the rest waits on disk
    sink.gate.set()
    hub.close(timeout_s=60)
    assert sink.seqs() == list(range(1, 7001))


def test_a_new_sink_catches_up_on_records_written_before_it_existed(tmp_path: Path) -> None:
    first = hub_for(tmp_path)
    for seq in range(1, 701):
        first.write(record(seq))
    first.close()
    sink = ListSink()
    hub = hub_for(tmp_path, sink)
    assert hub.last_seq == 700
    for seq in range(hub.last_seq + 1, 1001):
        hub.write(record(seq))
    hub.close()
    assert sink.seqs() == list(range(1, 1001))
    assert seqs_of(tmp_path / "t.jsonl") == list(range(1, 1001))


def test_a_sink_catching_up_across_rotated_segments_misses_none(tmp_path: Path) -> None:
    sink = ListSink()
    sink.up.clear()
    cfg = config(rotate={"max_mb": 0.01, "daily": False})
    hub = TelemetryHub(tmp_path / "t.jsonl", cfg, [sink], append=True, rotate=True, backoff_s=FAST_BACKOFF)
    for seq in range(1, 1001):  # ~1.1 kB records: a new segment every ten or so, while the sink is down
        hub.write(record(seq))
    wait_for(lambda: hub.flushed_seq == 1000, "all flushed")
    sink.up.set()
    hub.close(timeout_s=60)
    assert len(list(tmp_path.glob("t.*.jsonl"))) > 50
    assert sink.seqs() == list(range(1, 1001))


def test_close_returns_while_a_sink_stays_down_and_the_jsonl_has_everything(tmp_path: Path) -> None:
    sink = ListSink()
    sink.up.clear()
    hub = hub_for(tmp_path, sink)
    for seq in range(1, 301):
        hub.write(record(seq))
    hub.close(timeout_s=0.2)
    assert sink.seqs() == []
    assert seqs_of(tmp_path / "t.jsonl") == list(range(1, 301))


def test_close_returns_while_a_sink_hangs_inside_write(tmp_path: Path) -> None:
    sink = ListSink()
    sink.gate.clear()
    hub = hub_for(tmp_path, sink)
    for seq in range(1, 301):
        hub.write(record(seq))
    try:
        hub.close(timeout_s=0.1)
        assert seqs_of(tmp_path / "t.jsonl") == list(range(1, 301))
    finally:
        sink.gate.set()  # let the abandoned thread finish


def test_status_names_each_sink_with_its_state_and_stored_seq(tmp_path: Path) -> None:
    sink = ListSink()
    hub = hub_for(tmp_path, sink)
    for seq in range(1, 101):
        hub.write(record(seq))
    wait_for(lambda: hub.status()[1].stored_seq == 100, "the sink holds seq 100")
    jsonl, secondary = hub.status()
    assert (jsonl.name, jsonl.state, jsonl.stored_seq) == ("jsonl", "live", 100)
    assert (secondary.name, secondary.state, secondary.last_error) == ("list", "live", None)
    sink.up.clear()
    hub.write(record(101))
    wait_for(lambda: hub.status()[1].state == "down", "the sink reported down")
    assert hub.status()[1].last_error == "list sink is down"
    hub.close(timeout_s=0)


def test_close_without_a_deadline_waits_for_a_live_sink_but_gives_up_on_a_dead_one(tmp_path: Path) -> None:
    alive, dead = ListSink(), ListSink()
    dead.name = "dead"
    dead.up.clear()
    hub = hub_for(tmp_path, alive, dead)
    for seq in range(1, 2001):
        hub.write(record(seq))
    hub.close(timeout_s=None)
    assert alive.seqs() == list(range(1, 2001))
    assert dead.seqs() == []
