"""A real desk on the wall clock (its own asyncio loop) with its feedback API on a free loopback port, and an httpx
client holding its bearer token: what the feedback API tests run against."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from imperium_desk.clock import WallClock
from imperium_desk.desk import Desk
from imperium_desk.domain.enums import OptionRight
from imperium_desk.feedback.cursor import encode_cursor
from tests.support import config

# Records reach the SQLite index within a few milliseconds; no markouts, so the only records are the test's own.
FAST: dict[str, Any] = {
    "telemetry": {"fsync": False, "flush_interval_ms": 5, "markouts_s": []},
    "feedback": {"port": 0},
}


def run[T](main: Callable[[], Coroutine[Any, Any, T]]) -> T:
    return asyncio.run(main())


@dataclass
class Running:
    desk: Desk
    client: httpx.AsyncClient  # authorised
    address: str
    token: str

    def anonymous(self, **headers: str) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.address, headers=headers, timeout=10.0)


@asynccontextmanager
async def running_desk(home: Path, overrides: dict[str, Any] | None = None) -> AsyncIterator[Running]:
    from imperium_desk.config import deep_merge

    desk = Desk(config(deep_merge(FAST, overrides or {})), home=home, clock=WallClock())
    desk.start()
    try:
        address = await desk.start_feedback()
        token = desk.feedback_token_path.read_text().strip()
        async with httpx.AsyncClient(base_url=address, headers={"Authorization": f"Bearer {token}"},
                                     timeout=10.0) as client:
            yield Running(desk, client, address, token)
    finally:
        await desk.stop()


def record(event: str = "ack", **fields: Any) -> dict[str, Any]:
    """An external measurement as a sender would post it."""
    return {"schema_version": 1, "event": event, "asset": "NIFTY26NOV24000CE", "underlying": "NIFTY", "qty": 65,
            **fields}


async def wait_indexed(client: httpx.AsyncClient, seq: int, timeout_s: float = 10.0) -> None:
    """Until the record `seq` can be read back through the API (the index follows the JSONL by a few ms)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while loop.time() < deadline:
        page = (await client.get("/feedback/metrics", params={"since": encode_cursor(seq - 1), "limit": 1})).json()
        if page["items"]:
            return
        await asyncio.sleep(0.01)
    raise TimeoutError(f"record {seq} was not indexed within {timeout_s} s")


def atm_call(desk: Desk, underlying: str = "NIFTY") -> str:
    expiry = desk.expiries(underlying, 1)[0]
    return desk.contract(underlying, expiry, desk.atm_strike(underlying), OptionRight.CE).symbol
