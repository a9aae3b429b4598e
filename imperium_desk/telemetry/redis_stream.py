"""Redis Streams sink: several desks feed one stream that a central consumer reads.

One stream (`telemetry.redis_stream`) is shared by every desk. Each entry has the fields `desk` (the desk's
`desk_id`), `seq`, `event` and `record` (the record's JSONL line, byte for byte). Per desk, entries are in
`seq` order and no `seq` appears twice: a high-water key `<stream>:desk:<desk_id>:seq` holds the last seq
stored, and a Lua script appends a chunk and moves the mark in one atomic step, skipping any seq at or below
it. So a batch re-sent after a lost reply or a reconnect adds nothing, and `open()` can tell the hub where
to resume its catch-up from the JSONL.

The sink runs on the telemetry hub's thread, never on the event loop: a sync client with short timeouts
(1 s) and no client-side retries — the hub owns retrying and backoff, and a dead server must hand the thread
back quickly. Every Redis failure surfaces as `SinkUnavailable`.

`StreamConsumer` is the central side: it reads the whole stream (XRANGE pages), optionally following new
entries (XREAD BLOCK), and yields `StreamEntry(id, desk, seq, event, record)`.

Redis Cluster: the script touches the stream and the high-water key, so both must hash to one slot; give
the stream a hash tag (`{imperium}:telemetry`) and the desk keys inherit it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Final, Self

import orjson
import redis
from redis.backoff import NoBackoff
from redis.commands.core import Script
from redis.retry import Retry

from imperium_desk.telemetry.sinks import Record, SinkUnavailable

_TIMEOUT_S: Final = 1.0
_CHUNK_RECORDS: Final = 500  # records per script call: bounds one call's time inside the server (~1 ms)
_PIPELINE_CHUNKS: Final = 4  # script calls per round trip: bounds one round trip's bytes (~2k records, ~1.3 MB)

# KEYS[1] stream, KEYS[2] this desk's high-water key. ARGV[1] desk id; ARGV[2] "seq event_len line_len" per
# record, space-separated, in seq order; ARGV[3] every record's event then line, concatenated. Three arguments
# per chunk instead of three per record: encoding arguments one by one in redis-py cost ~13 us a record on
# the hub's thread, GIL time taken from the engine (benchmarks/redis_sink.py); lengths frame arbitrary bytes.
# XADD runs under pcall so a failure part-way (e.g. OOM) still records how far the chunk got before the error
# is returned: the mark never falls behind what the stream holds, so a retry cannot duplicate.
_APPEND: Final = """
local high = tonumber(redis.call('GET', KEYS[2]) or '0')
local desk, blob = ARGV[1], ARGV[3]
local numbers = string.gmatch(ARGV[2], '%-?%d+')
local pos = 1
local mark = nil
local failure = nil
for seq_text in numbers do
  local event_len = tonumber(numbers())
  local line_len = tonumber(numbers())
  local seq = tonumber(seq_text)
  if seq > high then
    local event = string.sub(blob, pos, pos + event_len - 1)
    local line = string.sub(blob, pos + event_len, pos + event_len + line_len - 1)
    local reply = redis.pcall('XADD', KEYS[1], '*', 'desk', desk, 'seq', seq_text, 'event', event, 'record', line)
    if type(reply) == 'table' and reply['err'] then
      failure = reply
      break
    end
    high = seq
    mark = seq_text
  end
  pos = pos + event_len + line_len
