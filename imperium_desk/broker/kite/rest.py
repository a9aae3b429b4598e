"""`KiteRest`: the official `kiteconnect.KiteConnect` behind async methods, off the event loop, within Kite's limits.

Two lanes, each one thread with its own client (so its own `requests.Session`) and the same access token:
- order writes (place, modify, cancel) on one thread, so they leave in the order they were asked for;
- reads (order book, order history, positions, margins, profile, instruments, quotes) on another, so a slow book
  or instruments download never holds an order back.

Client-side limits (`limits.KiteRateLimits`, from `KiteConfig.limits`) are taken on the loop before a request is
handed to its lane; waiting for them is an awaited future. Every failure of the client is translated by
`errors.translate` into a `broker/errors.py` class on the lane's thread, with the `Retry-After` of a 429 answer
when it carried one (the client's own NetworkException drops the response, so a `requests` response hook notes it).

Session: a TokenException (HTTP 403) on either lane turns `session_valid` off at once (on the lane's thread, so an
order write queued behind the one that met the 403 is not sent) and calls the `on_session_expired` callbacks once,
on the loop. While it is off, order writes raise `BrokerSessionExpired` without a request; reads are still tried
(they fail the same way and cost nothing at the exchange). `set_access_token` turns it back on.

Secrets: the access token is handed to the two clients and kept nowhere else; the clients' debug logging (which
prints the Authorization header) stays off, and error messages come from `translate`, which redacts credentials and
URL parameters; an answer that echoes the token bare has it cut out too, and its original exception is dropped.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, cast

import requests
from kiteconnect import KiteConnect  # type: ignore[import-untyped]

from imperium_desk.broker.errors import (
    BrokerError,
    BrokerInputError,
    BrokerMarginError,
    BrokerNetworkError,
    BrokerOrderRejected,
    BrokerSessionExpired,
    BrokerThrottled,
    BrokerUnreachable,
)
from imperium_desk.broker.kite.config import KiteConfig
from imperium_desk.broker.kite.errors import translate
from imperium_desk.broker.kite.instruments import KiteInstrument, cached_dump
from imperium_desk.broker.kite.limits import KiteRateLimits, Permit, WindowLimiter
from imperium_desk.clock import Clock

__all__ = ["KitePlacement", "KiteRest", "SessionListener"]

_log = logging.getLogger(__name__)

SessionListener = Callable[[], None]
KiteCall = Callable[[Any], Any]

# Errors that prove a request was not acted on: a modification or placement counted against a quota is given back.
_NOT_ACTED_ON = (
    BrokerThrottled, BrokerUnreachable, BrokerSessionExpired, BrokerInputError, BrokerMarginError, BrokerOrderRejected,
)


@dataclass(frozen=True, slots=True)
class KitePlacement:
    """One `place_order` as Kite takes it (kite-notes §1.3): Kite's own spellings, the client tag, and market
    protection for a MARKET order. `params()` are the client's keyword arguments (None fields left out, as the
    client itself would)."""

    exchange: str
    tradingsymbol: str
    transaction_type: str
    quantity: int
    product: str
    order_type: str
    tag: str
    price: float | None = None
    market_protection: float | None = None
    validity: str = "DAY"
    variety: str = "regular"

    def params(self) -> dict[str, Any]:
        params: dict[str, Any] = {
            "variety": self.variety, "exchange": self.exchange, "tradingsymbol": self.tradingsymbol,
            "transaction_type": self.transaction_type, "quantity": self.quantity, "product": self.product,
            "order_type": self.order_type, "validity": self.validity, "tag": self.tag,
        }
        if self.price is not None:
            params["price"] = self.price
        if self.market_protection is not None:
            # Kite reads -1 (automatic) or a percentage; an integral value goes as an integer, as Kite's docs spell it.
            mp = self.market_protection
            params["market_protection"] = int(mp) if float(mp).is_integer() else mp
        return params


class _Taken:
    """A quota's `take`, remembering whether it succeeded: only a taken place may be given back."""

    __slots__ = ("_take", "done")

    def __init__(self, take: Callable[[], None]) -> None:
        self._take = take
        self.done = False

    def __call__(self) -> None:
        self._take()
        self.done = True


