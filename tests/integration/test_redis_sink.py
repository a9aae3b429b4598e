"""The Redis Streams sink against a real redis-server on loopback (tests/redis_server.py)."""

from __future__ import annotations

import contextlib
import itertools
import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from imperium_desk.telemetry.config import TelemetryConfig
from imperium_desk.telemetry.factory import build_secondaries
from imperium_desk.telemetry.hub import TelemetryHub
from imperium_desk.telemetry.redis_stream import RedisStreamSink, StreamConsumer, StreamEntry, high_water_key
from imperium_desk.telemetry.secondary import SinkStatus
from imperium_desk.telemetry.sinks import SinkUnavailable
from tests.redis_server import RedisServer

STREAM = "imperium:test"
REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "imperium_desk" / "configs" / "scenarios" / "demo.yaml"
HANG_GUARD_S = 60.0  # turns a hang into a failure; no test asserts how fast anything is


def records(first: int, last: int, desk: str = "A") -> tuple[list[dict[str, Any]], list[bytes]]:
    """Records seq first..last (inclusive) shaped like the engine's, with their JSONL lines."""
    made = [
        {"schema_version": 1, "seq": seq, "event": ("placed", "ack", "fill")[seq % 3], "mode": "replay",
         "asset": "NIFTY26NOV26000CE", "qty": 75, "extra_metrics": {"desk": desk, "note": "ü"}}
        for seq in range(first, last + 1)
    ]
    return made, [orjson.dumps(r) for r in made]


def entries(server: RedisServer, stream: str = STREAM) -> list[StreamEntry]:
    with StreamConsumer(server.url, stream, page=97) as consumer:
        return list(consumer)


@contextlib.contextmanager
def opened(server: RedisServer, desk: str = "A", **options: int) -> Iterator[RedisStreamSink]:
    sink = RedisStreamSink(server.url, STREAM, desk, **options)
    sink.open()
    try:
        yield sink
    finally:
        sink.close()


@pytest.fixture
def sink(redis_server: RedisServer) -> Iterator[RedisStreamSink]:
    with opened(redis_server) as opened_sink:
        yield opened_sink


def test_records_come_back_from_the_stream_byte_for_byte_with_desk_seq_and_event(
    redis_server: RedisServer, sink: RedisStreamSink
) -> None:
    batch, lines = records(1, 40)
    sink.write(batch, lines)
    got = entries(redis_server)
    assert [(e.desk, e.seq, e.event, e.record) for e in got] == [("A", r["seq"], r["event"], r) for r in batch]
    raw = redis_server.client().xrange(STREAM) or []
    assert [fields[b"record"] for _id, fields in raw if fields is not None] == lines


def test_a_new_desk_opens_at_zero_and_a_desk_that_wrote_opens_at_its_last_seq(redis_server: RedisServer) -> None:
    first = RedisStreamSink(redis_server.url, STREAM, "A")
    assert first.open() == 0
    first.write(*records(1, 25))
    first.close()
    assert RedisStreamSink(redis_server.url, STREAM, "A").open() == 25
    assert RedisStreamSink(redis_server.url, STREAM, "B").open() == 0


def test_a_batch_resent_after_a_reconnect_adds_only_the_seqs_not_yet_stored(
    redis_server: RedisServer, sink: RedisStreamSink
) -> None:
    sink.write(*records(1, 30))
    sink.close()  # as after a lost reply: the hub re-opens and sends the batch again, with newer records
    assert sink.open() == 30
    sink.write(*records(1, 30))
    sink.write(*records(21, 50))
    assert [e.seq for e in entries(redis_server)] == list(range(1, 51))


def test_batches_larger_than_a_chunk_and_a_round_trip_arrive_complete_and_in_order(
    redis_server: RedisServer,
) -> None:
    with opened(redis_server, chunk_records=7, pipeline_chunks=3) as sink:
        sink.write(*records(1, 1000))
        sink.write(*records(995, 1010))  # overlaps the end of a chunk
    assert [e.seq for e in entries(redis_server)] == list(range(1, 1011))


def test_two_desks_in_one_stream_keep_their_own_seq_and_high_water_mark(redis_server: RedisServer) -> None:
    with opened(redis_server, "A") as a, opened(redis_server, "B") as b:
        a.write(*records(1, 10, "A"))
        b.write(*records(1, 5, "B"))
        a.write(*records(11, 20, "A"))
        b.write(*records(1, 8, "B"))
    got = entries(redis_server)
    assert [e.seq for e in got if e.desk == "A"] == list(range(1, 21))
    assert [e.seq for e in got if e.desk == "B"] == list(range(1, 9))
    assert int(redis_server.client().get(high_water_key(STREAM, "B")) or 0) == 8


