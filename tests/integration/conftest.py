"""Integration fixtures: a real redis-server per test, on its own loopback port (one per xdist worker)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.redis_server import RedisServer, redis_server_path


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A running redis-server; `stop()` / `start()` (or `restart()`) keep its port and data directory."""
    if redis_server_path() is None:
        pytest.skip("redis-server is not installed (scripts/test installs it when run as root with apt-get)")
    server = RedisServer(tmp_path / "redis")
    server.start()
    try:
        yield server
    finally:
        server.stop(save=False)