class _Lane:
    """One thread and the client used only on it; `retry_after_s` is the last 429 answer's Retry-After on it."""

    def __init__(self, name: str, client: Any) -> None:
        self.name = name
        self.client = client
        self.executor = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
        self.retry_after_s: float | None = None
        client.reqsession.hooks["response"].append(self._note_response)

    def _note_response(self, response: requests.Response, *_args: Any, **_kwargs: Any) -> requests.Response:
        if response.status_code == 429:
            value = response.headers.get("Retry-After")
            try:
                self.retry_after_s = max(0.0, float(value)) if value is not None else None
            except ValueError:  # the HTTP-date form: no wall-clock reading on this thread; the policy's backoff
                self.retry_after_s = None
        return response


class KiteRest:
    """Kite Connect's REST API for one account, as coroutines on the engine's loop.

    Threading: every public method is called on the loop, and coroutines resolve on it; the blocking calls run on
    the two lane threads (see the module docstring). `on_session_expired` callbacks are called on the loop.
    `close()` stops the lanes (requests not yet started fail with BrokerUnreachable).

    Errors: only `broker/errors.py` classes. BrokerTimeout / BrokerNetworkError: the outcome is unknown (an order
    write may have been acted on). BrokerUnreachable: never sent. BrokerThrottled: refused (429), with the
    Retry-After it carried. BrokerSessionExpired: log in again. BrokerInputError / BrokerMarginError /
    BrokerOrderRejected: refused for good. The day's order quota and the modification cap refuse with
    BrokerOrderRejected before anything is sent.
    """

    def __init__(
        self,
        config: KiteConfig,
        clock: Clock,
        access_token: str | None = None,
    ) -> None:
        self.config = config
        self._clock = clock
        self.limits = KiteRateLimits(clock, config.limits)
        self._writes = _Lane("kite-writes", _official_client(config))
        self._reads = _Lane("kite-reads", _official_client(config))
        self._session_listeners: list[SessionListener] = []
        self._generation = 0  # bumped by every new token: a late 403 of an old token cannot end the new session
        self._session_valid = False
        self._notified = False
        self._closed = False
        if access_token is not None:
            self.set_access_token(access_token)

    def __repr__(self) -> str:  # never the token
        return f"KiteRest(root={self.config.rest_url!r}, session_valid={self._session_valid})"

    # -- session -----------------------------------------------------------------------------------------------
    @property
    def session_valid(self) -> bool:
        """True while the access token is believed good: set by `set_access_token`, cleared by a TokenException."""
        return self._session_valid

    def set_access_token(self, access_token: str) -> None:
        """Use a new day's (or a fresh login's) access token on both lanes, and send orders again."""
        # It goes into an HTTP header: no whitespace or control character may ride along (Kite's are alphanumeric).
        if not access_token or not access_token.isascii() or not access_token.isprintable() \
                or any(c.isspace() for c in access_token):
            raise BrokerInputError("the access token must be printable ASCII without spaces")
        self._generation += 1
        for lane in (self._writes, self._reads):
            lane.client.set_access_token(access_token)
        self._notified = False
        self._session_valid = True

    def on_session_expired(self, callback: SessionListener) -> None:
        """Call `callback()` on the loop when the session ends (once per token); it must not block or raise."""
        self._session_listeners.append(callback)

    def _expire(self, generation: int, loop: asyncio.AbstractEventLoop) -> None:
        """On a lane thread: the token of `generation` was refused. Stop order writes at once; tell the loop."""
        if generation != self._generation:
            return
        self._session_valid = False
        with contextlib.suppress(RuntimeError):  # the loop has closed: nobody is left to tell
            loop.call_soon_threadsafe(self._notify_expired, generation)

    def _notify_expired(self, generation: int) -> None:
        if generation != self._generation or self._notified:
            return
        self._notified = True
        _log.warning("Kite session expired (TokenException): order writes stopped until a new login")
        for listener in list(self._session_listeners):
            try:
                listener()
            except Exception:
                _log.exception("a session-expiry listener raised")

    # -- order writes ------------------------------------------------------------------------------------------
    async def place_order(self, placement: KitePlacement) -> str:
        """Place one order; its Kite order id once Kite acknowledges it. Refused with BrokerOrderRejected, without a
        request, once the day's `orders_per_day` placements have been sent."""
        self._check_writable()
        taken = _Taken(self.limits.day.take)
        try:
            result = await self._call(self._writes, self.limits.orders, lambda c: c.place_order(**placement.params()),
                                      write=True, before_send=taken)
        except _NOT_ACTED_ON:
            if taken.done:
                self.limits.day.give_back()
            raise
        return str(result)

    async def modify_order(
        self,
        order_id: str,
        *,
        quantity: int | None = None,
        price: float | None = None,
        order_type: str | None = None,
        market_protection: float | None = None,
        variety: str = "regular",
    ) -> str:
        """Modify an open order (None: unchanged); refused with BrokerOrderRejected without a request once the
        order has had `modifications_per_order` modifications."""
        self._check_writable()
        quota = self.limits.modifications
        params: dict[str, Any] = {"variety": variety, "order_id": order_id, "quantity": quantity, "price": price,
                                  "order_type": order_type}
        if market_protection is not None:
            params["market_protection"] = int(market_protection) if float(market_protection).is_integer() \
                else market_protection
        taken = _Taken(lambda: quota.take(order_id))
        try:
            result = await self._call(self._writes, self.limits.orders, lambda c: c.modify_order(**params),
                                      write=True, before_send=taken)
        except _NOT_ACTED_ON:
            if taken.done:
                quota.give_back(order_id)
            raise
        return str(result)

    async def cancel_order(self, order_id: str, *, variety: str = "regular") -> str:
        self._check_writable()
        result = await self._call(self._writes, self.limits.orders,
                                  lambda c: c.cancel_order(variety=variety, order_id=order_id), write=True)
        return str(result)

    def _check_writable(self) -> None:
        if self._closed:
            raise BrokerUnreachable("the Kite REST client is closed: not sent")
        if not self._session_valid:
            raise BrokerSessionExpired("the Kite session has expired or no one has logged in: not sent")

    # -- reads ---------------------------------------------------------------------------------------------------
    async def orders(self) -> list[dict[str, Any]]:
        """The account's order book for the day, oldest first, as Kite's order dicts with its timestamp strings.

        Read through the client's request method rather than `orders()`: `orders()` re-parses two timestamps per
        order with dateutil (about 40 us each, 0.4 s for a 5,000-order book on every poll and tag lookup), and
        `mapping.KiteOrder` reads the strings itself."""
        data = await self._read(lambda c: c._get("orders"))  # the client's own request method: see the docstring
        return _dict_list(data, "orders")

    async def order_history(self, order_id: str) -> list[dict[str, Any]]:
        """Every state one order went through, oldest first."""
        data = await self._read(lambda c: c.order_history(order_id))
        return _dict_list(data, "order history")

    async def positions(self) -> dict[str, list[dict[str, Any]]]:
        """`{"net": [...], "day": [...]}` as Kite reports them."""
        data = await self._read(lambda c: c.positions())
        positions = _dict(data, "positions")
        return {key: _dict_list(positions.get(key, []), f"positions.{key}") for key in ("net", "day")}

    async def margins(self, segment: str | None = None) -> dict[str, Any]:
        data = await self._read(lambda c: c.margins(segment))
        return _dict(data, "margins")

    async def profile(self) -> dict[str, Any]:
        data = await self._read(lambda c: c.profile())
        return _dict(data, "profile")

    async def quote(self, instruments: Sequence[str]) -> dict[str, Any]:
        """Full quotes (depth, OI, volume) for `EXCHANGE:TRADINGSYMBOL` keys; one quote call (limit: 1/s)."""
        keys = list(instruments)
        data = await self._call(self._reads, self.limits.quotes, lambda c: c.quote(keys), write=False)
        return _dict(data, "quote")

    async def ltp(self, instruments: Sequence[str]) -> dict[str, Any]:
        keys = list(instruments)
        data = await self._call(self._reads, self.limits.quotes, lambda c: c.ltp(keys), write=False)
        return _dict(data, "ltp")

    async def instruments(self, exchange: str, cache_dir: Path, day: date) -> list[KiteInstrument]:
        """The option rows of `exchange`'s instruments dump for `day`: from the day's cache under `cache_dir`, else
        downloaded (and cached). Reading, downloading and parsing all happen on the read lane."""

        def load(client: Any) -> list[KiteInstrument]:
            def download() -> str:
                # The raw CSV (what the cache keeps), not `instruments()`'s parsed rows.
                raw = client._get("market.instruments", url_args={"exchange": exchange})
                return raw.decode("utf-8") if isinstance(raw, bytes) else str(raw)

            return cached_dump(cache_dir, exchange, day, download)

        return cast(list[KiteInstrument], await self._read(load))

    async def _read(self, call: KiteCall) -> Any:
        return await self._call(self._reads, self.limits.reads, call, write=False)

    # -- the lanes -----------------------------------------------------------------------------------------------
    async def _call(
        self, lane: _Lane, limiter: WindowLimiter, call: KiteCall, *, write: bool,
        before_send: Callable[[], None] | None = None,
    ) -> Any:
        """Wait for `limiter` on the loop, run `call(client)` on `lane`'s thread, and answer its result or raise its
        translated error. `before_send` (a quota) runs once the slot is granted, just before the hand-off; what it
        raises is raised without a request. The permit is released when the request is done (not when the caller
        stops waiting), so a cancelled caller cannot free a slot for a request still on the wire."""
        permit = await limiter.acquire()
        try:
            if self._closed:
                raise BrokerUnreachable("the Kite REST client is closed: not sent")
            if write and not self._session_valid:  # expired while this request waited for its slot
                raise BrokerSessionExpired("the Kite session has expired: not sent")
            if before_send is not None:
                before_send()
        except BrokerError:
            permit.release()
            raise
        loop = asyncio.get_running_loop()
        generation = self._generation
        try:
            future = lane.executor.submit(self._run, lane, call, write, generation, loop)
        except RuntimeError as exc:  # the executor was shut down meanwhile
            permit.release()
            raise BrokerUnreachable("the Kite REST client is closed: not sent") from exc
        future.add_done_callback(lambda _f: _release_on(loop, permit))
        return await asyncio.wrap_future(future, loop=loop)

    def _run(self, lane: _Lane, call: KiteCall, write: bool, generation: int, loop: asyncio.AbstractEventLoop) -> Any:
        """On the lane's thread: one request, its failure translated."""
        if write and not self._session_valid:
            # A 403 on an earlier write came in while this one waited in the queue: not sent.
            raise BrokerSessionExpired("the Kite session has expired: not sent")
        lane.retry_after_s = None
        try:
            return call(lane.client)
        except Exception as exc:
            error = translate(exc, sent=True, retry_after_s=lane.retry_after_s)
            if isinstance(error, BrokerSessionExpired):
                self._expire(generation, loop)
            token = lane.client.access_token
            if _mentions(exc, token) or _mentions(error, token):
                # An answer that echoes the token bare (translate's patterns cover credentials and URL parameters):
                # cut it out, and drop the original, whose message a logged traceback would print.
                error.args = tuple(str(arg).replace(token, "<redacted>") for arg in error.args)
                raise error from None
            raise error from exc

    def close(self) -> None:
        """Stop both lanes; requests already running finish, queued ones fail as not sent."""
        self._closed = True
        for lane in (self._writes, self._reads):
            lane.executor.shutdown(wait=False, cancel_futures=True)