def test_open_on_a_stopped_server_raises_sink_unavailable(redis_server: RedisServer) -> None:
    redis_server.stop()
    with pytest.raises(SinkUnavailable, match=f"127.0.0.1:{redis_server.port}"):
        RedisStreamSink(redis_server.url, STREAM, "A").open()


def test_write_to_a_stopped_server_raises_sink_unavailable_and_needs_a_new_open(
    redis_server: RedisServer, sink: RedisStreamSink
) -> None:
    sink.write(*records(1, 3))
    redis_server.stop()
    with pytest.raises(SinkUnavailable):
        sink.write(*records(4, 6))
    redis_server.start()
    with pytest.raises(SinkUnavailable, match="not open"):
        sink.write(*records(4, 6))  # the hub must learn the mark again before sending more
    assert sink.open() == 3


def test_open_against_a_server_that_never_answers_gives_the_thread_back_with_sink_unavailable() -> None:
    # A listening socket nobody serves: the connection succeeds (kernel backlog) and PING gets no reply.
    # Without the sink's socket timeout, open() would hang the hub's thread for good.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        outcome: list[BaseException | int] = []

        def attempt() -> None:
            try:
                outcome.append(RedisStreamSink(f"redis://127.0.0.1:{port}/0", STREAM, "A").open())
            except BaseException as exc:  # handed to the test thread to assert on
                outcome.append(exc)

        thread = threading.Thread(target=attempt, daemon=True)
        thread.start()
        thread.join(timeout=60)  # a hang guard, not a speed check: the sink's own timeout is 1 s
    assert not thread.is_alive(), "open() did not return"
    assert len(outcome) == 1 and isinstance(outcome[0], SinkUnavailable), outcome


def test_a_foreign_value_under_the_high_water_key_is_refused_not_overwritten(redis_server: RedisServer) -> None:
    redis_server.client().set(high_water_key(STREAM, "A"), "not-a-seq")
    with pytest.raises(SinkUnavailable, match="not a seq"):
        RedisStreamSink(redis_server.url, STREAM, "A").open()
    assert redis_server.client().get(high_water_key(STREAM, "A")) == b"not-a-seq"


def test_a_consumer_resumes_after_the_last_entry_it_read(redis_server: RedisServer, sink: RedisStreamSink) -> None:
    sink.write(*records(1, 10))
    with StreamConsumer(redis_server.url, STREAM, page=4) as consumer:
        assert [e.seq for e in itertools.islice(consumer.entries(), 6)] == [1, 2, 3, 4, 5, 6]
        resume_at = consumer.last_id
    sink.write(*records(11, 12))
    with StreamConsumer(redis_server.url, STREAM, after_id=resume_at) as consumer:
        assert [e.seq for e in consumer] == [7, 8, 9, 10, 11, 12]


def test_a_following_consumer_yields_entries_written_after_it_started_waiting(
    redis_server: RedisServer, sink: RedisStreamSink
) -> None:
    sink.write(*records(1, 2))
    with StreamConsumer(redis_server.url, STREAM, block_ms=50) as consumer:
        follow = consumer.entries(follow=True)
        assert [next(follow).seq, next(follow).seq] == [1, 2]
        writer = threading.Thread(target=sink.write, args=records(3, 5))
        writer.start()  # the consumer is (or soon will be) blocked in XREAD when these land
        assert [next(follow).seq for _ in range(3)] == [3, 4, 5]
        writer.join()


def test_records_survive_a_managed_restart_and_the_mark_with_them(
    redis_server: RedisServer, sink: RedisStreamSink
) -> None:
    sink.write(*records(1, 10))
    redis_server.restart()  # SHUTDOWN SAVE, then the same port and directory
    assert sink.open() == 10
    sink.write(*records(1, 12))
    assert [e.seq for e in entries(redis_server)] == list(range(1, 13))


# -- through the telemetry hub ------------------------------------------------------------------------------
def wait_for(condition: Callable[[], bool], what: str) -> None:
    """Poll until `condition` holds. The deadline only turns a hang into a failure; it measures nothing."""
    deadline = time.monotonic() + HANG_GUARD_S
    while not condition():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.01)


def redis_status(hub: TelemetryHub) -> SinkStatus:
    return next(s for s in hub.status() if s.name == "redis")


class Feeder:
    """The engine's side: a thread writing records through `hub.write` in a loop, counting the calls that
    returned, until told to stop."""

    def __init__(self, hub: TelemetryHub) -> None:
        self.hub = hub
        self.returned = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Feeder:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            for _ in range(20):
                seq = self.returned + 1
                self.hub.write({"schema_version": 1, "seq": seq, "event": "fill", "mode": "paper",
                                "timestamp": "2026-11-23T03:45:00.125000Z", "qty": seq % 7})
                self.returned = seq
            time.sleep(0.001)  # a few thousand records a second, like a busy desk


