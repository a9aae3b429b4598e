"""The durable webhook outbox: subscribers, messages and their deliveries in one SQLite file (WAL).

A message (a telemetry record, or something published directly) is stored once; each subscriber it is for gets a
delivery row, removed once the subscriber acknowledged it with a 2xx. A delivery that ran out of attempts stays
as a dead letter until it is redelivered or its subscriber removed; a message no delivery refers to is deleted.
`fed_seq` is the last telemetry seq turned into messages: it moves in the same transaction as the messages, so
after any stop or crash the outbox continues exactly after it (nothing lost, nothing enqueued twice).

Not thread-safe: one thread (the service's outbox thread) owns the connection and makes every call.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Final, Literal

import orjson

from imperium_desk.feedback.webhooks.views import DeadLetterView, SubscriberView
from imperium_desk.telemetry.sinks import Record

SCHEMA_VERSION: Final = 1

_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS subscribers (
    id TEXT PRIMARY KEY,
    url TEXT NOT NULL,
    secret TEXT NOT NULL,
    events TEXT,
    origin TEXT NOT NULL,
    state TEXT NOT NULL,
    disabled_reason TEXT,
    delivered INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS messages (
    pos INTEGER PRIMARY KEY AUTOINCREMENT,
    msg_id TEXT NOT NULL UNIQUE,
    event TEXT NOT NULL,
    seq INTEGER,
    body BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS deliveries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    subscriber_id TEXT NOT NULL,
    pos INTEGER NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL DEFAULT 0,
    last_status INTEGER,
    last_error TEXT,
    dead_at REAL,
    UNIQUE (subscriber_id, pos)
);
CREATE INDEX IF NOT EXISTS deliveries_queue ON deliveries(subscriber_id, state, pos);
CREATE INDEX IF NOT EXISTS deliveries_pos ON deliveries(pos);
"""
_FED_SEQ: Final = "fed_seq"


@dataclass(frozen=True, slots=True)
class Subscriber:
    """A subscriber as the outbox stores it, from the config file or added over the API. `secret` is its signing key as
    given (`whsec_…`), `events` the event names it wants (None: every event); a disabled subscriber gets no new
    deliveries."""

    id: str
    url: str
    secret: str
    events: frozenset[str] | None
    origin: Literal["config", "api"]
    state: Literal["active", "disabled"]

    def wants(self, event: str) -> bool:
        return self.state == "active" and (self.events is None or event in self.events)


@dataclass(frozen=True, slots=True)
class Delivery:
    """One message waiting for one subscriber, as the dispatcher reads it: `pos` is the message's place in outbox order,
    `attempts` those made so far, `body` the payload exactly as every attempt sends it."""

    id: int
    pos: int
    attempts: int
    next_attempt_at: float  # epoch seconds
    msg_id: str
    body: bytes


@dataclass(frozen=True, slots=True)
class Message:
    """One payload to deliver, stored once however many subscribers get it. `msg_id` is the id receivers deduplicate on;
    `seq` the telemetry record's, None for a message published directly."""

    msg_id: str
    event: str
    seq: int | None
    body: bytes


def record_message(desk_id: str, record: Record, line: bytes) -> Message:
    """A telemetry record as a Standard Webhooks payload `{type, timestamp, data}`, built around the record's own
    JSON line (no re-serialising). The id is stable per desk and seq: a retry, a restart or a redelivery resends
    the same id, which is what receivers deduplicate on."""
    event = str(record.get("event"))
    seq = int(record["seq"])
    body = b'{"type":%s,"timestamp":%s,"data":%s}' % (
        orjson.dumps(event), orjson.dumps(record.get("timestamp")), line,
    )
    return Message(f"msg_{desk_id}_{seq}", event, seq, body)


def iso(epoch: float | None) -> str:
    return datetime.fromtimestamp(epoch or 0.0, UTC).isoformat().replace("+00:00", "Z")


