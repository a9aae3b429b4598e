"""SQLite index of a telemetry log: every record queryable by seq, time, asset, scenario, parent and event.

One table keyed by `seq` holding the record's JSON line plus the columns the queries filter on. It is an
index, not the source of truth: it is fed records the JSONL has flushed (a secondary sink, sinks.py), catches up
from the JSONL after a gap, and `rebuild` makes it again from the files (`imperium-desk reindex`). WAL mode lets
the read API (`IndexReader`, e.g. for the REST server) read while the hub's thread writes.

Time queries: `ts` (the record's `timestamp`) need not rise with seq (a wall clock can step back), so "since T"
cannot just bisect on it. `ts_max` is the running maximum of `ts` in seq order, which does rise: the first seq
whose `ts_max` reaches T is exactly the first record with `ts` >= T, found through the `ts_max` index, and the
scan runs from there in seq order.

The index copies every record, so it is as private as the log: 0600, and SQLite's `-wal`/`-shm` with it.
"""

from __future__ import annotations

import contextlib
import gc
import itertools
import logging
import operator
import os
import sqlite3
import threading
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

import orjson

from imperium_desk.home import create_private, narrow
from imperium_desk.telemetry.segments import TelemetryFileError, first_line, iter_file, log_stem, parse_line
from imperium_desk.telemetry.sinks import Record, SinkUnavailable

log = logging.getLogger(__name__)

SCHEMA_VERSION: Final = 1  # PRAGMA user_version of an index this code reads and writes
DEFAULT_LIMIT: Final = 500
_BATCH: Final = 5000  # records per transaction when rebuilding
_COMPANIONS: Final = ("-wal", "-shm", "-journal")  # SQLite's files beside the index

_TABLE: Final = """
CREATE TABLE IF NOT EXISTS records (
    seq INTEGER PRIMARY KEY,
    ts REAL,
    ts_max REAL,
    event TEXT,
    asset TEXT,
    underlying TEXT,
    scenario_id TEXT,
    parent_id TEXT,
    order_id TEXT,
    line TEXT NOT NULL
);
"""
_INDEXES: Final = """
CREATE INDEX IF NOT EXISTS records_ts_max ON records(ts_max);
CREATE INDEX IF NOT EXISTS records_event ON records(event);
CREATE INDEX IF NOT EXISTS records_asset ON records(asset);
CREATE INDEX IF NOT EXISTS records_underlying ON records(underlying);
CREATE INDEX IF NOT EXISTS records_scenario ON records(scenario_id);
CREATE INDEX IF NOT EXISTS records_parent ON records(parent_id);
"""
# Every index is on one column: SQLite appends the rowid (= seq) to each entry, so `col = ? AND seq > ?
# ORDER BY seq LIMIT n` walks one index range already in seq order and stops after n rows.
_INSERT: Final = (
    "INSERT OR IGNORE INTO records (seq, ts, ts_max, event, asset, underlying, scenario_id, parent_id, order_id,"
    " line) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


_COLUMN_KEYS: Final = ("seq", "timestamp", "event", "asset", "underlying", "scenario_id", "parent_id", "order_id")
_columns: Final = operator.itemgetter(*_COLUMN_KEYS)  # one C call for the eight lookups of every row


def index_path_for(jsonl: Path) -> Path:
    """The index beside a log: same stem, `.sqlite` (`execution_quality_paper.sqlite`, `telemetry.sqlite`)."""
    return jsonl.with_name(log_stem(jsonl) + ".sqlite")


_second_cache: dict[str, float] = {}


def epoch_seconds(timestamp: object) -> float | None:
    """`2026-11-23T03:45:00.125000Z` as epoch seconds (None if it is not an ISO time); cached per second."""
    if not isinstance(timestamp, str) or len(timestamp) < 19:
        return None
    head, rest = timestamp[:19], timestamp[19:]
    base = _second_cache.get(head)
    if base is None or rest[-1:] not in ("Z", ""):
        try:
            parsed = datetime.fromisoformat(timestamp)
        except ValueError:
            return None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        if rest[-1:] not in ("Z", ""):
            return parsed.timestamp()  # an explicit offset: not the desk's own form, not cached
        if len(_second_cache) > 4096:
            _second_cache.clear()
        base = _second_cache[head] = float(int(parsed.replace(microsecond=0).timestamp()))
    frac = rest.rstrip("Z")
    return base + float(frac) if frac.startswith(".") and len(frac) > 1 else base


class SqliteIndex:
    """The index as a secondary sink (open/write/close on the hub's thread) plus `query` for readers."""

    name = "sqlite"

    def __init__(self, path: Path, *, durable: bool = True, defer_indexes: bool = False) -> None:
        """`durable=False` skips SQLite's syncs (a temporary file being built, fsynced once on close before it is
        renamed into place). `defer_indexes=True` leaves the indexes to `create_indexes()`: building them once
        over all rows costs about half of keeping them up to date row by row (a rebuild)."""
        self.path = path
        self._durable = durable
        self._defer_indexes = defer_indexes
        self._conn: sqlite3.Connection | None = None
        self._ts_max: float | None = None
        self._reader: IndexReader | None = None

    def open(self) -> int:
        self.close()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            make_private(self.path)
        except OSError as exc:
            raise SinkUnavailable(f"{self.path}: {exc.strerror or exc}") from exc
        try:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=5.0)
            try:
                self._prepare(conn)
                seq, ts_max = conn.execute("SELECT MAX(seq), MAX(ts_max) FROM records").fetchone()
            except BaseException:
                conn.close()
                raise
        except sqlite3.Error as exc:
            raise SinkUnavailable(f"{self.path}: {exc}") from exc
        self._conn, self._ts_max = conn, ts_max
        return int(seq or 0)

    def _prepare(self, conn: sqlite3.Connection) -> None:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version not in (0, SCHEMA_VERSION):
            raise sqlite3.DatabaseError(
                f"index schema version {version}, this desk writes {SCHEMA_VERSION}: rebuild it with"
                " `imperium-desk reindex`"
            )
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(f"PRAGMA synchronous={'NORMAL' if self._durable else 'OFF'}")
        conn.executescript(_TABLE if self._defer_indexes else _TABLE + _INDEXES)
        conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")

    def write(self, records: Sequence[Record], lines: Sequence[bytes]) -> None:
        conn = self._conn
        if conn is None:
            raise SinkUnavailable(f"{self.path}: not open")
        rows = []
        ts_max = self._ts_max
        for record, line in zip(records, lines, strict=True):
            try:
                seq, timestamp, *columns = _columns(record)  # every engine record has every common key
            except KeyError:
                seq, timestamp, *columns = record["seq"], *(record.get(k) for k in _COLUMN_KEYS[1:])
            ts = epoch_seconds(timestamp)
            if ts is not None and (ts_max is None or ts > ts_max):
                ts_max = ts
            rows.append((seq, ts, ts_max, *columns, line.decode()))
        try:
            conn.execute("BEGIN")
            conn.executemany(_INSERT, rows)
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise SinkUnavailable(f"{self.path}: {exc}") from exc
        self._ts_max = ts_max

    def create_indexes(self) -> None:
        if self._conn is None:
            raise SinkUnavailable(f"{self.path}: not open")
        self._conn.executescript(_INDEXES)

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()
            if not self._durable:
                fsync_file(self.path)
        if self._reader is not None:
            self._reader.close()
            self._reader = None

    @property
    def reader(self) -> IndexReader:
        """Queries on this index through a read-only connection of its own (the writer's is the hub thread's)."""
        if self._reader is None:
            self._reader = IndexReader(self.path)
        return self._reader


