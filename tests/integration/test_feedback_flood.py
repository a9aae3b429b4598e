"""Hostile neighbours on loopback: an idle-connection flood, clients that send a request a byte at a time, a server
whose connections are all busy, and accept failures for want of descriptors. Each test is bounded in connections and
in time and stops by itself; the flood stays well under this machine's open-file limit."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import resource
import select
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from imperium_desk.desk import DeskFeedback
from imperium_desk.feedback import connection_guard
from imperium_desk.feedback.app import build_app
from imperium_desk.feedback.connection_guard import ACCEPT_BATCH, ConnectionGuard, ConnectionLimits
from imperium_desk.feedback.server import FeedbackServer
from tests.integration.feedback_desk import run, running_desk

REPO = Path(__file__).resolve().parents[2]
HEALTH_BOUND_S = 1.0  # the bound on /health during and after a flood
FLOOD_CHECKS = 4  # /health is asked this many times while the flood is being opened


def start_serve(home: Path) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "imperium_desk", "serve", "--home", str(home), "--port", "0"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    assert proc.stdout is not None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if select.select([proc.stdout], [], [], 0.2)[0]:
            line = proc.stdout.readline()
            if "feedback API on" in line:
                return proc, line.split("feedback API on ", 1)[1].split(maxsplit=1)[0]
            if not line and proc.poll() is not None:
                break
    proc.kill()
    raise AssertionError(f"serve printed no address; exit {proc.poll()}")


@contextlib.contextmanager
def serving(home: Path) -> Iterator[tuple[subprocess.Popen[str], str]]:
    proc, address = start_serve(home)
    try:
        yield proc, address
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=20)


def stop(proc: subprocess.Popen[str]) -> str:
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    return err


def host_port(address: str) -> tuple[str, int]:
    host, port = address.removeprefix("http://").rsplit(":", 1)
    return host, int(port)


def flood_size() -> int:
    """Thousands of idle connections, at most half this process's descriptors: several times the server's cap."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return min(4000, soft // 2)


