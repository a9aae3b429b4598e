"""The feeder turns flushed telemetry into outbox messages in seq order, with no gap and no repeat, whether the
records were handed over, partly handed over (a full buffer refused a batch) or never handed over at all."""

from __future__ import annotations

from pathlib import Path

import orjson

from imperium_desk.feedback.webhooks.feeder import RecordFeeder
from imperium_desk.feedback.webhooks.outbox import Outbox, Subscriber
from imperium_desk.feedback.webhooks.source import JsonlSource
from imperium_desk.telemetry.jsonl import JsonlWriter

SUB = Subscriber("s1", "http://127.0.0.1:1/h", "whsec_x", None, "api", "active")


class Log:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.flushed = 0

    def write(self, first: int, last: int) -> tuple[list[dict[str, object]], list[bytes]]:
        writer = JsonlWriter(self.path, append=True, fsync=False)
        records: list[dict[str, object]] = [
            {"schema_version": 1, "seq": s, "event": "fill", "timestamp": "2026-11-23T03:45:00Z"}
            for s in range(first, last + 1)
        ]
        for record in records:
            writer.write(record)
        writer.close()
        self.flushed = last
        return records, [orjson.dumps(r) + b"\n" for r in records]

    def source(self) -> JsonlSource:
        return JsonlSource(self.path, lambda: self.flushed)


def feeder(tmp_path: Path, log: Log, buffer_records: int = 1000) -> tuple[RecordFeeder, Outbox]:
    outbox = Outbox(tmp_path / "o.sqlite")
    feed = RecordFeeder(outbox, log.source(), "d", lambda: [SUB], buffer_records=buffer_records)
    feed.start()
    return feed, outbox


def drain(feed: RecordFeeder) -> None:
    while feed.step()[0]:
        pass
    feed.step()


def queued_seqs(outbox: Outbox) -> list[int]:
    return [int(d.msg_id.rsplit("_", 1)[1]) for d in outbox.pending(SUB.id, 100_000)]


def test_handed_batches_are_stored_in_seq_order(tmp_path: Path) -> None:
    log = Log(tmp_path / "t.jsonl")
    feed, outbox = feeder(tmp_path, log)
    records, lines = log.write(1, 30)
    feed.hand(records[:10], lines[:10])
    feed.hand(records[10:], lines[10:])
    drain(feed)
    assert queued_seqs(outbox) == list(range(1, 31)) and outbox.fed_seq() == 30


def test_a_batch_the_full_buffer_refused_is_read_back_from_the_log(tmp_path: Path) -> None:
    log = Log(tmp_path / "t.jsonl")
    feed, outbox = feeder(tmp_path, log, buffer_records=20)
    records, lines = log.write(1, 45)
    assert feed.hand(records[:15], lines[:15])
    assert not feed.hand(records[15:30], lines[15:30])  # over the bound: refused
    feed.step()  # 1..15 stored; 31..45 not yet handed
    assert feed.hand(records[30:], lines[30:])
    drain(feed)
    assert queued_seqs(outbox) == list(range(1, 46))


def test_records_never_handed_over_are_read_from_the_log(tmp_path: Path) -> None:
    log = Log(tmp_path / "t.jsonl")
    feed, outbox = feeder(tmp_path, log)
    log.write(1, 2500)  # more than one step's worth
    drain(feed)
    assert queued_seqs(outbox) == list(range(1, 2501))


def test_records_handed_twice_are_stored_once(tmp_path: Path) -> None:
    log = Log(tmp_path / "t.jsonl")
    feed, outbox = feeder(tmp_path, log)
    records, lines = log.write(1, 10)
    feed.hand(records, lines)
    drain(feed)
    feed.hand(records, lines)
    drain(feed)
    assert queued_seqs(outbox) == list(range(1, 11))


def test_a_record_handed_before_the_log_reports_it_flushed_waits(tmp_path: Path) -> None:
    log = Log(tmp_path / "t.jsonl")
    feed, outbox = feeder(tmp_path, log)
    records, lines = log.write(1, 5)
    log.flushed = 3
    feed.hand(records, lines)
    drain(feed)
    assert queued_seqs(outbox) == [1, 2, 3]
    log.flushed = 5
    drain(feed)
    assert queued_seqs(outbox) == [1, 2, 3, 4, 5]


def test_a_new_outbox_starts_after_the_log_it_finds(tmp_path: Path) -> None:
    log = Log(tmp_path / "t.jsonl")
    log.write(1, 40)
    feed, outbox = feeder(tmp_path, log)
    log.write(41, 42)
    drain(feed)
    assert queued_seqs(outbox) == [41, 42]


def test_a_reopened_outbox_continues_after_its_fed_seq(tmp_path: Path) -> None:
    log = Log(tmp_path / "t.jsonl")
    feed, outbox = feeder(tmp_path, log)
    log.write(1, 10)
    drain(feed)
    outbox.close()
    log.write(11, 20)
    feed, outbox = feeder(tmp_path, log)
    drain(feed)
    assert queued_seqs(outbox) == list(range(1, 21))