class IndexReader:
    """Read-only queries on an index, safe from any thread while the hub's thread writes (WAL)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def query(
        self,
        since_seq: int | None = None,
        since_time: float | None = None,
        asset: str | None = None,
        scenario_id: str | None = None,
        parent_id: str | None = None,
        event: str | None = None,
        limit: int = DEFAULT_LIMIT,
    ) -> list[Record]:
        """Records with seq > since_seq, timestamp >= since_time (epoch seconds), the given asset (matching a
        record's `asset` or its `underlying`), scenario, parent and event; at most `limit`, in seq order."""
        rows = self.query_lines(since_seq, since_time, asset, scenario_id, parent_id, event, limit)
        return [orjson.loads(line) for _, line in rows]

    def query_lines(
        self,
        since_seq: int | None = None,
        since_time: float | None = None,
        asset: str | None = None,
        scenario_id: str | None = None,
        parent_id: str | None = None,
        event: str | None = None,
        limit: int = DEFAULT_LIMIT,
    ) -> list[tuple[int, bytes]]:
        """`query` as (seq, stored JSON line) pairs, undecoded: a reader serving the records as JSON (the REST API)
        joins them as they are."""
        if limit < 1:
            return []
        with self._lock:
            conn = self._connect()
            if conn is None:
                return []  # nothing indexed yet
            first = (since_seq or 0) + 1
            if since_time is not None:
                row = conn.execute(
                    "SELECT seq FROM records INDEXED BY records_ts_max WHERE ts_max >= ? ORDER BY ts_max, seq LIMIT 1",
                    (since_time,),
                ).fetchone()
                if row is None:
                    return []
                first = max(first, row[0])
            equal = {"parent_id": parent_id, "scenario_id": scenario_id, "event": event}
            filters = {k: v for k, v in equal.items() if v is not None}
            if asset is not None and parent_id is None:
                # Two index walks (asset, underlying), each in seq order, merged: an OR would collect every
                # match before sorting.
                rows = sorted(
                    {
                        *self._select(conn, first, since_time, {**filters, "asset": asset}, None, limit),
                        *self._select(conn, first, since_time, {**filters, "underlying": asset}, None, limit),
                    }
                )[:limit]
            else:
                rows = self._select(conn, first, since_time, filters, asset, limit)
        return rows

    @staticmethod
    def _select(
        conn: sqlite3.Connection, first: int, since_time: float | None, filters: dict[str, str],
        asset_or_underlying: str | None, limit: int,
    ) -> list[tuple[int, bytes]]:
        # The most selective equality drives the walk; the rest are checked on the rows it visits.
        driver = next((c for c in ("parent_id", "asset", "underlying", "scenario_id", "event") if c in filters), None)
        indexed = f" INDEXED BY records_{driver.removesuffix('_id')}" if driver else ""
        where = ["seq >= ?"]
        args: list[object] = [first]
        for column, value in filters.items():
            where.append(f"{column} = ?")
            args.append(value)
        if since_time is not None:
            where.append("ts >= ?")
            args.append(since_time)
        if asset_or_underlying is not None:
            where.append("(asset = ? OR underlying = ?)")
            args += [asset_or_underlying, asset_or_underlying]
        sql = f"SELECT seq, line FROM records{indexed} WHERE {' AND '.join(where)} ORDER BY seq LIMIT ?"
        return conn.execute(sql, (*args, limit)).fetchall()

    def _connect(self) -> sqlite3.Connection | None:
        if self._conn is None:
            if not self.path.exists():
                return None
            conn = sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=ro", uri=True, check_same_thread=False,
                                   timeout=5.0)
            try:
                exists = conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'records'").fetchone()
            except sqlite3.Error:
                conn.close()
                raise
            if not exists:
                conn.close()
                return None
            conn.text_factory = bytes  # lines come back as the bytes orjson parses, or a server sends, as they are
            self._conn = conn
        return self._conn


