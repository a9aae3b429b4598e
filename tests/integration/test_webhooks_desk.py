"""Webhooks from a real Desk (wall clock, plain asyncio) to a real receiver: a desk restarted mid-backlog loses
nothing. The service reads the desk's telemetry through its public surface (the JSONL path and the flushed seq the
status reports), exactly what survives a restart."""

from __future__ import annotations

import asyncio
from pathlib import Path

import orjson

from imperium_desk.clock import WallClock
from imperium_desk.desk import Desk
from imperium_desk.domain.enums import OptionRight, Side
from imperium_desk.execution.request import ExecutionRequest
from imperium_desk.feedback.webhooks.config import WebhooksConfig
from imperium_desk.feedback.webhooks.service import WebhookService
from imperium_desk.feedback.webhooks.signing import generate_secret
from imperium_desk.feedback.webhooks.source import JsonlSource
from tests.support import config
from tests.webhook_receiver import Receiver

SECRET = generate_secret()
DESK_ID = "desk-under-test"


def flushed_seq(desk: Desk) -> int:
    return next(s.stored_seq for s in desk.telemetry_status() if s.name == "jsonl")


def webhooks_for(desk: Desk, receiver: Receiver, home: Path) -> WebhookService:
    cfg = WebhooksConfig.model_validate({
        "subscribers": [{"url": receiver.url, "secret": SECRET}],
        "backoff_base_s": 0.02, "backoff_max_s": 0.1, "poll_interval_s": 0.05,
    })
    source = JsonlSource(desk.telemetry_path, lambda: flushed_seq(desk))
    return WebhookService(home / "webhooks.sqlite", cfg, WallClock(), DESK_ID, source)


async def trade(desk: Desk, orders: int) -> None:
    expiry = desk.expiries("NIFTY", 1)[0]
    symbol = desk.contract("NIFTY", expiry, desk.atm_strike("NIFTY"), OptionRight.CE).symbol
    for _ in range(orders):
        await desk.submit(ExecutionRequest(symbol=symbol, side=Side.BUY, quantity=65)).task


def test_desk_restarted_mid_backlog_loses_nothing(tmp_path: Path) -> None:
    cfg = config({"telemetry": {"fsync": False, "flush_interval_ms": 20, "markouts_s": []},
                  "latency_model": {"global": {"type": "constant", "value_ms": 2}}})

    async def main() -> tuple[int, list[str]]:
        receiver = Receiver(SECRET)
        await receiver.start()
        first = Desk(cfg, home=tmp_path, clock=WallClock())
        first.start()
        hooks = webhooks_for(first, receiver, tmp_path)
        await hooks.start()
        start_seq = hooks.fed_seq
        await trade(first, 2)
        await receiver.wait_for(1)
        await receiver.stop()  # the backlog builds up from here
        await trade(first, 5)
        await hooks.stop()
        await first.stop()
        assert len(receiver.accepted) < flushed_seq(first) - start_seq  # some were still waiting at the stop

        second = Desk(cfg, home=tmp_path, clock=WallClock())
        second.start()
        hooks = webhooks_for(second, receiver, tmp_path)
        await hooks.start()
        await receiver.start()
        await trade(second, 1)
        await second.stop()  # every record flushed
        total = flushed_seq(second) - start_seq
        await receiver.wait_for(total)
        await asyncio.sleep(0.2)  # a repeat would arrive now
        await hooks.stop()
        await receiver.stop()
        assert receiver.rejected == []
        return start_seq, receiver.ids

    start_seq, receiver_ids = asyncio.run(main())
    lines = (tmp_path / "execution_quality_paper.jsonl").read_bytes().splitlines()
    logged = [orjson.loads(line)["seq"] for line in lines]
    expected = [f"msg_{DESK_ID}_{seq}" for seq in logged if seq > start_seq]
    assert len(expected) > 10
    assert receiver_ids == expected
