"""Fixtures for the Kite integration tests: a fake Kite per test, the official REST client on it, and a KiteTicker
probe in a child process.

The fake runs on a thread of its own with its own event loop (`FakeKite.start()`), so one server serves both sync
code (the official `KiteConnect`, here in the test's thread) and async tests (whose loop never runs the fake:
they talk to it over the socket, and its control methods are thread-safe). A test that needs other limits asks
`make_fake_kite(FakeKiteConfig(...))`; every server made is stopped at teardown.
"""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

import pytest
from kiteconnect import KiteConnect  # type: ignore[import-untyped]

from tests.fake_kite.server import FakeKite
from tests.fake_kite.state import FakeKiteConfig
from tests.integration.kite.live_support import FAST_FAKE, isolated_keyring

REPO = Path(__file__).resolve().parents[3]
CLIENT_TIMEOUT_S = 2.0
Event = dict[str, Any]


@pytest.fixture
def make_fake_kite() -> Iterator[Callable[[FakeKiteConfig], FakeKite]]:
    started: list[FakeKite] = []

    def make(config: FakeKiteConfig) -> FakeKite:
        kite = FakeKite(config).start()
        started.append(kite)
        return kite

    yield make
    for kite in started:
        kite.stop()


@pytest.fixture
def fake_kite(make_fake_kite: Callable[[FakeKiteConfig], FakeKite]) -> FakeKite:
    """A fake Kite with the real venue's limits (10 order writes a second, 25 modifications, 3 ticker sockets)."""
    return make_fake_kite(FakeKiteConfig())


def official_client(kite: FakeKite) -> KiteConnect:
    """The official client on `kite`, logged in with its ready session; a short timeout for the lost-answer cases."""
    return KiteConnect(kite.api_key, access_token=kite.access_token, root=kite.root, timeout=CLIENT_TIMEOUT_S)


@pytest.fixture
def kite_client(fake_kite: FakeKite) -> KiteConnect:
    return official_client(fake_kite)


class TickerProbe:
    """The official KiteTicker in a child process (`ticker_probe.py`), its output read as events."""

    def __init__(self, kite: FakeKite, access_token: str, mode: str, tokens: list[int]) -> None:
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "tests.integration.kite.ticker_probe", kite.api_key, access_token, kite.ws_root,
             mode, *(str(t) for t in tokens)],
            cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        )
        self._events: queue.Queue[Event | None] = queue.Queue()
        assert self._proc.stdout is not None
        self._reader = threading.Thread(target=self._read, args=(self._proc.stdout,), daemon=True)
        self._reader.start()
        self.seen: list[Event] = []

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            self._events.put(json.loads(line))
        self._events.put(None)  # the probe exited

    def wait_for(self, predicate: Callable[[Event], bool], timeout: float = 15.0) -> Event:
        """The first event (from now on) for which `predicate` holds; TimeoutError if none comes in `timeout` s."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no such event from the ticker probe; seen: {[e['event'] for e in self.seen]}")
            try:
                event = self._events.get(timeout=left)
            except queue.Empty:
                continue
            if event is None:
                raise EOFError(f"the ticker probe exited; seen: {self.seen}")
            self.seen.append(event)
            if predicate(event):
                return event

    def close(self) -> None:
        if self._proc.poll() is None:
            assert self._proc.stdin is not None
            self._proc.stdin.close()
            try:
                self._proc.wait(5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()


@pytest.fixture
def ticker_probe() -> Iterator[Callable[[FakeKite, str, str, list[int]], TickerProbe]]:
    probes: list[TickerProbe] = []

    def start(kite: FakeKite, access_token: str, mode: str, tokens: list[int]) -> TickerProbe:
        probe = TickerProbe(kite, access_token, mode, tokens)
        probes.append(probe)
        return probe

    yield start
    for probe in probes:
        probe.close()


@pytest.fixture
def no_keyring() -> Iterator[None]:
    """The OS keyring replaced by keyring's refusing backend for the test (the developer's is never touched)."""
    with isolated_keyring():
        yield


@pytest.fixture
def fake(make_fake_kite: Callable[[FakeKiteConfig], FakeKite]) -> FakeKite:
    """A fake Kite of one fast underlying and no order-rate limit, for the live desk's tests."""
    return make_fake_kite(FAST_FAKE)