def _official_client(config: KiteConfig) -> Any:
    # debug stays False: the client's debug log prints the Authorization header, which carries the access token.
    return KiteConnect(api_key=config.api_key, root=config.rest_url, timeout=config.timeout, debug=False)


def _mentions(error: BaseException, token: str | None) -> bool:
    return bool(token) and any(str(token) in str(arg) for arg in error.args)


def _release_on(loop: asyncio.AbstractEventLoop, permit: Permit) -> None:
    """Release a permit on the loop (the executor calls its done-callbacks on the lane thread)."""
    if loop.is_closed():
        return
    try:
        loop.call_soon_threadsafe(permit.release)
    except RuntimeError:  # the loop closed between the check and the call
        return


def _dict(data: Any, what: str) -> dict[str, Any]:
    # A malformed answer (a proxy's page that parsed as JSON, a changed API) says nothing about what was done.
    if not isinstance(data, dict):
        raise BrokerNetworkError(f"Kite {what}: expected an object, got {type(data).__name__}")
    return cast(dict[str, Any], data)


def _dict_list(data: Any, what: str) -> list[dict[str, Any]]:
    if not isinstance(data, list) or not all(isinstance(item, dict) for item in data):
        raise BrokerNetworkError(f"Kite {what}: expected a list of objects")
    return cast(list[dict[str, Any]], data)