end
if mark then redis.call('SET', KEYS[2], mark) end
if failure then return failure end
return high
"""


def high_water_key(stream: str, desk_id: str) -> str:
    """The key holding the last seq of `desk_id` stored in `stream`."""
    return f"{stream}:desk:{desk_id}:seq"


def _client(url: str, socket_timeout_s: float) -> redis.Redis:
    # Retry(NoBackoff(), 0): the client's own retries (3 with backoff by default in redis-py >= 6) would hold
    # the hub's thread for seconds against a dead server; the hub retries on its own schedule.
    return redis.Redis.from_url(
        url,
        socket_connect_timeout=_TIMEOUT_S,
        socket_timeout=socket_timeout_s,
        retry=Retry(NoBackoff(), 0),
        health_check_interval=0,
    )


class RedisStreamSink:
    """A `SecondarySink` writing this desk's records to a Redis stream shared with other desks."""

    name = "redis"

    def __init__(
        self,
        url: str,
        stream: str,
        desk_id: str,
        *,
        chunk_records: int = _CHUNK_RECORDS,
        pipeline_chunks: int = _PIPELINE_CHUNKS,
    ) -> None:
        if not desk_id:
            raise ValueError("desk_id must not be empty")
        if chunk_records < 1 or pipeline_chunks < 1:
            raise ValueError("chunk_records and pipeline_chunks must be at least 1")
        self.url = url
        self.stream = stream
        self.desk_id = desk_id
        self._keys = [stream, high_water_key(stream, desk_id)]
        self._chunk = chunk_records
        self._round_trip = chunk_records * pipeline_chunks
        self._client: redis.Redis | None = None
        self._append: Script | None = None

    def open(self) -> int:
        """Connect (again) and return the last seq of this desk already in the stream (0 if none)."""
        self.close()
        try:
            client = _client(self.url, _TIMEOUT_S)
            client.ping()
            raw = client.get(self._keys[1])
        except (redis.RedisError, OSError) as exc:
            self.close()
            raise SinkUnavailable(f"redis at {_redact(self.url)}: {exc}") from exc
        self._client = client
        self._append = client.register_script(_APPEND)
        try:
            return int(raw) if raw is not None else 0
        except ValueError as exc:  # someone else's value under our key: storing on top of it would be a guess
            self.close()
            raise SinkUnavailable(f"{self._keys[1]} holds {raw!r}, not a seq") from exc

    def write(self, records: Sequence[Record], lines: Sequence[bytes]) -> None:
        """Append a batch in seq order; seqs this desk already stored are skipped by the script."""
        client, append = self._client, self._append
        if client is None or append is None:
            raise SinkUnavailable("redis sink is not open")
        if len(records) != len(lines):
            raise ValueError(f"{len(records)} records but {len(lines)} lines")
        try:
            for start in range(0, len(records), self._round_trip):
                end = min(start + self._round_trip, len(records))
                pipe = client.pipeline(transaction=False)
                for lo in range(start, end, self._chunk):
                    hi = min(lo + self._chunk, end)
                    header: list[str] = []
                    blob: list[bytes] = []
                    for i in range(lo, hi):
                        record, line = records[i], lines[i]
                        event = str(record["event"]).encode()
                        header.append(f"{int(record['seq'])} {len(event)} {len(line)}")
                        blob += (event, line)
                    append(keys=self._keys, args=[self.desk_id, " ".join(header), b"".join(blob)], client=pipe)
                pipe.execute()
        except (redis.RedisError, OSError) as exc:
            # The connection may be mid-reply: drop it, the hub re-opens (and learns the mark) before retrying.
            self.close()
            raise SinkUnavailable(f"redis at {_redact(self.url)}: {exc}") from exc

    def close(self) -> None:
        client, self._client, self._append = self._client, None, None
        if client is not None:
            with contextlib.suppress(redis.RedisError, OSError):  # a dead connection: nothing left to release
                client.close()


@dataclass(frozen=True, slots=True)
class StreamEntry:
    """One record of the shared stream as a consumer reads it: which desk wrote it, its seq in that desk's own sequence
    (seqs of different desks interleave), its event, and the record decoded from its JSONL line."""

    id: str  # the stream entry id (`<ms>-<n>`), for resuming a read
    desk: str
    seq: int
    event: str
    record: Record


class StreamConsumer:
    """Reads a telemetry stream from a given entry id (exclusive), oldest first.

    `entries()` pages through what is there (XRANGE) and stops; `entries(follow=True)` then waits for new
    entries (XREAD BLOCK) until the caller stops iterating. `last_id` is the id of the last entry yielded, so a
    consumer that stores it can resume where it left off. Redis errors propagate (redis.RedisError).
    """

    def __init__(
        self, url: str, stream: str, *, after_id: str = "0-0", page: int = 1000, block_ms: int = 1000
    ) -> None:
        if page < 1 or block_ms < 1:
            raise ValueError("page and block_ms must be at least 1")
        self.stream = stream
        self.last_id = after_id
        self._page = page
        self._block_ms = block_ms
        self._client = _client(url, _TIMEOUT_S + block_ms / 1000.0)  # a blocking read must not time out first

    def entries(self, *, follow: bool = False) -> Iterator[StreamEntry]:
        yield from self._pages()
        # XREAD only waits for news; the entries are then paged with XRANGE, whose reply has one shape in RESP2
        # and RESP3 (XREAD's differs), and which resumes exactly after `last_id`.
        while follow:
            if self._client.xread({self.stream: self.last_id}, count=1, block=self._block_ms):
                yield from self._pages()

    def _pages(self) -> Iterator[StreamEntry]:
        while True:
            batch = self._client.xrange(self.stream, min=_next_id(self.last_id), count=self._page)
            if not batch:
                return
            yield from self._decode(batch)

    def __iter__(self) -> Iterator[StreamEntry]:
        return self.entries()

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.close()

    def _decode(self, batch: Sequence[Any]) -> Iterator[StreamEntry]:
        for raw_id, fields in batch:
            entry_id = raw_id.decode() if isinstance(raw_id, bytes) else str(raw_id)
            self.last_id = entry_id
            yield StreamEntry(
                id=entry_id,
                desk=fields[b"desk"].decode(),
                seq=int(fields[b"seq"]),
                event=fields[b"event"].decode(),
                record=orjson.loads(fields[b"record"]),
            )


def _next_id(entry_id: str) -> str:
    """The smallest stream id after `entry_id` (XRANGE's exclusive `(id` needs Redis 6.2; streams need 5.0)."""
    ms, _, n = entry_id.partition("-")
    return f"{ms}-{int(n or 0) + 1}"


def _redact(url: str) -> str:
    """The URL without its password, for messages."""
    scheme, sep, rest = url.partition("://")
    userinfo, at, host = rest.rpartition("@")
    if not at:
        return url
    user = userinfo.partition(":")[0]
    return f"{scheme}{sep}{user}:***@{host}" if user else f"{scheme}{sep}***@{host}"
