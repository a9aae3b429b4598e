"""Webhooks over real HTTP on loopback: a uvicorn receiver verifying every signature with `standardwebhooks`, a real
JSONL telemetry log (the writer thread hands flushed batches over, as the desk's hub does), a real SQLite outbox.

Each test runs its own asyncio loop on the wall clock; backoff and polling are shrunk through the config."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from imperium_desk.clock import WallClock
from imperium_desk.feedback.webhooks.config import WebhooksConfig
from imperium_desk.feedback.webhooks.errors import UnknownWebhook, WebhookInputError
from imperium_desk.feedback.webhooks.outbox import Outbox
from imperium_desk.feedback.webhooks.service import WebhookService
from imperium_desk.feedback.webhooks.signing import generate_secret
from imperium_desk.feedback.webhooks.source import JsonlSource
from imperium_desk.feedback.webhooks.views import DeadLetterView
from imperium_desk.telemetry.jsonl import JsonlWriter
from tests.webhook_receiver import Receiver

DESK = "desk-a"
SECRET = generate_secret()
FAST: dict[str, Any] = {"backoff_base_s": 0.02, "backoff_max_s": 0.1, "poll_interval_s": 0.05, "timeout_s": 2.0}


class TelemetryLog:
    """A desk-like telemetry log: records written with rising seq, flushed batches handed to the listeners."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.listeners: list[Callable[[Sequence[dict[str, Any]], Sequence[bytes]], None]] = []
        self.writer = JsonlWriter(path, append=True, flush_interval_s=0.01, flush_records=50, fsync=False,
                                  on_flushed_batch=self._flushed)
        self.seq = self.writer.last_seq

    def _flushed(self, records: Sequence[dict[str, Any]], lines: Sequence[bytes]) -> None:
        for listener in self.listeners:
            listener(records, lines)

    def source(self) -> JsonlSource:
        return JsonlSource(self.path, lambda: self.writer.flushed_seq)

    def write(self, count: int, event: str = "fill") -> list[int]:
        seqs = []
        for _ in range(count):
            self.seq += 1
            self.writer.write({"schema_version": 1, "seq": self.seq, "event": event,
                               "timestamp": "2026-11-23T03:45:00.125000Z", "asset": "NIFTY", "qty": 65})
            seqs.append(self.seq)
        return seqs

    async def flushed(self) -> None:
        while self.writer.flushed_seq < self.seq:
            await asyncio.sleep(0.005)

    def close(self) -> None:
        self.writer.close()


def run[T](main: Callable[[], Coroutine[Any, Any, T]]) -> T:
    return asyncio.run(main())


def config(receivers: Sequence[Receiver] = (), events: Sequence[str] | None = None, **overrides: Any) -> WebhooksConfig:
    subs = [{"url": r.url, "secret": r.secret, "events": events} for r in receivers]
    return WebhooksConfig.model_validate({**FAST, "subscribers": subs, **overrides})


def service(tmp_path: Path, log: TelemetryLog, cfg: WebhooksConfig, *, hand: bool = True) -> WebhookService:
    svc = WebhookService(tmp_path / "webhooks.sqlite", cfg, WallClock(), DESK, log.source())
    if hand:
        log.listeners.append(svc.hand)
    return svc


@asynccontextmanager
async def delivering(
    tmp_path: Path, receiver: Receiver, *, subscribed: bool = True, hand: bool = True, **overrides: Any
) -> AsyncIterator[tuple[TelemetryLog, WebhookService]]:
    """The receiver up (a config subscriber unless `subscribed` is False), a telemetry log and a started service;
    on the way out all three stopped (stopping twice is harmless, so a test may stop either itself first)."""
    await receiver.start()  # first: its URL carries the port it was given
    log = TelemetryLog(tmp_path / "t.jsonl")
    svc = service(tmp_path, log, config([receiver] if subscribed else [], **overrides), hand=hand)
    await svc.start()
    try:
        yield log, svc
    finally:
        await svc.stop()
        await receiver.stop()
        log.close()


