"""Feedback API read throughput: `GET /feedback/metrics?limit=100` requests per second against a headless desk.

Starts `imperium-desk serve` (a real desk on the wall clock, market ticking, feedback API on a free loopback port)
in its own process over a log of N realistic fill records (~700 bytes each; the desk's SQLite index catches up
from the JSONL on start), then drives it from this process with C keep-alive connections on raw asyncio sockets (a
client far cheaper per request than the server, so the server is what is measured). Two request kinds, each for T
seconds after a warm-up: the first page (`?limit=100`) and a page after a random cursor (`?since=c<seq>&limit=100`).
Then the same first-page load against a desk that is running a drill (a desk process of this module's own: the
desk's `start_drill`, orders and injected events on the wall clock, its no-event baseline replayed on a thread),
to see the latency a learner sees while the desk is busy. Reports requests/s and latency percentiles per phase;
prints JSON. Targets: >= 1,000 req/s headless; p99 <= 50 ms while a drill runs.

    .venv/bin/python -m benchmarks.feedback_api [--records N] [--seconds T] [--connections C] [--drill FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from benchmarks.telemetry_records import fill_record

WARMUP_S = 1.0
DEFAULT_DRILL = Path(__file__).resolve().parents[1] / "imperium_desk" / "configs" / "scenarios" / "choppy-day.yaml"


def write_log(path: Path, records: int) -> None:
    with open(path, "wb") as file:
        for base in range(1, records + 1, 10_000):
            top = min(base + 10_000, records + 1)
            file.write(b"".join(orjson.dumps(fill_record(s), option=orjson.OPT_APPEND_NEWLINE)
                                for s in range(base, top)))


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    return status, await reader.readexactly(length)


async def get(host: str, port: int, target: str, token: str) -> tuple[int, bytes]:
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(request(host, target, token))
    result = await read_response(reader)
    writer.close()
    await writer.wait_closed()
    return result


def request(host: str, target: str, token: str) -> bytes:
    return (f"GET {target} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n\r\n").encode()


async def load(host: str, port: int, token: str, targets: Callable[[], str], connections: int,
               seconds: float) -> dict[str, Any]:
    """Keep-alive connections each sending one request after another; latencies after the warm-up."""
    latencies: list[float] = []
    errors = 0
    loop = asyncio.get_running_loop()
    start = loop.time()
    measure_from, end = start + WARMUP_S, start + WARMUP_S + seconds

    async def connection() -> None:
        nonlocal errors
        reader, writer = await asyncio.open_connection(host, port)
        try:
            while (now := loop.time()) < end:
                writer.write(request(host, targets(), token))
                status, body = await read_response(reader)
                done = loop.time()
                if now >= measure_from:
                    latencies.append(done - now)
                    if status != 200 or not body.startswith(b'{"items":['):
                        errors += 1
        finally:
            writer.close()
            await writer.wait_closed()

    await asyncio.gather(*(connection() for _ in range(connections)))
    ms = np.asarray(latencies) * 1000.0
    p50, p99 = np.percentile(ms, [50, 99])
    return {"requests_per_s": round(len(ms) / seconds, 1), "p50_ms": round(float(p50), 3),
            "p99_ms": round(float(p99), 3), "requests": len(ms), "errors": errors}


async def wait_indexed(host: str, port: int, token: str, records: int, timeout_s: float = 120.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        status, body = await get(host, port, f"/feedback/metrics?since=c{records - 1}&limit=1", token)
        if status == 200 and orjson.loads(body)["items"]:
            return
        await asyncio.sleep(0.2)
    raise TimeoutError(f"the index did not reach {records} records in {timeout_s} s")


def start_server(home: Path, drill: Path | None = None) -> tuple[subprocess.Popen[str], str, int]:
    """`imperium-desk serve`, or with `drill` this module's desk process running that drill."""
    command = ["-m", "imperium_desk", "serve", "--home", str(home), "--port", "0"] if drill is None else \
        ["-m", "benchmarks.feedback_api", "--desk-process", str(home), "--drill", str(drill)]
    server = subprocess.Popen([sys.executable, *command], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert server.stdout is not None
    line = server.stdout.readline()
    if " on http://" not in line:
        server.kill()
        raise RuntimeError(f"serve did not start: {line!r} {server.stderr.read() if server.stderr else ''}")
    address = line.split(" on http://", 1)[1].split()[0]
    host, port = address.rsplit(":", 1)
    return server, host, int(port)


def desk_process(home: Path, drill: Path) -> None:
    """A paper desk on the wall clock with its feedback API up and `drill` running, until SIGINT."""
    from imperium_desk.clock import WallClock
    from imperium_desk.config import load_config, merged_config
    from imperium_desk.desk import Desk

    config = merged_config(load_config(None), {"feedback": {"port": 0}}, "benchmark")

    async def run() -> None:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        loop.add_signal_handler(signal.SIGINT, stop.set)
        desk = Desk(config, home=home, clock=WallClock(loop))
        desk.start()
        try:
            address = await desk.start_feedback()
            await desk.start_drill(drill)
            print(f"drill running; feedback API on {address}", flush=True)
            await stop.wait()
        finally:
            await desk.stop()

    asyncio.run(run())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--drill", type=Path, default=DEFAULT_DRILL, help="the drill of the busy-desk phase")
    parser.add_argument("--desk-process", type=Path, help=argparse.SUPPRESS)  # internal: the busy desk
    args = parser.parse_args()
    if args.desk_process is not None:
        desk_process(args.desk_process, args.drill)
        return
    with tempfile.TemporaryDirectory(dir=Path.home()) as tmp:
        home = Path(tmp)
        write_log(home / "execution_quality_paper.jsonl", args.records)
        server, host, port = start_server(home)
        try:
            token = (home / "feedback.token").read_text().strip()
            rng = random.Random(3)
            top = max(args.records - 100, 1)

            async def run() -> dict[str, Any]:
                await wait_indexed(host, port, token, args.records)
                first = await load(host, port, token, lambda: "/feedback/metrics?limit=100", args.connections,
                                   args.seconds)
                cursor = await load(host, port, token,
                                    lambda: f"/feedback/metrics?since=c{rng.randrange(top)}&limit=100",
                                    args.connections, args.seconds)
                return {"first_page": first, "random_cursor": cursor}

            results = asyncio.run(run())
        finally:
            server.send_signal(signal.SIGINT)
            exit_code = server.wait(timeout=30)
    with tempfile.TemporaryDirectory(dir=Path.home()) as tmp:
        home = Path(tmp)
        write_log(home / "execution_quality_paper.jsonl", args.records)
        busy, host, port = start_server(home, args.drill)
        try:
            token = (home / "feedback.token").read_text().strip()

            async def during_drill() -> dict[str, Any]:
                await wait_indexed(host, port, token, args.records)
                return await load(host, port, token, lambda: "/feedback/metrics?limit=100", args.connections,
                                  args.seconds)

            results["first_page_during_drill"] = {"drill": args.drill.name, **asyncio.run(during_drill())}
        finally:
            busy.send_signal(signal.SIGINT)
            busy.wait(timeout=30)
    print(json.dumps({
        "benchmark": "feedback_api",
        "records": args.records,
        "connections": args.connections,
        "seconds": args.seconds,
        "limit": 100,
        "server": "imperium-desk serve (headless desk, market running, uvicorn h11 on loopback)",
        "cpus": os.cpu_count(),
        **results,
        "serve_exit_code": exit_code,
        "target_requests_per_s": 1000,
        "target_p99_ms_during_drill": 50,
    }, indent=2))


if __name__ == "__main__":
    main()