def rebuild(db_path: Path, jsonl_paths: Iterable[Path]) -> int:
    """Index the records of `jsonl_paths` into `db_path` from scratch; return how many were indexed.

    The files may come in any order (they are read in order of their first seq) but together must form one log:
    seq rising across them. The index is built under a temporary name and renamed over `db_path` when complete,
    so a failure leaves the old index (or none), never a half-built one."""
    tmp = db_path.with_name(f".{db_path.name}.{os.getpid()}.tmp")
    count = build_index(tmp, jsonl_paths)
    _checkpoint_old(db_path)
    os.replace(tmp, db_path)
    return count


def build_index(path: Path, jsonl_paths: Iterable[Path]) -> int:
    """Build a fresh index at `path` (replacing any file there) from the files of one log; fsynced when it returns.
    On failure nothing is left at `path`. The caller renames it into place (`rebuild`, a replay's commit)."""
    files = _in_seq_order(jsonl_paths)
    remove_index(path)
    index = SqliteIndex(path, durable=False, defer_indexes=True)  # fsynced once on close, not per commit
    count = 0
    # Parsed records are acyclic, so collecting cycles finds nothing, yet each parsed batch triggers collections
    # that walk the whole heap: after a replay (a large live heap) that was a third of the build time.
    collecting = gc.isenabled()
    gc.disable()
    try:
        index.open()
        prev, prev_path = 0, None
        for source in files:
            with open(source, "rb") as file:
                # iter_file checks the order within a file; across files the first seq of each batch suffices
                for batch in itertools.batched(iter_file(file, source), _BATCH):
                    first = batch[0][0]["seq"]
                    if first <= prev:
                        raise TelemetryFileError(
                            f"{source}: seq {first} is not after seq {prev} of {prev_path}: these files"
                            " are not one log (index each log on its own)"
                        )
                    records, lines = zip(*batch, strict=True)
                    index.write(records, lines)
                    count += len(batch)
                    prev, prev_path = records[-1]["seq"], source
        index.create_indexes()
        index.close()
    except BaseException:
        index.close()
        remove_index(path)
        raise
    finally:
        if collecting:
            gc.enable()
    return count


def _in_seq_order(paths: Iterable[Path]) -> list[Path]:
    keyed = []
    for path in dict.fromkeys(paths):
        line = first_line(path)
        if line is None:
            continue  # empty (or only a torn fragment): nothing to index
        keyed.append((parse_line(line, path, "line 1")["seq"], str(path), path))
    return [path for *_, path in sorted(keyed)]


def _checkpoint_old(db_path: Path) -> None:
    """Fold the old index's WAL into it before it is replaced, so no stale `-wal` is ever applied to the new file."""
    if not db_path.exists():
        return
    try:
        conn = sqlite3.connect(db_path, timeout=5.0)
        try:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            conn.close()
    except sqlite3.Error as exc:
        log.warning("%s: could not checkpoint the old index before replacing it: %s", db_path, exc)


def make_private(path: Path) -> None:
    """The index file created 0600 before SQLite opens it: SQLite gives the `-wal` and `-shm` it creates the main
    file's mode. Companions an older desk left open to others are narrowed too."""
    create_private(path)
    for suffix in _COMPANIONS:
        companion = path.with_name(path.name + suffix)
        with contextlib.suppress(FileNotFoundError):
            narrow(companion)


def remove_index(path: Path) -> None:
    """Delete an index file and its WAL companions (a stale `-wal` must never meet a new file of that name)."""
    for suffix in ("", *_COMPANIONS):
        path.with_name(path.name + suffix).unlink(missing_ok=True)


def fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