def ids(seqs: Sequence[int]) -> list[str]:
    return [f"msg_{DESK}_{s}" for s in seqs]


async def eventually(check: Callable[[], bool], timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


def test_every_delivery_is_signed_and_arrives_in_seq_order(tmp_path: Path) -> None:
    async def main() -> None:
        receiver = Receiver(SECRET)
        async with delivering(tmp_path, receiver) as (log, _svc):
            seqs = log.write(300)
            await receiver.wait_for(300)
        assert receiver.rejected == []
        assert receiver.ids == ids(seqs)
        first = receiver.accepted[0].payload
        assert first["type"] == "fill" and first["data"]["seq"] == seqs[0] and first["data"]["asset"] == "NIFTY"

    run(main)


def test_receiver_down_then_up_gets_each_message_once_in_order(tmp_path: Path) -> None:
    async def main() -> None:
        receiver = Receiver(SECRET)
        async with delivering(tmp_path, receiver) as (log, _svc):
            seqs = log.write(50)
            await receiver.wait_for(50)
            await receiver.stop()
            seqs += log.write(400)  # while the receiver is down: refused connections, retried with backoff
            await log.flushed()
            await asyncio.sleep(0.3)
            assert len(receiver.accepted) == 50
            await receiver.start()
            seqs += log.write(50)
            await receiver.wait_for(500)
            await asyncio.sleep(0.2)  # anything extra (a repeat) would arrive now
        assert receiver.rejected == []
        assert receiver.ids == ids(seqs)

    run(main)


def test_service_restarted_mid_backlog_loses_and_repeats_nothing(tmp_path: Path) -> None:
    async def main() -> None:
        receiver = Receiver(SECRET)
        await receiver.start()
        log = TelemetryLog(tmp_path / "t.jsonl")
        cfg = config([receiver])
        first = service(tmp_path, log, cfg)
        await first.start()
        seqs = log.write(1000)
        await receiver.wait_for(100)
        await first.stop()  # mid-backlog: most of the 1,000 are still in the outbox (or not yet in it)
        assert len(receiver.accepted) < 1000
        seqs += log.write(300)  # written while no service runs: read back from the log on the next start
        await log.flushed()
        log.listeners.clear()
        second = service(tmp_path, log, cfg)
        await second.start()
        seqs += log.write(100)
        await receiver.wait_for(1400)
        await asyncio.sleep(0.2)
        await second.stop()
        await receiver.stop()
        log.close()
        assert receiver.ids == ids(seqs)
        assert receiver.rejected == []

    run(main)


def test_records_never_handed_over_arrive_from_the_log(tmp_path: Path) -> None:
    async def main() -> None:
        receiver = Receiver(SECRET)
        async with delivering(tmp_path, receiver, hand=False) as (log, _svc):
            seqs = log.write(120)
            await receiver.wait_for(120)
        assert receiver.ids == ids(seqs)

    run(main)


def test_a_new_outbox_starts_at_the_end_of_the_existing_log(tmp_path: Path) -> None:
    async def main() -> None:
        receiver = Receiver(SECRET)
        await receiver.start()
        log = TelemetryLog(tmp_path / "t.jsonl")
        log.write(40)  # history from before webhooks existed: not sent
        await log.flushed()
        svc = service(tmp_path, log, config([receiver]))
        await svc.start()
        seqs = log.write(5)
        await receiver.wait_for(5)
        await asyncio.sleep(0.2)
        await svc.stop()
        await receiver.stop()
        log.close()
        assert receiver.ids == ids(seqs)

    run(main)


def test_410_gone_disables_the_subscriber(tmp_path: Path) -> None:
    async def main() -> None:
        receiver = Receiver(SECRET)
        receiver.script.append((410, {}))
        async with delivering(tmp_path, receiver) as (log, svc):
            log.write(5)
            await eventually(lambda: len(receiver.attempts) >= 1)
            await asyncio.sleep(0.2)
            [view] = await svc.subscribers()
        assert len(receiver.attempts) == 1 and receiver.accepted == []
        assert view.state == "disabled" and view.disabled_reason is not None and "410" in view.disabled_reason

    run(main)


def test_re_enabled_subscriber_resumes_its_queue_in_order(tmp_path: Path) -> None:
    async def main() -> None:
        receiver = Receiver(SECRET)
        receiver.script.append((410, {}))
        async with delivering(tmp_path, receiver) as (log, svc):
            seqs = log.write(5)
            await eventually(lambda: len(receiver.attempts) >= 1)
            [view] = await svc.subscribers()
            await eventually(lambda: receiver.attempts[0].status == 410)
            await asyncio.sleep(0.1)
            enabled = await svc.enable(view.id)
            await receiver.wait_for(5)
        assert enabled.state == "active" and enabled.disabled_reason is None
        assert receiver.ids == ids(seqs)

    run(main)


def test_retry_after_is_honoured(tmp_path: Path) -> None:
    async def main() -> None:
        receiver = Receiver(SECRET)
        receiver.script.append((503, {"retry-after": "1"}))
        # backoff alone would retry within 0.02 s
        async with delivering(tmp_path, receiver) as (log, _svc):
            seqs = log.write(1)
            await receiver.wait_for(1)
        refused, accepted = receiver.attempts
        assert refused.status == 503 and accepted.msg_id == refused.msg_id == ids(seqs)[0]
        assert accepted.at - refused.at >= 0.95

    run(main)


def test_failing_delivery_becomes_a_dead_letter_and_the_subscriber_moves_on(tmp_path: Path) -> None:
    async def main() -> None:
        receiver = Receiver(SECRET)
        receiver.script.extend([(500, {}), (500, {}), (500, {})])
        async with delivering(tmp_path, receiver, max_attempts=3) as (log, svc):
            seqs = log.write(4)
            await receiver.wait_for(3)
            dead = await svc.dead_letters()
        assert receiver.ids == ids(seqs[1:])
        [letter] = dead
        assert letter.message_id == ids(seqs)[0] and letter.attempts == 3 and letter.last_status == 500
        assert letter.seq == seqs[0] and letter.url == receiver.url

    run(main)


def test_redelivered_dead_letter_arrives_with_its_original_id(tmp_path: Path) -> None:
    async def main() -> None:
        receiver = Receiver(SECRET)
        receiver.script.extend([(500, {}), (500, {})])
        async with delivering(tmp_path, receiver, max_attempts=2) as (log, svc):
            seqs = log.write(2)
            await receiver.wait_for(1)
            [letter] = await svc.dead_letters()
            await svc.redeliver(letter.id)
            await receiver.wait_for(2)
            remaining = await svc.dead_letters()
        assert receiver.ids == ids([seqs[1], seqs[0]])
        assert remaining == []

    run(main)


def test_redelivering_an_unknown_dead_letter_is_refused(tmp_path: Path) -> None:
    async def main() -> None:
        log = TelemetryLog(tmp_path / "t.jsonl")
        svc = service(tmp_path, log, config())
        await svc.start()
        try:
            with pytest.raises(UnknownWebhook):
                await svc.redeliver(12345)
        finally:
            await svc.stop()
            log.close()

    run(main)


def test_url_outside_the_allow_list_is_refused_naming_the_field(tmp_path: Path) -> None:
    async def main() -> None:
        log = TelemetryLog(tmp_path / "t.jsonl")
        svc = service(tmp_path, log, config())
        await svc.start()
        try:
            with pytest.raises(WebhookInputError) as refused:
                await svc.add("http://203.0.113.9/hooks", SECRET)
            assert refused.value.field == "url" and "allow-list" in refused.value.message
            assert await svc.subscribers() == []
        finally:
            await svc.stop()
            log.close()

    run(main)


def test_subscriber_added_at_runtime_gets_only_its_events(tmp_path: Path) -> None:
    async def main() -> None:
        receiver = Receiver(SECRET)
        async with delivering(tmp_path, receiver, subscribed=False) as (log, svc):
            view = await svc.add(receiver.url, SECRET, ["error"])
            log.write(3, "fill")
            errors = log.write(2, "error")
            log.write(3, "fill")
            await receiver.wait_for(2)
            await asyncio.sleep(0.2)
        assert view.origin == "api" and view.events == ["error"]
        assert receiver.ids == ids(errors)

    run(main)


def test_removed_subscriber_gets_nothing_more(tmp_path: Path) -> None:
    async def main() -> None:
        receiver = Receiver(SECRET)
        async with delivering(tmp_path, receiver, subscribed=False) as (log, svc):
            view = await svc.add(receiver.url, SECRET)
            log.write(3)
            await receiver.wait_for(3)
            await svc.remove(view.id)
            log.write(3)
            await log.flushed()
            await asyncio.sleep(0.2)
            left = await svc.subscribers()
        assert len(receiver.accepted) == 3 and left == []

    run(main)


def test_config_subscriber_cannot_be_removed_through_the_api(tmp_path: Path) -> None:
    async def main() -> None:
        log = TelemetryLog(tmp_path / "t.jsonl")
        svc = service(tmp_path, log, config([Receiver(SECRET, port=9)]))
        await svc.start()
        try:
            [view] = await svc.subscribers()
            with pytest.raises(WebhookInputError) as refused:
                await svc.remove(view.id)
            assert refused.value.field == "id" and "config file" in refused.value.message
            with pytest.raises(UnknownWebhook):
                await svc.remove("wh_nope")
        finally:
            await svc.stop()
            log.close()

    run(main)


def test_published_message_is_delivered_signed(tmp_path: Path) -> None:
    async def main() -> None:
        receiver = Receiver(SECRET)
        async with delivering(tmp_path, receiver) as (_log, svc):
            msg_id = svc.publish("model_proposal", {"kind": "latency", "scope": "NIFTY"})
            await receiver.wait_for(1)
        [got] = receiver.accepted
        assert got.msg_id == msg_id
        assert got.payload["type"] == "model_proposal" and got.payload["data"] == {"kind": "latency", "scope": "NIFTY"}

    run(main)


def test_outbox_file_is_private_to_the_user(tmp_path: Path) -> None:
    async def main() -> None:
        log = TelemetryLog(tmp_path / "t.jsonl")
        svc = service(tmp_path, log, config())
        await svc.start()
        await svc.stop()
        log.close()

    run(main)
    assert (tmp_path / "webhooks.sqlite").stat().st_mode & 0o777 == 0o600


def test_stop_leaves_no_task_behind(tmp_path: Path) -> None:
    async def main() -> set[asyncio.Task[Any]]:
        receiver = Receiver(SECRET)
        async with delivering(tmp_path, receiver) as (log, _svc):
            log.write(500)
            await receiver.wait_for(10)
        return asyncio.all_tasks() - {asyncio.current_task()}

    assert run(main) == set()


def test_delivery_to_a_url_the_client_refuses_is_a_dead_letter_at_once_with_its_reason(tmp_path: Path) -> None:
    """A subscriber stored before URLs were checked strictly (here a CR/LF in its URL): each delivery can never
    succeed, so it is dead-lettered on its first attempt with the client's reason, never retried."""

    async def main() -> None:
        outbox = Outbox(tmp_path / "webhooks.sqlite")
        outbox.put_subscriber("wh_crlf", "http://127.0.0.1:9/hooks\r\nX-Injected: 1", SECRET, None, "api",
                              time.time())
        outbox.close()
        log = TelemetryLog(tmp_path / "t.jsonl")
        svc = service(tmp_path, log, config(max_attempts=10))
        await svc.start()
        try:
            seqs = log.write(2)
            dead: list[DeadLetterView] = []

            async def both_dead() -> bool:
                dead[:] = await svc.dead_letters()
                return len(dead) == 2

            await eventually_async(both_dead)
            [view] = await svc.subscribers()
        finally:
            await svc.stop()
            log.close()
        assert [d.seq for d in dead] == seqs
        assert all(d.attempts == 1 and d.last_status is None and d.last_error for d in dead)
        assert view.last_error and view.pending == 0

    run(main)


async def eventually_async(check: Callable[[], Coroutine[Any, Any, bool]], timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)