class Outbox:
    """The outbox file of one desk (module docstring). Opened and called only on the outbox thread: every call blocks on
    SQLite, waiting up to 5 s for a lock another connection holds. A new file is readable by its owner only, since it
    holds the subscribers' secrets; a file of another schema version is refused (`sqlite3.DatabaseError`)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists():
            # It holds the subscribers' secrets: readable by the desk's user only, from the first byte.
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        self._conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=5.0)
        try:
            version = self._conn.execute("PRAGMA user_version").fetchone()[0]
            if version not in (0, SCHEMA_VERSION):
                raise sqlite3.DatabaseError(
                    f"{path}: outbox schema version {version}, this desk reads {SCHEMA_VERSION}"
                )
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: a commit survives a process crash
            self._conn.executescript(_SCHEMA)
            self._conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        except BaseException:
            self._conn.close()
            raise

    def close(self) -> None:
        self._conn.close()

    # -- the telemetry position -------------------------------------------------------------------------------
    def fed_seq(self) -> int | None:
        """The last telemetry seq turned into messages; None for an outbox that has never been fed."""
        row = self._conn.execute("SELECT value FROM meta WHERE key = ?", (_FED_SEQ,)).fetchone()
        return None if row is None else int(row[0])

    def set_fed_seq(self, seq: int) -> None:
        self._conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (_FED_SEQ, seq))

    # -- messages ---------------------------------------------------------------------------------------------
    def enqueue(
        self, messages: Sequence[Message], subscribers: Sequence[Subscriber], fed_seq: int | None = None,
    ) -> set[str]:
        """Store the messages with a delivery for each subscriber that wants them (and `fed_seq`, if given) in one
        transaction; a message id already stored is skipped. Returns the subscribers that got deliveries."""
        conn = self._conn
        touched: set[str] = set()
        conn.execute("BEGIN IMMEDIATE")
        try:
            for message in messages:
                targets = [s.id for s in subscribers if s.wants(message.event)]
                if not targets:
                    continue
                cursor = conn.execute(
                    "INSERT OR IGNORE INTO messages (msg_id, event, seq, body) VALUES (?, ?, ?, ?)",
                    (message.msg_id, message.event, message.seq, message.body),
                )
                if cursor.rowcount == 0:
                    continue  # stored before (a publish retried): its deliveries exist already
                pos = cursor.lastrowid
                conn.executemany(
                    "INSERT INTO deliveries (subscriber_id, pos, state) VALUES (?, ?, 'pending')",
                    [(sub_id, pos) for sub_id in targets],
                )
                touched.update(targets)
            if fed_seq is not None:
                self.set_fed_seq(fed_seq)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return touched

    # -- deliveries -------------------------------------------------------------------------------------------
    def pending(self, subscriber_id: str, limit: int) -> list[Delivery]:
        """The subscriber's next deliveries in order (the first may be waiting for its retry time)."""
        rows = self._conn.execute(
            "SELECT d.id, d.pos, d.attempts, d.next_attempt_at, m.msg_id, m.body FROM deliveries d"
            " JOIN messages m ON m.pos = d.pos WHERE d.subscriber_id = ? AND d.state = 'pending'"
            " ORDER BY d.pos LIMIT ?",
            (subscriber_id, limit),
        ).fetchall()
        return [Delivery(*row) for row in rows]

    def acknowledge(self, done: Iterable[tuple[str, int, int]]) -> None:
        """(subscriber id, delivery id, message pos) delivered: the rows go, and messages nobody else waits for."""
        done = list(done)
        if not done:
            return
        conn = self._conn
        counts: dict[str, int] = {}
        for sub_id, _, _ in done:
            counts[sub_id] = counts.get(sub_id, 0) + 1
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.executemany("DELETE FROM deliveries WHERE id = ?", [(d,) for _, d, _ in done])
            conn.executemany(
                "DELETE FROM messages WHERE pos = ? AND NOT EXISTS (SELECT 1 FROM deliveries WHERE pos = ?)",
                [(pos, pos) for _, _, pos in done],
            )
            conn.executemany(
                "UPDATE subscribers SET delivered = delivered + ?, last_error = NULL WHERE id = ?",
                [(n, sub_id) for sub_id, n in counts.items()],
            )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def retry_later(self, delivery_id: int, attempts: int, at: float, status: int | None, error: str) -> None:
        self._conn.execute(
            "UPDATE deliveries SET attempts = ?, next_attempt_at = ?, last_status = ?, last_error = ? WHERE id = ?",
            (attempts, at, status, error, delivery_id),
        )
        self._conn.execute(
            "UPDATE subscribers SET last_error = ? WHERE id = (SELECT subscriber_id FROM deliveries WHERE id = ?)",
            (error, delivery_id),
        )

    def kill(self, delivery_id: int, attempts: int, now: float, status: int | None, error: str) -> None:
        """The delivery is a dead letter: its subscriber moves on to the next one."""
        self._conn.execute(
            "UPDATE deliveries SET state = 'dead', attempts = ?, dead_at = ?, last_status = ?, last_error = ?"
            " WHERE id = ?",
            (attempts, now, status, error, delivery_id),
        )
        self._conn.execute(
            "UPDATE subscribers SET last_error = ? WHERE id = (SELECT subscriber_id FROM deliveries WHERE id = ?)",
            (error, delivery_id),
        )

    def dead_letters(self, limit: int) -> list[DeadLetterView]:
        rows = self._conn.execute(
            "SELECT d.id, d.subscriber_id, s.url, m.msg_id, m.event, m.seq, d.attempts, d.last_status, d.last_error,"
            " d.dead_at FROM deliveries d JOIN messages m ON m.pos = d.pos JOIN subscribers s ON s.id = d.subscriber_id"
            " WHERE d.state = 'dead' ORDER BY d.dead_at, d.id LIMIT ?",
            (limit,),
        ).fetchall()
        return [
            DeadLetterView(id=r[0], subscriber_id=r[1], url=r[2], message_id=r[3], event=r[4], seq=r[5],
                           attempts=r[6], last_status=r[7], last_error=r[8], dead_at=iso(r[9]))
            for r in rows
        ]

    def redeliver(self, delivery_id: int, now: float) -> str | None:
        """Put a dead letter back in its subscriber's queue with fresh attempts; its subscriber id, or None if there
        is no such dead letter. It goes out before the deliveries after it (order is by message position)."""
        row = self._conn.execute(
            "UPDATE deliveries SET state = 'pending', attempts = 0, next_attempt_at = ?, dead_at = NULL"
            " WHERE id = ? AND state = 'dead' RETURNING subscriber_id",
            (now, delivery_id),
        ).fetchone()
        return None if row is None else str(row[0])

    # -- subscribers ------------------------------------------------------------------------------------------
    def subscribers(self) -> list[Subscriber]:
        rows = self._conn.execute(
            "SELECT id, url, secret, events, origin, state FROM subscribers ORDER BY created_at, id"
        ).fetchall()
        return [
            Subscriber(r[0], r[1], r[2], None if r[3] is None else frozenset(orjson.loads(r[3])), r[4], r[5])
            for r in rows
        ]

    def views(self) -> list[SubscriberView]:
        counts: dict[tuple[str, str], int] = {
            (sub_id, state): n
            for sub_id, state, n in self._conn.execute(
                "SELECT subscriber_id, state, COUNT(*) FROM deliveries GROUP BY subscriber_id, state"
            )
        }
        rows = self._conn.execute(
            "SELECT id, url, events, origin, state, disabled_reason, delivered, last_error, created_at"
            " FROM subscribers ORDER BY created_at, id"
        ).fetchall()
        return [
            SubscriberView(
                id=r[0], url=r[1], events=None if r[2] is None else orjson.loads(r[2]), origin=r[3], state=r[4],
                disabled_reason=r[5], pending=counts.get((r[0], "pending"), 0), dead=counts.get((r[0], "dead"), 0),
                delivered=r[6], last_error=r[7], created_at=iso(r[8]),
            )
            for r in rows
        ]

    def put_subscriber(
        self, sub_id: str, url: str, secret: str, events: Sequence[str] | None, origin: str, now: float,
    ) -> None:
        """Insert, or update url/secret/events of an existing one (a config entry whose secret changed)."""
        encoded = None if events is None else orjson.dumps(list(events)).decode()
        self._conn.execute(
            "INSERT INTO subscribers (id, url, secret, events, origin, state, created_at)"
            " VALUES (?, ?, ?, ?, ?, 'active', ?)"
            " ON CONFLICT (id) DO UPDATE SET url = excluded.url, secret = excluded.secret, events = excluded.events",
            (sub_id, url, secret, encoded, origin, now),
        )

    def disable(self, sub_id: str, reason: str) -> None:
        self._conn.execute(
            "UPDATE subscribers SET state = 'disabled', disabled_reason = ?, last_error = ? WHERE id = ?",
            (reason, reason, sub_id),
        )

    def enable(self, sub_id: str) -> bool:
        cursor = self._conn.execute(
            "UPDATE subscribers SET state = 'active', disabled_reason = NULL WHERE id = ?", (sub_id,)
        )
        return cursor.rowcount > 0

    def remove(self, sub_id: str) -> bool:
        """Delete the subscriber, its deliveries and the messages only it was waiting for."""
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            found = conn.execute("DELETE FROM subscribers WHERE id = ?", (sub_id,)).rowcount > 0
            conn.execute(
                "DELETE FROM messages WHERE pos IN (SELECT pos FROM deliveries WHERE subscriber_id = ?)"
                " AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.pos = messages.pos AND d.subscriber_id != ?)",
                (sub_id, sub_id),
            )
            conn.execute("DELETE FROM deliveries WHERE subscriber_id = ?", (sub_id,))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return found