def open_idle(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setblocking(False)
    with contextlib.suppress(BlockingIOError):
        sock.connect((host, port))
    return sock


def health_status(address: str) -> int:
    """/health's status, asked on a fresh connection; raises httpx.TimeoutException past the bound."""
    with httpx.Client(timeout=HEALTH_BOUND_S) as client:
        return client.get(f"{address}/health").status_code


def descriptors(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def read_until_closed(sock: socket.socket, deadline_s: float) -> tuple[bytes, bool]:
    """What the server sent until it closed the connection (True), or until the deadline (False)."""
    received = b""
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if select.select([sock], [], [], 0.1)[0]:
            try:
                chunk = sock.recv(4096)
            except ConnectionResetError:
                return received, True
            if not chunk:
                return received, True
            received += chunk
    return received, False


def status_of(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/1.1 ") else 0


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="counts the server's descriptors in /proc")
def test_health_answers_within_a_second_during_and_after_an_idle_connection_flood(tmp_path: Path) -> None:
    count = flood_size()
    cap = ConnectionLimits().connection_cap()  # serve inherits this process's limit, so computes the same cap
    flood: list[socket.socket] = []
    statuses: list[int] = []
    most_descriptors = 0
    with serving(tmp_path) as (proc, address):
        host, port = host_port(address)
        try:
            for n in range(count):
                flood.append(open_idle(host, port))
                if (n + 1) % (count // FLOOD_CHECKS) == 0:
                    statuses.append(health_status(address))
                    most_descriptors = max(most_descriptors, descriptors(proc.pid))
            statuses.append(health_status(address))  # every connection opened, most still queued or being evicted
        finally:
            for sock in flood:
                sock.close()
        statuses.append(health_status(address))  # the flood over
        err = stop(proc)
    assert statuses == [200] * (FLOOD_CHECKS + 2)
    assert count > 4 * cap
    assert most_descriptors < cap + 4 * ACCEPT_BATCH  # the cap, accept batches in flight, the desk's own files
    assert len(err.splitlines()) < 10  # a line an interval about the evictions, not one per connection


def test_a_client_sending_headers_a_byte_at_a_time_gets_408_after_the_header_bound(tmp_path: Path) -> None:
    bound_s = ConnectionLimits().header_timeout_s
    head = b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: " + b"s" * 200  # never ends within the bound
    with serving(tmp_path) as (proc, address):
        sock = socket.create_connection(host_port(address))
        started = time.monotonic()
        try:
            for byte in head:
                try:
                    sock.sendall(bytes([byte]))
                except OSError:  # cut off: what it was sent is in the receive buffer
                    break
                if select.select([sock], [], [], 0.25)[0] or time.monotonic() - started > bound_s + 5:
                    break
            answer, closed = read_until_closed(sock, 2.0)
            elapsed = time.monotonic() - started
        finally:
            sock.close()
        health = health_status(address)
        err = stop(proc)
    assert (status_of(answer), closed) == (408, True)
    assert elapsed >= bound_s
    assert health == 200
    assert "Traceback" not in err


def test_a_request_body_sent_too_slowly_gets_408_after_the_body_bound(tmp_path: Path) -> None:
    limits = ConnectionLimits(body_timeout_s=1.0)

    async def main() -> tuple[bytes, bool, float, int]:
        async with running_desk(tmp_path) as api:
            backend = DeskFeedback(api.desk)
            server = FeedbackServer(build_app(backend, api.token, api.desk.config.feedback), "127.0.0.1", 0,
                                    limits=limits)
            address = await server.start()
            try:
                reader, writer = await asyncio.open_connection(*host_port(address))
                started = asyncio.get_running_loop().time()
                writer.write(b"POST /feedback/metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                             b"Authorization: Bearer " + api.token.encode() + b"\r\nContent-Length: 500\r\n\r\n{")
                answer = b""
                async with asyncio.timeout(limits.body_timeout_s + 5):
                    while not reader.at_eof():
                        with contextlib.suppress(TimeoutError):
                            async with asyncio.timeout(0.2):
                                answer += await reader.read(4096)
                        # One byte of the body every 0.2 s, stopping short of the bound: a byte written after the
                        # server's answer and close would break the pipe and lose the answer still in our buffer.
                        trickling = asyncio.get_running_loop().time() - started < 0.7 * limits.body_timeout_s
                        if trickling and not writer.is_closing() and not reader.at_eof():
                            writer.write(b" ")
                elapsed = asyncio.get_running_loop().time() - started
                writer.close()
                async with httpx.AsyncClient(base_url=address, timeout=HEALTH_BOUND_S) as client:
                    health = (await client.get("/health")).status_code
                return answer, reader.at_eof(), elapsed, health
            finally:
                await server.stop()
                backend.close()

    answer, closed, elapsed, health = run(main)
    assert (status_of(answer), closed) == (408, True)
    assert elapsed >= limits.body_timeout_s
    assert health == 200


def test_a_new_connection_is_refused_with_503_when_every_connection_is_busy(tmp_path: Path) -> None:
    limits = ConnectionLimits(max_connections=16)

    async def main() -> tuple[int, bytes, int]:
        async with running_desk(tmp_path) as api:
            backend = DeskFeedback(api.desk)
            server = FeedbackServer(build_app(backend, api.token, api.desk.config.feedback), "127.0.0.1", 0,
                                    limits=limits)
            address = await server.start()
            cap = ConnectionGuard(limits).cap
            streams: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
            try:
                for _ in range(cap):  # each a live event stream: busy until the server stops
                    reader, writer = await asyncio.open_connection(*host_port(address))
                    writer.write(b"GET /feedback/stream HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                 b"Authorization: Bearer " + api.token.encode() + b"\r\n\r\n")
                    async with asyncio.timeout(5):
                        await reader.readuntil(b"\r\n\r\n")
                    streams.append((reader, writer))
                reader, writer = await asyncio.open_connection(*host_port(address))
                writer.write(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
                async with asyncio.timeout(5):
                    refused = await reader.read()
                writer.close()
                for _, stream_writer in streams[: cap // 2]:
                    stream_writer.close()
                async with asyncio.timeout(5):  # the streams' ends reach the server within a loop turn or two
                    while True:
                        async with httpx.AsyncClient(base_url=address, timeout=HEALTH_BOUND_S) as client:
                            with contextlib.suppress(httpx.TransportError):
                                health = (await client.get("/health")).status_code
                                break
                        await asyncio.sleep(0.05)
                return cap, refused, health
            finally:
                for _, stream_writer in streams:
                    stream_writer.close()
                await server.stop()
                backend.close()

    cap, refused, health = run(main)
    assert cap == 16
    assert status_of(refused) == 503
    assert health == 200


def test_malformed_requests_are_logged_once_an_interval_not_once_each(
    tmp_path: Path, caplog: pytest.LogCaptureFixture,
) -> None:
    requests = 50

    async def main() -> list[int]:
        async with running_desk(tmp_path) as api:
            statuses = []
            for _ in range(requests):
                reader, writer = await asyncio.open_connection(*host_port(api.address))
                writer.write(b"NOT HTTP AT ALL\r\n\r\n")
                async with asyncio.timeout(5):
                    statuses.append(status_of(await reader.read()))
                writer.close()
            return statuses

    with caplog.at_level(logging.WARNING):
        statuses = run(main)
    about_requests = [r for r in caplog.records if r.name in {connection_guard.__name__, "uvicorn.error"}]
    assert statuses == [400] * requests
    assert [r.name for r in about_requests] == [connection_guard.__name__] * 2  # the first, and the count at stop
    assert isinstance(about_requests[1].args, tuple) and about_requests[1].args[1] == requests - 1


def test_accept_failures_for_want_of_descriptors_are_logged_once_an_interval_with_a_count(
    caplog: pytest.LogCaptureFixture,
) -> None:
    failures = 1000
    listening = socket.socket(socket.AF_INET, socket.SOCK_STREAM)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        guard = ConnectionGuard(ConnectionLimits())
        guard.install(loop, [listening])
        try:
            for _ in range(failures):  # what asyncio reports for each accept that fails with EMFILE
                loop.call_exception_handler({
                    "message": "socket.accept() out of system resource",
                    "exception": OSError(errno.EMFILE, os.strerror(errno.EMFILE)),
                    "socket": listening,
                })
        finally:
            guard.uninstall()  # reports what the interval counted

    with caplog.at_level(logging.WARNING), listening:
        asyncio.run(main())
    ours = [r for r in caplog.records if r.name == connection_guard.__name__]
    assert [r.name for r in caplog.records] == [connection_guard.__name__] * 2
    assert isinstance(ours[1].args, tuple) and ours[1].args[1] == failures - 1


def test_other_loop_exceptions_still_reach_the_handler_that_was_there() -> None:
    seen: list[str] = []

    async def main() -> None:
        loop = asyncio.get_running_loop()
        loop.set_exception_handler(lambda _, context: seen.append(context["message"]))
        guard = ConnectionGuard(ConnectionLimits())
        with socket.socket() as listening:
            guard.install(loop, [listening])
            loop.call_exception_handler({"message": "unrelated", "exception": ValueError("x")})
            guard.uninstall()
        loop.call_exception_handler({"message": "after", "exception": ValueError("y")})

    asyncio.run(main())
    assert seen == ["unrelated", "after"]
