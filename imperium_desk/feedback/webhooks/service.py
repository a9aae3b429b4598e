"""The webhook service: the outbox, the feeder and the dispatcher behind one object the desk owns."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import random
import secrets
import uuid
from collections.abc import Mapping, Sequence
from concurrent.futures import Future
from pathlib import Path
from typing import Any, Final

import httpx
import orjson

from imperium_desk.clock import Clock
from imperium_desk.feedback.webhooks.allowlist import check_url
from imperium_desk.feedback.webhooks.config import WebhooksConfig
from imperium_desk.feedback.webhooks.dispatcher import Dispatcher
from imperium_desk.feedback.webhooks.errors import (
    UnknownWebhook,
    WebhookConflict,
    WebhookInputError,
    WebhooksNotRunning,
)
from imperium_desk.feedback.webhooks.events import MESSAGE_EVENTS, check_events
from imperium_desk.feedback.webhooks.feeder import RecordFeeder
from imperium_desk.feedback.webhooks.outbox import Message, Outbox, Subscriber, iso
from imperium_desk.feedback.webhooks.outbox_thread import OutboxThread
from imperium_desk.feedback.webhooks.signing import parse_secret
from imperium_desk.feedback.webhooks.source import TelemetrySource
from imperium_desk.feedback.webhooks.views import DeadLetterView, SubscriberView
from imperium_desk.telemetry.sinks import Record

log = logging.getLogger(__name__)

STOP_GRACE_S: Final = 2.0  # how long stop() lets requests in flight finish before cancelling them
DEAD_LETTERS_SHOWN: Final = 1000


def config_subscriber_id(url: str) -> str:
    """Stable across restarts, so a config subscriber keeps its queue and counters."""
    return "cfg_" + hashlib.sha256(url.encode()).hexdigest()[:12]


class WebhookService:
    """Signed webhook deliveries of the desk's telemetry (and published messages) from a durable outbox.

    Construction does no I/O. Lifecycle, on the desk's running loop (a WallClock loop: the service uses threads):

    * `await start()`: opens `db_path` (SQLite, WAL, mode 0600), syncs the config's subscribers, and starts
      feeding and delivering. A new outbox starts at the telemetry's current end; an existing one continues from
      the last seq it stored, reading anything it missed from `source` (so a restart loses nothing).
    * `hand(records, lines)`: every batch the telemetry JSONL has flushed, from any thread (the hub's writer
      thread), never blocks. Optional for correctness: what is not handed is read from `source` within
      `config.poll_interval_s`.
    * `await stop()`: requests in flight get `STOP_GRACE_S`, acknowledgements are written, the outbox is closed;
      no task or thread is left.

    Operations for the REST API and the desk's panel (async: the database work runs on the outbox thread):
    `add(url, secret, events=None) -> SubscriberView`, `subscribers() -> list[SubscriberView]`, `remove(id)`,
    `enable(id) -> SubscriberView` (after a 410), `dead_letters(limit) -> list[DeadLetterView]`,
    `redeliver(dead_letter_id)`. Bad input raises
    `WebhookInputError` (`.field`: url | secret | events | id → 422; `WebhookConflict`, a URL already subscribed,
    → 409), an unknown id `UnknownWebhook` (→ 404).
    `publish(event, data) -> message id` sends something that is not a telemetry record (`MESSAGE_EVENTS`).

    Each delivery is a POST of `{"type": <event>, "timestamp": ..., "data": <record>}` with the Standard Webhooks
    headers; the id is `msg_<desk_id>_<seq>` for a record."""

    def __init__(
        self, db_path: Path, config: WebhooksConfig, clock: Clock, desk_id: str, source: TelemetrySource,
        *, rng: random.Random | None = None,
    ) -> None:
        self.db_path = db_path
        self.config = config
        self._clock = clock
        self._desk_id = desk_id
        self._source = source
        self._rng = rng or random.Random()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: OutboxThread | None = None
        self._outbox: Outbox | None = None  # owned by the outbox thread
        self._feeder: RecordFeeder | None = None
        self._dispatcher: Dispatcher | None = None
        self._client: httpx.AsyncClient | None = None
        self._stopping = False

    # -- lifecycle --------------------------------------------------------------------------------------------
    async def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("the webhook service is already started")
        self._loop = asyncio.get_running_loop()
        thread = self._thread = OutboxThread(self._step, self.config.poll_interval_s)
        thread.start()
        try:
            subscribers = await thread.run(self._open)
            # Building a client loads the CA bundle (tens of ms): on the outbox thread, not the loop.
            self._client = await thread.run(self._new_client)
        except BaseException:
            await thread.run(self._close)
            await thread.stop()
            self._thread = None
            raise
        self._dispatcher = Dispatcher(thread, self._require_outbox, self.config, self._clock, self._client, self._rng)
        for subscriber in subscribers:
            self._dispatcher.run(subscriber)
        thread.feed()

    async def stop(self) -> None:
        thread = self._thread
        if thread is None or self._stopping:
            return
        self._stopping = True
        try:
            if self._dispatcher is not None:
                await self._dispatcher.stop(STOP_GRACE_S)
            if self._client is not None:
                await self._client.aclose()
        finally:
            await thread.run(self._close)
            await thread.stop()

    def _open(self) -> list[Subscriber]:
        outbox = self._outbox = Outbox(self.db_path)
        now = self._clock.now()
        wanted = {config_subscriber_id(s.url): s for s in self.config.subscribers}
        for sub_id, entry in wanted.items():
            outbox.put_subscriber(sub_id, entry.url, entry.secret, entry.events, "config", now)
        for stored in outbox.subscribers():
            if stored.origin == "config" and stored.id not in wanted:
                outbox.remove(stored.id)  # taken out of the config file: its queue goes with it
        self._feeder = RecordFeeder(outbox, self._source, self._desk_id, outbox.subscribers)
        fed = self._feeder.start()
        log.info("webhook outbox %s: continuing after telemetry seq %d", self.db_path, fed)
        return outbox.subscribers()

    def _new_client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            timeout=httpx.Timeout(self.config.timeout_s),
            follow_redirects=False,  # a redirect could lead off the allow-list
            trust_env=False,  # no proxy from the environment: loopback deliveries must stay on loopback
            headers={"user-agent": "imperium-desk-webhooks"},
        )

    def _close(self) -> None:
        if self._outbox is not None:
            self._outbox.close()
            self._outbox = None
            self._feeder = None

    def _step(self) -> bool:
        feeder = self._feeder
        if feeder is None:
            return False
        more, touched = feeder.step()
        self._notify(touched)
        return more

    def _notify(self, touched: set[str]) -> None:
        """From the outbox thread: wake the lanes of subscribers that got deliveries."""
        loop, dispatcher = self._loop, self._dispatcher
        if touched and loop is not None and dispatcher is not None:
            with contextlib.suppress(RuntimeError):  # the loop closed under a late step: nothing left to wake
                loop.call_soon_threadsafe(dispatcher.wake, touched)

    def _require_outbox(self) -> Outbox:
        if self._outbox is None:
            raise WebhooksNotRunning("the webhook outbox is closed")
        return self._outbox

    def _running(self) -> OutboxThread:
        if self._thread is None or self._stopping:
            raise WebhooksNotRunning("the webhook service is not running")
        return self._thread

    # -- input ------------------------------------------------------------------------------------------------
    @property
    def fed_seq(self) -> int:
        """The last telemetry seq stored in the outbox (0 before start)."""
        return self._feeder.fed_seq if self._feeder is not None else 0

    def hand(self, records: Sequence[Record], lines: Sequence[bytes]) -> None:
        """A batch the telemetry JSONL has flushed. Any thread; never blocks or raises."""
        feeder, thread = self._feeder, self._thread
        if feeder is not None and thread is not None and not self._stopping and feeder.hand(records, lines):
            thread.wake()

    def publish(self, event: str, data: Mapping[str, Any]) -> str:
        """Queue a message that is not a telemetry record (a learner's proposal, ...) for the subscribers that
        want `event`; returns its webhook id. On the loop; the write happens on the outbox thread."""
        if event not in MESSAGE_EVENTS:
            raise ValueError(f"event {event!r} cannot be published; one of {', '.join(MESSAGE_EVENTS)}")
        thread = self._running()
        msg_id = f"msg_{self._desk_id}_{event}_{uuid.uuid4().hex[:16]}"
        body = orjson.dumps({"type": event, "timestamp": iso(self._clock.now()), "data": data})
        message = Message(msg_id, event, None, body)

        def store() -> None:
            assert self._feeder is not None
            self._notify(self._feeder.publish(message))

        def report(future: Future[None]) -> None:
            if future.exception() is not None:
                log.error("webhook publish %s failed: %s", msg_id, future.exception())

        thread.call(store).add_done_callback(report)
        return msg_id

    # -- subscribers ------------------------------------------------------------------------------------------
    async def add(self, url: str, secret: str, events: Sequence[str] | None = None) -> SubscriberView:
        try:
            check_url(url, self.config.allow_hosts)
        except ValueError as exc:
            raise WebhookInputError("url", str(exc)) from None
        try:
            parse_secret(secret)
        except ValueError as exc:
            raise WebhookInputError("secret", str(exc)) from None
        try:
            names = None if events is None else check_events(events)
        except ValueError as exc:
            raise WebhookInputError("events", str(exc)) from None
        thread = self._running()
        sub_id = "wh_" + secrets.token_hex(8)
        now = self._clock.now()

        def put() -> tuple[Subscriber, SubscriberView]:
            outbox = self._require_outbox()
            taken = next((s for s in outbox.subscribers() if s.url == url), None)
            if taken is not None:
                raise WebhookConflict("url", f"{url!r} is already subscribed as {taken.id}")
            outbox.put_subscriber(sub_id, url, secret, names, "api", now)
            return _find(outbox.subscribers(), sub_id), _find(outbox.views(), sub_id)

        subscriber, view = await thread.run(put)
        assert self._dispatcher is not None
        self._dispatcher.run(subscriber)
        return view

    async def subscribers(self) -> list[SubscriberView]:
        """Every subscriber with its state and counts (pending, dead, delivered): the desk's status view."""
        return await self._running().run(lambda: self._require_outbox().views())

    async def remove(self, subscriber_id: str) -> None:
        def delete() -> None:
            outbox = self._require_outbox()
            sub = next((s for s in outbox.subscribers() if s.id == subscriber_id), None)
            if sub is None:
                raise UnknownWebhook(f"no webhook subscriber {subscriber_id!r}")
            if sub.origin == "config":
                raise WebhookInputError(
                    "id", f"{subscriber_id} comes from the config file (feedback.webhooks.subscribers): remove it there"
                )
            outbox.remove(subscriber_id)

        thread = self._running()
        assert self._dispatcher is not None
        await thread.run(delete)
        self._dispatcher.drop(subscriber_id)

    async def enable(self, subscriber_id: str) -> SubscriberView:
        """Deliver again to a subscriber that was disabled (410 Gone): its queue resumes where it stopped."""

        def activate() -> tuple[Subscriber, SubscriberView]:
            outbox = self._require_outbox()
            if not outbox.enable(subscriber_id):
                raise UnknownWebhook(f"no webhook subscriber {subscriber_id!r}")
            return _find(outbox.subscribers(), subscriber_id), _find(outbox.views(), subscriber_id)

        subscriber, view = await self._running().run(activate)
        assert self._dispatcher is not None
        self._dispatcher.run(subscriber)
        return view

    # -- dead letters -----------------------------------------------------------------------------------------
    async def dead_letters(self, limit: int = DEAD_LETTERS_SHOWN) -> list[DeadLetterView]:
        """Deliveries that ran out of attempts, oldest first."""
        return await self._running().run(lambda: self._require_outbox().dead_letters(limit))

    async def redeliver(self, dead_letter_id: int) -> None:
        """Queue a dead letter again with fresh attempts; it goes out before its subscriber's later deliveries."""
        now = self._clock.now()
        sub_id = await self._running().run(lambda: self._require_outbox().redeliver(dead_letter_id, now))
        if sub_id is None:
            raise UnknownWebhook(f"no dead letter {dead_letter_id}")
        assert self._dispatcher is not None
        self._dispatcher.wake({sub_id}, urgent=True)


def _find[T: (Subscriber, SubscriberView)](items: Sequence[T], sub_id: str) -> T:
    return next(item for item in items if item.id == sub_id)