def test_redis_stopped_and_restarted_under_flowing_records_gets_every_record_once_and_in_order(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    config = TelemetryConfig(sinks=["jsonl", "redis"], redis_url=redis_server.url, redis_stream=STREAM,
                             desk_id="desk-1", flush_interval_ms=20, fsync=False, sink_buffer_records=500)
    log = tmp_path / "execution_quality_paper.jsonl"
    hub = TelemetryHub(log, config, build_secondaries(config, log), append=True, rotate=False)
    try:
        with Feeder(hub) as feeder:
            wait_for(lambda: redis_status(hub).state == "live" and redis_status(hub).stored_seq > 500,
                     "the stream to take records")
            redis_server.stop()  # SHUTDOWN SAVE: what the stream held comes back with the restart
            down_at = feeder.returned
            # While Redis is down the engine's writes keep returning and the JSONL keeps flushing them.
            wait_for(lambda: redis_status(hub).state == "down", "the hub to report the sink down")
            wait_for(lambda: hub.flushed_seq > down_at + 2000, "the JSONL to flush records written while down")
            stuck_at = redis_status(hub).stored_seq
            assert stuck_at < hub.flushed_seq and feeder.returned > down_at + 2000
            redis_server.start()
            restarted_at = feeder.returned
            wait_for(lambda: redis_status(hub).stored_seq > restarted_at, "the catch-up after the restart")
        hub.close(timeout_s=HANG_GUARD_S)
    finally:
        hub.close()
    status = redis_status(hub)
    assert (status.state, status.stored_seq) == ("live", feeder.returned)
    lines = log.read_bytes().splitlines()
    got = entries(redis_server)
    assert [e.seq for e in got] == list(range(1, feeder.returned + 1))
    assert [orjson.dumps(e.record) for e in got] == lines and {e.desk for e in got} == {"desk-1"}


# -- two desk processes ---------------------------------------------------------------------------------------
def test_two_desk_processes_feed_one_stream_complete_and_in_per_desk_seq_order(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    runs = {}
    for desk in ("desk-east", "desk-west"):
        config = tmp_path / f"{desk}.yaml"
        config.write_text(
            "telemetry:\n"
            "  sinks: [jsonl, redis]\n"
            f"  redis_url: {redis_server.url}\n"
            f"  redis_stream: {STREAM}\n"
            f"  desk_id: {desk}\n",
            encoding="utf-8",
        )
        out = tmp_path / desk
        runs[desk] = (out, subprocess.Popen(
            [sys.executable, "-m", "imperium_desk", "replay", str(DEMO), "--out", str(out), "--config", str(config),
             "--home", str(tmp_path / f"{desk}-home")],
            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        ))
    for desk, (_out, process) in runs.items():
        stdout, stderr = process.communicate(timeout=HANG_GUARD_S * 4)
        assert process.returncode == 0, f"{desk}: {stdout}\n{stderr}"
    got = entries(redis_server)
    assert len({e.desk for e in got}) == 2
    for desk, (out, _process) in runs.items():
        lines = (out / "telemetry.jsonl").read_bytes().splitlines()
        run = json.loads((out / "run.json").read_text())
        mine = [e for e in got if e.desk.startswith(f"{desk}/{run['id']}:{run['seed']}:")]  # a replay's own id
        assert len(lines) > 50
        assert [orjson.dumps(e.record) for e in mine] == lines
        assert [e.seq for e in mine] == [orjson.loads(line)["seq"] for line in lines]


def test_a_replay_with_another_seed_into_the_same_folder_is_a_producer_of_its_own(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(f"telemetry:\n  sinks: [jsonl, redis]\n  redis_url: {redis_server.url}\n"
                      f"  redis_stream: {STREAM}\n  desk_id: d\n", encoding="utf-8")
    out = tmp_path / "out"
    for seed in ("7", "8"):
        done = subprocess.run(
            [sys.executable, "-m", "imperium_desk", "replay", str(DEMO), "--out", str(out), "--config", str(config),
             "--seed", seed, "--quiet", "--home", str(tmp_path / "home")],
            cwd=REPO, capture_output=True, text=True, timeout=HANG_GUARD_S * 4, check=False,
        )
        assert done.returncode == 0, done.stderr
    got = entries(redis_server)
    second = (out / "telemetry.jsonl").read_bytes().splitlines()
    assert len({e.desk for e in got}) == 2
    assert [orjson.dumps(e.record) for e in got if ":8:" in e.desk] == second
