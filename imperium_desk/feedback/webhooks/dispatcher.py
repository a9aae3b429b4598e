"""Delivery: one task per subscriber, one request in flight each, strictly in outbox order.

A subscriber's task reads its next deliveries from the outbox (on the outbox thread) and posts them one by one,
signed afresh for each attempt. A 2xx acknowledges (acknowledgements are written in batches: one transaction per
batch of deliveries, not per request; `flush` writes the rest, and the service's stop calls it). Any other answer,
or none, schedules the same delivery again (backoff with jitter, or the receiver's Retry-After) and the subscriber
waits: nothing after it goes first. After `max_attempts` the delivery becomes a dead letter and the subscriber
moves on. A delivery that can never succeed (the client refuses the URL itself: a subscriber stored before URLs
were checked strictly) is a dead letter at once, with the reason. 410 Gone disables the subscriber.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

import httpx

from imperium_desk.clock import Clock
from imperium_desk.feedback.webhooks.config import WebhooksConfig
from imperium_desk.feedback.webhooks.outbox import Delivery, Outbox, Subscriber
from imperium_desk.feedback.webhooks.outbox_thread import OutboxThread
from imperium_desk.feedback.webhooks.retry import next_delay, parse_retry_after
from imperium_desk.feedback.webhooks.signing import parse_secret, signed_headers

log = logging.getLogger(__name__)

_ACK_EVERY_S: Final = 0.25  # an acknowledgement waits at most this long for its batch's transaction
_ERROR_CHARS: Final = 300  # of a failure's text kept for the dead-letter list
_LOOP_ERROR_PAUSE_S: Final = 1.0


@dataclass(eq=False)
class _Lane:
    subscriber: Subscriber
    key: bytes
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None
    # Waiting for a retry time: new deliveries behind the one waiting change nothing, so they do not wake it.
    holding: bool = False


@dataclass(frozen=True, slots=True)
class _Outcome:
    ok: bool
    status: int | None
    error: str
    retry_after_s: float | None = None
    permanent: bool = False  # no later attempt can succeed: dead-letter it now


class Dispatcher:
    """The delivery lanes of the webhook service (module docstring): one task per active subscriber, on the running
    loop, where every method is called. The outbox is only touched inside `thread.run`, on the outbox thread. An
    acknowledgement waits in memory up to a quarter second for its batch's write; one lost in a crash only means the
    delivery is sent again with the same id, which receivers deduplicate on."""

    def __init__(
        self, thread: OutboxThread, outbox: Callable[[], Outbox], config: WebhooksConfig, clock: Clock,
        client: httpx.AsyncClient, rng: random.Random,
    ) -> None:
        self._thread = thread
        self._outbox = outbox  # the Outbox lives on the outbox thread: only used inside thread.run(...)
        self._config = config
        self._clock = clock
        self._client = client
        self._rng = rng
        self._lanes: dict[str, _Lane] = {}
        self._acks: list[tuple[str, int, int]] = []
        self._stopping = False

    def run(self, subscriber: Subscriber) -> None:
        """Start (or restart, with a changed secret or filter) delivering to an active subscriber."""
        self.drop(subscriber.id)
        if subscriber.state != "active":
            return
        lane = _Lane(subscriber, parse_secret(subscriber.secret))
        lane.task = asyncio.get_running_loop().create_task(self._deliver(lane), name=f"webhook:{subscriber.id}")
        self._lanes[subscriber.id] = lane

    def drop(self, subscriber_id: str) -> None:
        lane = self._lanes.pop(subscriber_id, None)
        if lane is not None and lane.task is not None:
            lane.task.cancel()

    def wake(self, subscriber_ids: set[str] | None = None, *, urgent: bool = False) -> None:
        """New deliveries for these subscribers (None: all). `urgent` (a redelivery, stop) also cuts short a
        wait for a retry time."""
        for sub_id, lane in self._lanes.items():
            if (subscriber_ids is None or sub_id in subscriber_ids) and (urgent or not lane.holding):
                lane.wake.set()

    async def stop(self, grace_s: float) -> None:
        """Let each lane finish the request in flight (up to `grace_s`), cancel what is left, write the acks."""
        self._stopping = True
        self.wake(urgent=True)
        tasks = [lane.task for lane in self._lanes.values() if lane.task is not None]
        if tasks:
            _, late = await asyncio.wait(tasks, timeout=grace_s)
            for task in late:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        self._lanes.clear()
        await self.flush()

    async def flush(self) -> None:
        acks, self._acks = self._acks, []
        if acks:
            await self._thread.run(lambda: self._outbox().acknowledge(acks))

    # -- one subscriber ---------------------------------------------------------------------------------------
    async def _deliver(self, lane: _Lane) -> None:
        sub_id = lane.subscriber.id
        while not self._stopping:
            lane.wake.clear()
            try:
                batch = await self._thread.run(lambda: self._outbox().pending(sub_id, self._config.batch_records))
                if not await self._send_batch(lane, batch):
                    return  # disabled (410)
            except Exception:  # the outbox failed (disk full, locked): the deliveries wait in it, try again
                log.exception("webhook subscriber %s: delivery loop failed; retrying", sub_id)
                await self._wait(lane, _LOOP_ERROR_PAUSE_S, holding=True)

    async def _send_batch(self, lane: _Lane, batch: list[Delivery]) -> bool:
        """Post the batch in order until it is done or a delivery has to wait; False once the subscriber is off."""
        if not batch:
            await self._wait(lane, None)
            return True
        last_ack = self._clock.monotonic()
        for delivery in batch:
            if self._stopping:
                return True
            due = delivery.next_attempt_at - self._clock.now()
            if due > 0:
                await self.flush()
                await self._wait(lane, due, holding=True)
                return True  # read the queue again: a redelivery or a removal may have changed it
            outcome = await self._post(lane, delivery)
            if outcome.ok:
                self._acks.append((lane.subscriber.id, delivery.id, delivery.pos))
                if self._clock.monotonic() - last_ack >= _ACK_EVERY_S:
                    await self.flush()
                    last_ack = self._clock.monotonic()
                continue
            await self.flush()
            return await self._failed(lane, delivery, outcome)
        await self.flush()
        return True

    async def _post(self, lane: _Lane, delivery: Delivery) -> _Outcome:
        timestamp = int(self._clock.now())
        headers = signed_headers(lane.key, delivery.msg_id, timestamp, delivery.body)
        try:
            response = await self._client.post(lane.subscriber.url, content=delivery.body, headers=headers)
        except (httpx.InvalidURL, httpx.UnsupportedProtocol) as exc:  # the URL itself: no retry can help
            return _Outcome(False, None, f"{type(exc).__name__}: {exc}"[:_ERROR_CHARS], permanent=True)
        except httpx.HTTPError as exc:
            return _Outcome(False, None, f"{type(exc).__name__}: {exc}"[:_ERROR_CHARS] or type(exc).__name__)
        status = response.status_code
        if 200 <= status < 300:
            return _Outcome(True, status, "")
        retry_after = parse_retry_after(response.headers.get("retry-after"), self._clock.now())
        return _Outcome(False, status, f"HTTP {status} {response.reason_phrase}".strip(), retry_after)

    async def _failed(self, lane: _Lane, delivery: Delivery, outcome: _Outcome) -> bool:
        sub_id = lane.subscriber.id
        outbox = self._outbox
        if outcome.status == 410:
            reason = f"the receiver answered 410 Gone for {delivery.msg_id}: subscriber disabled"
            log.warning("webhook subscriber %s (%s): %s", sub_id, lane.subscriber.url, reason)
            await self._thread.run(lambda: outbox().disable(sub_id, reason))
            self._lanes.pop(sub_id, None)
            return False
        attempts = delivery.attempts + 1
        now = self._clock.now()
        if outcome.permanent or attempts >= self._config.max_attempts:
            log.warning("webhook %s to %r: dead letter after %d attempt(s) (%s)", delivery.msg_id,
                        lane.subscriber.url, attempts, outcome.error)
            await self._thread.run(lambda: outbox().kill(delivery.id, attempts, now, outcome.status, outcome.error))
            return True
        config = self._config
        delay = next_delay(attempts, outcome.retry_after_s, base_s=config.backoff_base_s, max_s=config.backoff_max_s,
                           retry_after_max_s=config.retry_after_max_s, rng=self._rng)
        await self._thread.run(
            lambda: outbox().retry_later(delivery.id, attempts, now + delay, outcome.status, outcome.error)
        )
        await self._wait(lane, delay, holding=True)
        return True

    async def _wait(self, lane: _Lane, seconds: float | None, *, holding: bool = False) -> None:
        """Until woken or `seconds` pass. `holding`: waiting for a retry time, only an urgent wake ends it early."""
        if self._stopping:
            return
        lane.holding = holding
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(lane.wake.wait(), seconds)
        finally:
            lane.holding = False
