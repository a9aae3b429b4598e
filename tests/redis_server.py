"""A real `redis-server` on a free loopback port, owned by one test (or one benchmark run).

Each pytest-xdist worker starts its own servers, each on its own port, so workers never share a stream.
`stop()` shuts the server down (saving its data by default, as a managed restart would) and `start()` brings
the same server back on the same port and directory, which reloads that data.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType
from typing import Self

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

READY_TIMEOUT_S = 15.0


def redis_server_path() -> str | None:
    return shutil.which("redis-server")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class RedisServer:
    def __init__(self, directory: Path, port: int | None = None) -> None:
        binary = redis_server_path()
        if binary is None:
            raise RuntimeError("redis-server is not on PATH")
        self.binary = binary
        self.directory = directory
        self.port = port or free_port()
        self._process: subprocess.Popen[bytes] | None = None
        directory.mkdir(parents=True, exist_ok=True)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def client(self) -> redis.Redis:
        # No client-side retries: after SHUTDOWN, or while the server starts, they would only add backoff sleeps.
        return redis.Redis(
            host="127.0.0.1", port=self.port, socket_timeout=5, socket_connect_timeout=5, retry=Retry(NoBackoff(), 0)
        )

    def start(self) -> None:
        if self.running:
            return
        log = (self.directory / "redis.log").open("ab")
        self._process = subprocess.Popen(
            [self.binary, "--bind", "127.0.0.1", "--port", str(self.port), "--save", "", "--appendonly", "no",
             "--dir", str(self.directory), "--dbfilename", "dump.rdb", "--protected-mode", "yes"],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )
        log.close()
        deadline = time.monotonic() + READY_TIMEOUT_S
        with self.client() as probe:
            while True:
                if self._process.poll() is not None:
                    tail = (self.directory / "redis.log").read_text(errors="replace")[-2000:]
                    raise RuntimeError(f"redis-server on port {self.port} exited: {tail}")
                try:
                    if probe.ping():
                        return
                except (redis.ConnectionError, redis.BusyLoadingError, OSError):
                    pass
                if time.monotonic() > deadline:
                    self.kill()
                    raise RuntimeError(f"redis-server on port {self.port} did not answer PING")
                time.sleep(0.02)  # a test/benchmark thread waiting for a child process, not the event loop

    def stop(self, *, save: bool = True) -> None:
        """Shut down; with `save` the data is written to `dump.rdb` and comes back on `start()`."""
        process = self._process
        if process is None:
            return
        if process.poll() is None:
            try:
                with self.client() as admin:
                    admin.shutdown(save=save, nosave=not save)
            except redis.ConnectionError:
                pass  # the expected answer: the server closed the connection as it shut down
        try:
            process.wait(timeout=READY_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        self._process = None

    def kill(self) -> None:
        if self._process is not None:
            self._process.kill()
            self._process.wait()
            self._process = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop(save=False)
