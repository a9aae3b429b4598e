"""Turns flushed telemetry into outbox messages, gap-free, from batches handed over live or read back from the log.

The desk hands over each batch the JSONL has flushed (`hand`: any thread, never blocks: a deque append). The
outbox thread (`step`) stores them after `fed_seq`. Whatever it was not handed (the desk was running before the
service started, the bounded buffer overflowed, the service was stopped for a while) it reads back from the log:
whenever the next record it holds is not right after `fed_seq`, or it holds nothing while the log's `flushed_seq`
is ahead, the records in between come from the source. So the hand-over is an optimisation (no re-reading), not
what correctness rests on: a desk that never hands anything still gets every record, one poll later.
"""

from __future__ import annotations

import itertools
import threading
from collections import deque
from collections.abc import Callable, Sequence
from typing import Final

from imperium_desk.feedback.webhooks.outbox import Message, Outbox, Subscriber, record_message
from imperium_desk.feedback.webhooks.source import TelemetrySource
from imperium_desk.telemetry.sinks import Record

BUFFER_RECORDS: Final = 100_000  # handed records held in memory at most; past it they are read back from the log
STEP_RECORDS: Final = 2_000  # records per outbox transaction: bounds how long a call waits behind a step


class RecordFeeder:
    """The hand-over from the telemetry log to the outbox (module docstring). `hand` may be called from any thread and
    never blocks; `start` and `step` run on the outbox thread only, where the outbox lives. The records handed over are
    kept, not copied: a caller must not change them afterwards."""

    def __init__(
        self, outbox: Outbox, source: TelemetrySource, desk_id: str,
        subscribers: Callable[[], Sequence[Subscriber]], *, buffer_records: int = BUFFER_RECORDS,
    ) -> None:
        self._outbox = outbox
        self._source = source
        self._desk_id = desk_id
        self._subscribers = subscribers
        self._cap = buffer_records
        self._lock = threading.Lock()
        self._buffer: deque[tuple[Record, bytes]] = deque()
        self._fed = 0

    def start(self) -> int:
        """Load `fed_seq`; a new outbox starts at the log's current end (history before it is not sent)."""
        fed = self._outbox.fed_seq()
        if fed is None:
            fed = self._source.flushed_seq()
            self._outbox.set_fed_seq(fed)
        self._fed = fed
        return fed

    @property
    def fed_seq(self) -> int:
        return self._fed

    def hand(self, records: Sequence[Record], lines: Sequence[bytes]) -> bool:
        """A batch the JSONL has flushed (lines with or without their newline). False if it was not kept (the
        buffer is full: it is read back from the log instead)."""
        with self._lock:
            if len(self._buffer) + len(records) > self._cap:
                return False
            self._buffer.extend(zip(records, lines, strict=True))
        return True

    def step(self) -> tuple[bool, set[str]]:
        """Store the next run of records: (more may be waiting, subscribers that got deliveries)."""
        fed = self._fed
        upto = self._source.flushed_seq()
        held = self._take(fed, upto)
        run = 0  # the records held that follow fed_seq without a gap (a batch the full buffer refused leaves one)
        while run < len(held) and held[run][0]["seq"] == fed + 1 + run:
            run += 1
        if run:
            touched = self._store(held[:run], fed + run)
            self._give_back(held[run:])
            return run < len(held) or len(held) >= STEP_RECORDS, touched
        self._give_back(held)
        if upto <= fed:
            return False, set()
        # A gap before what is held (or nothing held): read it from the log, at most one step's worth.
        end = min(upto, held[0][0]["seq"] - 1) if held else upto
        read = list(itertools.islice(self._source.read(fed, end), STEP_RECORDS))
        # The whole gap read: fed moves to its end even if seqs were missing in it (none are in a desk's log).
        last = end if len(read) < STEP_RECORDS else read[-1][0]["seq"]
        touched = self._store(read, last)
        return True, touched

    def _take(self, fed: int, upto: int) -> list[tuple[Record, bytes]]:
        taken: list[tuple[Record, bytes]] = []
        with self._lock:
            buffer = self._buffer
            while buffer and len(taken) < STEP_RECORDS:
                seq = buffer[0][0]["seq"]
                if seq > upto:
                    break  # handed before the source says it is flushed: wait until it does
                item = buffer.popleft()
                if seq > fed:
                    taken.append(item)
        return taken

    def _give_back(self, held: list[tuple[Record, bytes]]) -> None:
        if held:
            with self._lock:
                self._buffer.extendleft(reversed(held))

    def _store(self, items: Sequence[tuple[Record, bytes]], fed_seq: int) -> set[str]:
        messages = [record_message(self._desk_id, record, line.rstrip(b"\n")) for record, line in items]
        touched = self._outbox.enqueue(messages, self._subscribers(), fed_seq=fed_seq)
        self._fed = fed_seq
        return touched

    def publish(self, message: Message) -> set[str]:
        return self._outbox.enqueue([message], self._subscribers())
