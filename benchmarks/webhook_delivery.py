"""Webhook delivery rate: signed deliveries per second to one loopback receiver, one request in flight.

The receiver is a separate process (uvicorn, h11) that verifies every signature with `standardwebhooks` and
counts, so its cost does not share the sender's core and GIL. The sender is the desk's `WebhookService` fed by a
real JSONL telemetry log (desk defaults: fsync on, flush every 100 ms or 100 records) of realistic ~700-byte
records. Two runs:

* live: N records written as fast as the log takes them while the service runs; the rate is N over the time from
  the first write until the receiver has accepted the N-th delivery (flush, outbox write, delivery included).
* backlog: N records written while no service runs, then a new service starts on the same outbox; the rate is N
  over the time from `start()` until the receiver has the last one (read back from the log, then delivered).

Both check the receiver saw every id exactly once, in seq order, each signature valid. Prints JSON.

    .venv/bin/python -m benchmarks.webhook_delivery [--records N]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from benchmarks.telemetry_records import fill_record
from imperium_desk.clock import WallClock
from imperium_desk.feedback.webhooks.config import WebhooksConfig
from imperium_desk.feedback.webhooks.service import WebhookService
from imperium_desk.feedback.webhooks.signing import generate_secret
from imperium_desk.feedback.webhooks.source import JsonlSource
from imperium_desk.telemetry.config import TelemetryConfig
from imperium_desk.telemetry.jsonl import JsonlWriter

DESK = "bench"
TARGET_PER_S = 500


# -- the receiver process -------------------------------------------------------------------------------------------
def serve_receiver(secret: str) -> None:
    """Run in the child: verify, count, and answer GET /stats with what arrived."""
    import uvicorn
    from standardwebhooks.webhooks import Webhook, WebhookVerificationError

    verifier = Webhook(secret)
    seen: set[str] = set()
    stats = {"accepted": 0, "rejected": 0, "duplicates": 0, "out_of_order": 0, "last_seq": 0}

    async def app(scope: dict[str, Any], receive: Callable[[], Any], send: Callable[[dict[str, Any]], Any]) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        if scope["method"] == "GET":
            payload = json.dumps(stats).encode()
            await send({"type": "http.response.start", "status": 200,
                        "headers": [(b"content-type", b"application/json")]})
            await send({"type": "http.response.body", "body": payload})
            return
        headers = {k.decode(): v.decode() for k, v in scope["headers"]}
        try:
            verified = verifier.verify(body, headers)
        except WebhookVerificationError:
            stats["rejected"] += 1
            status = 400
        else:
            msg_id = headers["webhook-id"]
            if msg_id in seen:
                stats["duplicates"] += 1
            seen.add(msg_id)
            seq = verified["data"]["seq"]
            if seq <= stats["last_seq"]:
                stats["out_of_order"] += 1
            stats["last_seq"] = seq
            stats["accepted"] += 1
            status = 204
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    print(sock.getsockname()[1], flush=True)
    config = uvicorn.Config(app, lifespan="off", log_level="warning", access_log=False, interface="asgi3")
    uvicorn.Server(config).run(sockets=[sock])


def receiver_stats(port: int) -> dict[str, int]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/stats", timeout=5) as response:
        result: dict[str, int] = json.loads(response.read())
    return result


# -- the sender -------------------------------------------------------------------------------------------------------
class Log:
    def __init__(self, path: Path) -> None:
        config = TelemetryConfig()
        self.listener: Callable[[Sequence[dict[str, Any]], Sequence[bytes]], None] | None = None
        self.writer = JsonlWriter(path, append=True, flush_interval_s=config.flush_interval_ms / 1000,
                                  flush_records=config.flush_records, fsync=config.fsync,
                                  on_flushed_batch=self._flushed)
        self.path = path
        self.seq = self.writer.last_seq

    def _flushed(self, records: Sequence[dict[str, Any]], lines: Sequence[bytes]) -> None:
        if self.listener is not None:
            self.listener(records, lines)

    async def write(self, count: int) -> None:
        for _ in range(count):
            self.seq += 1
            self.writer.write(fill_record(self.seq))
            if self.seq % 500 == 0:
                await asyncio.sleep(0)  # the desk's loop keeps turning while records pour in

    async def flushed(self) -> None:
        while self.writer.flushed_seq < self.seq:
            await asyncio.sleep(0.01)


async def wait_accepted(port: int, count: int, timeout_s: float) -> float:
    deadline = time.perf_counter() + timeout_s
    while True:
        stats = await asyncio.to_thread(receiver_stats, port)
        if stats["accepted"] >= count:
            return time.perf_counter()
        if time.perf_counter() > deadline:
            raise TimeoutError(f"only {stats['accepted']} of {count} deliveries arrived in {timeout_s} s")
        await asyncio.sleep(0.05)  # each look is a request to the receiver: not so often that it slows it


async def bench(folder: Path, port: int, secret: str, records: int) -> dict[str, Any]:
    config = WebhooksConfig.model_validate(
        {"subscribers": [{"url": f"http://127.0.0.1:{port}/hooks", "secret": secret}]}
    )
    log = Log(folder / "t.jsonl")
    source = JsonlSource(log.path, lambda: log.writer.flushed_seq)
    db = folder / "webhooks.sqlite"

    service = WebhookService(db, config, WallClock(), DESK, source)
    log.listener = service.hand
    await service.start()
    started = time.perf_counter()
    await log.write(records)
    done = await wait_accepted(port, records, timeout_s=records / 50)
    live_s = done - started
    await service.stop()
    log.listener = None

    await log.write(records)
    await log.flushed()
    service = WebhookService(db, config, WallClock(), DESK, source)
    log.listener = service.hand
    started = time.perf_counter()
    await service.start()
    done = await wait_accepted(port, 2 * records, timeout_s=records / 50)
    backlog_s = done - started
    await service.stop()
    log.writer.close()
    stats = await asyncio.to_thread(receiver_stats, port)
    return {
        "benchmark": "webhook_delivery",
        "records_per_run": records,
        "record_bytes": len(json.dumps(fill_record(1))),
        "live_events_per_s": round(records / live_s),
        "backlog_events_per_s": round(records / backlog_s),
        "target_events_per_s": TARGET_PER_S,
        "receiver": stats,
        "all_exactly_once_in_order": stats["accepted"] == 2 * records and stats["duplicates"] == 0
        and stats["out_of_order"] == 0 and stats["rejected"] == 0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=10_000)
    parser.add_argument("--receiver-secret", help=argparse.SUPPRESS)  # internal: run as the receiver process
    args = parser.parse_args()
    if args.receiver_secret:
        serve_receiver(args.receiver_secret)
        return
    secret = generate_secret()
    child = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.webhook_delivery", "--receiver-secret", secret],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert child.stdout is not None
        port = int(child.stdout.readline())
        with tempfile.TemporaryDirectory(dir=Path.home()) as tmp:
            result = asyncio.run(bench(Path(tmp), port, secret, args.records))
    finally:
        child.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            child.wait(5)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
