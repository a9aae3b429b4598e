"""`FakeKite`: a loopback Kite Connect server (REST + ticker websocket) for tests and benchmarks.

It speaks the real protocol, so the real clients can be pointed at it (kite-notes §3.2):

    with FakeKite(FakeKiteConfig(orders_per_s=50)) as kite:
        client = KiteConnect(kite.api_key, access_token=kite.access_token, root=kite.root)
        ticker = KiteTicker(kite.api_key, kite.access_token, root=kite.ws_root)

Threading: `start()` runs the server on a thread of its own with its own asyncio loop (the simulated market, the
paper exchange and every handler live there), listening on one OS-chosen port of 127.0.0.1. So the same server
serves sync code (the official client, in any thread) and async tests (whose own loop never runs the fake). Every
public method below is thread-safe and may be called from any thread except the fake's own loop; those that need
the loop (`place_external`, `jump`, `drop_ws`, ...) wait for it for a few milliseconds.

REST (paths and methods exactly as `KiteConnect._routes`): POST/DELETE /session/token, GET /user/profile,
/user/margins, /user/margins/{segment}, /orders, POST /orders/{variety}, PUT and DELETE /orders/{variety}/{order_id},
GET /orders/{order_id} (history), /orders/{order_id}/trades, /trades, /portfolio/positions, /instruments,
/instruments/{exchange} (text/csv), /quote and /quote/ltp (`?i=EXCHANGE:SYMBOL`, repeated: the dump's options and
the simulated underlyings' indices, `NSE:NIFTY 50`, `BSE:SENSEX`; an index's quote has no depth, volume or OI, as
Kite's has none; unknown keys are left out of the answer). Answers are Kite's
envelope, `{"status": "success", "data": ...}` or `{"status": "error", "message", "error_type", "data": null}`,
always with a Content-Type. Every route but POST /session/token needs `X-Kite-Version: 3` (else 400
InputException) and a live `Authorization: token api_key:access_token` (else 403 TokenException).

Order writes (place, modify, cancel) share one limit, `orders_per_s` in any one-second window (429
NetworkException "Too many requests" beyond it), and every write is recorded (`order_writes()`), throttled and
refused ones too, with its time on the fake's loop: `max_writes_in_window()` and `duplicate_tags()` are the
assertions a client's pacing and idempotency are judged by.

Faults: `faults` (a `FaultPlan`) per route and per call; `expire_token()` (now) or a `wall_time` past 06:00 IST
(the config's injectable clock) for session death, after which REST answers 403 TokenException and the ticker
handshake is refused with 403; `drop_ws()`, `stall_ws()`, and `max_ws_connections` (a 4th connection gets 429)
for the ticker.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Final, Self

from aiohttp import web

from imperium_desk.domain.enums import OptionRight
from tests.fake_kite.faults import ORDER_WRITES, Fault, FaultKind, FaultPlan, Phase, Route
from tests.fake_kite.instruments import InstrumentRow
from tests.fake_kite.sessions import Sessions
from tests.fake_kite.state import (
    TOO_MANY_REQUESTS,
    FakeKiteConfig,
    IndexRow,
    KiteAccount,
    KiteApiError,
    OrderWrite,
    WriteOutcome,
    ist_text,
)
from tests.fake_kite.ticker import TickerHub

_START_TIMEOUT_S: Final = 10.0
_CALL_TIMEOUT_S: Final = 10.0
_HTML_502: Final = (
    "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>"
    "\r\n</body>\r\n</html>\r\n"
)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Action = Callable[[web.Request, dict[str, str]], Awaitable[Any]]


@dataclass(frozen=True, slots=True)
class RequestRecord:
    """One REST request as answered: its route, method, HTTP status (0: dropped without an answer) and loop time."""

    route: Route
    method: str
    status: int
    at: float


def _ok(data: Any) -> web.Response:
    return web.json_response({"status": "success", "data": data})


def _error(status: int, error_type: str, message: str) -> web.Response:
    return web.json_response(
        {"status": "error", "message": message, "error_type": error_type, "data": None}, status=status
    )


class FakeKite:
    """One fake Kite account behind one api key (see the module docstring for the protocol and threading)."""

    def __init__(self, config: FakeKiteConfig | None = None) -> None:
        self.config = config or FakeKiteConfig()
        self.faults = FaultPlan()
        self.sessions = Sessions(self.config.api_key, self.config.api_secret, self.config.wall_time)
        self.access_token = self.sessions.issue()  # a logged-in session, for tests that skip the login
        self.request_token = self.sessions.new_request_token()  # an unused one, for tests of the login
        self._lock = threading.Lock()
        self._writes: list[OrderWrite] = []
        self._requests: list[RequestRecord] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._account: KiteAccount | None = None
        self._hub: TickerHub | None = None
        self._runner: web.AppRunner | None = None
        self._ready = threading.Event()
        self._start_error: BaseException | None = None
        self.port = 0

    # -- lifecycle -------------------------------------------------------------------------------------------
    def start(self) -> Self:
        """Start the server thread and return once it listens (the market is ticking by then)."""
        if self._thread is not None:
            raise RuntimeError("this FakeKite was started already")
        self._thread = threading.Thread(target=self._run, name="fake-kite", daemon=True)
        self._thread.start()
        if not self._ready.wait(_START_TIMEOUT_S):
            raise TimeoutError("the fake Kite did not start")
        if self._start_error is not None:
            raise RuntimeError("the fake Kite failed to start") from self._start_error
        return self

    def stop(self) -> None:
        """Close every connection, stop the market and the loop, and join the thread. Idempotent."""
        thread, loop = self._thread, self._loop
        if thread is None or loop is None or not thread.is_alive():
            return
        asyncio.run_coroutine_threadsafe(self._shutdown(), loop).result(_CALL_TIMEOUT_S)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(_CALL_TIMEOUT_S)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def root(self) -> str:
        """REST root for `KiteConnect(root=...)`."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_root(self) -> str:
        """Ticker root for `KiteTicker(root=...)` (it appends `?api_key=...&access_token=...`)."""
        return f"ws://127.0.0.1:{self.port}/ws"

    @property
    def api_key(self) -> str:
        return self.config.api_key

    @property
    def api_secret(self) -> str:
        return self.config.api_secret

    def _run(self) -> None:
        loop = self._loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self._serve())
        except BaseException as exc:  # reported to start()'s caller
            self._start_error = exc
            self._ready.set()
            loop.close()
            return
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            # Handlers still holding an answer back (a delay fault) are cancelled, not destroyed pending.
            pending = asyncio.all_tasks(loop)
            for task in pending:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    async def _serve(self) -> None:
        account = self._account = KiteAccount(self.config)
        self._hub = TickerHub(account, self.sessions)
        app = web.Application()
        add = app.router.add_route
        add("POST", "/session/token", self._endpoint(Route.SESSION, self._session, auth=False))
        add("DELETE", "/session/token", self._endpoint(Route.SESSION_INVALIDATE, self._invalidate))
        add("GET", "/user/profile", self._endpoint(Route.PROFILE, self._profile))
        add("GET", "/user/margins", self._endpoint(Route.MARGINS, self._margins))
        add("GET", "/user/margins/{segment}", self._endpoint(Route.MARGINS_SEGMENT, self._margins_segment))
        add("GET", "/orders", self._endpoint(Route.ORDERS, self._orders))
        add("POST", "/orders/{variety}", self._endpoint(Route.PLACE, self._place))
        add("PUT", "/orders/{variety}/{order_id}", self._endpoint(Route.MODIFY, self._modify))
        add("DELETE", "/orders/{variety}/{order_id}", self._endpoint(Route.CANCEL, self._cancel))
        add("GET", "/orders/{order_id}", self._endpoint(Route.ORDER_INFO, self._order_info))
        add("GET", "/orders/{order_id}/trades", self._endpoint(Route.ORDER_TRADES, self._order_trades))
        add("GET", "/trades", self._endpoint(Route.TRADES, self._trades))
        add("GET", "/portfolio/positions", self._endpoint(Route.POSITIONS, self._positions))
        add("GET", "/instruments", self._endpoint(Route.INSTRUMENTS_ALL, self._instruments))
        add("GET", "/instruments/{exchange}", self._endpoint(Route.INSTRUMENTS, self._instruments))
        add("GET", "/quote", self._endpoint(Route.QUOTE, self._quote))
        add("GET", "/quote/ltp", self._endpoint(Route.LTP, self._ltp))
        app.router.add_get("/ws", self._hub.handle)
        runner = self._runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=0.1)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        self.port = int(runner.addresses[0][1])
        account.start()

    async def _shutdown(self) -> None:
        if self._account is not None:
            self._account.stop()
        if self._hub is not None:
            for conn in list(self._hub.connections):
                await conn.ws.close()
        if self._runner is not None:
            await self._runner.cleanup()

    # -- the request pipeline ------------------------------------------------------------------------------
    def _endpoint(self, route: Route, action: Action, *, auth: bool = True) -> Handler:
        async def handle(request: web.Request) -> web.StreamResponse:
            response = await self._answer(route, action, request, auth=auth)
            self._log_request(route, request.method, response.status if response is not None else 0)
            if response is None:  # dropped: there is no answer to give
                raise asyncio.CancelledError
            return response

        return handle

    async def _answer(
        self, route: Route, action: Action, request: web.Request, *, auth: bool
    ) -> web.StreamResponse | None:
        write = route in ORDER_WRITES
        params = await self._params(request)
        try:
            if auth:
                if request.headers.get("X-Kite-Version") != "3":
                    raise KiteApiError(400, "InputException", "Missing or invalid `X-Kite-Version` header.")
                self.sessions.check_header(request.headers.get("Authorization"))
        except KiteApiError as exc:
            self._log_write(write, route, request, params, None, WriteOutcome.REFUSED)
            return _error(exc.status, exc.error_type, exc.message)
        fault = self.faults.take(route)
        if fault is not None and fault.phase is Phase.BEFORE:
            outcome = WriteOutcome.THROTTLED if fault.status == 429 else WriteOutcome.REFUSED
            self._log_write(write, route, request, params, None, outcome)
            return self._fault_response(fault, request)
        if write and not self._account_now().limit.admit(self._now()):
            self._log_write(write, route, request, params, None, WriteOutcome.THROTTLED)
            return _error(429, "NetworkException", TOO_MANY_REQUESTS)
        try:
            data = await action(request, params)
        except KiteApiError as exc:
            self._log_write(write, route, request, params, None, WriteOutcome.REFUSED)
            return _error(exc.status, exc.error_type, exc.message)
        order_id = data.get("order_id") if isinstance(data, dict) else None
        if fault is not None:
            self._log_write(write, route, request, params, order_id, WriteOutcome.FAULTED)
            if fault.kind is FaultKind.DELAY:
                await asyncio.sleep(fault.delay_s)
            else:
                return self._fault_response(fault, request)
        else:
            self._log_write(write, route, request, params, order_id, WriteOutcome.ACCEPTED)
        if isinstance(data, web.StreamResponse):
            return data
        return _ok(data)

    @staticmethod
    def _fault_response(fault: Fault, request: web.Request) -> web.StreamResponse | None:
        if fault.kind is FaultKind.HTML:
            return web.Response(status=fault.status, text=_HTML_502, content_type="text/html")
        if fault.kind is FaultKind.DROP:
            transport = request.transport
            if transport is not None:
                transport.abort()
            return None
        return _error(fault.status, fault.error_type, fault.message)

    @staticmethod
    async def _params(request: web.Request) -> dict[str, str]:
        params = {k: v for k, v in request.query.items()}
        if request.method in ("POST", "PUT") and request.can_read_body:
            form = await request.post()
            params.update({k: v for k, v in form.items() if isinstance(v, str)})
        return params

    def _log_write(
        self, write: bool, route: Route, request: web.Request, params: dict[str, str], order_id: str | None,
        outcome: WriteOutcome,
    ) -> None:
        if not write:
            return
        order_id = order_id or request.match_info.get("order_id")
        tag = params.get("tag") or None
        symbol = params.get("tradingsymbol") or None
        if route is not Route.PLACE and order_id is not None and self._account is not None:
            record = self._account.known(order_id)
            if record is not None:
                tag, symbol = record.tag, record.row.tradingsymbol
        with self._lock:
            self._writes.append(OrderWrite(str(route), self._now(), tag, symbol, order_id, outcome))

    def _log_request(self, route: Route, method: str, status: int) -> None:
        with self._lock:
            self._requests.append(RequestRecord(route, method, status, self._now()))

    def _now(self) -> float:
        assert self._loop is not None
        return self._loop.time()

    def _account_now(self) -> KiteAccount:
        assert self._account is not None, "the fake Kite is not started"
        return self._account

    # -- REST actions (on the loop) ----------------------------------------------------------------------
    async def _session(self, request: web.Request, params: dict[str, str]) -> Any:
        token = self.sessions.exchange(
            params.get("api_key", ""), params.get("request_token", ""), params.get("checksum", "")
        )
        profile = self._profile_data()
        now = self.config.wall_time()
        return {
            **profile, "api_key": self.api_key, "access_token": token, "public_token": token[:16],
            "refresh_token": "", "enctoken": "", "login_time": ist_text(now),
        }

    async def _invalidate(self, request: web.Request, params: dict[str, str]) -> Any:
        self.sessions.revoke(params.get("access_token"))
        return True

    def _profile_data(self) -> dict[str, Any]:
        name = self.config.user_name
        return {
            "user_id": self.config.user_id, "user_type": "individual", "email": "fake@example.invalid",
            "user_name": name, "user_shortname": name.split()[0], "broker": "ZERODHA",
            "exchanges": ["NSE", "BSE", "NFO", "BFO"], "products": ["CNC", "NRML", "MIS"],
            "order_types": ["MARKET", "LIMIT", "SL", "SL-M"], "avatar_url": None, "meta": {"demat_consent": ""},
        }

    async def _profile(self, request: web.Request, params: dict[str, str]) -> Any:
        return self._profile_data()

    async def _margins(self, request: web.Request, params: dict[str, str]) -> Any:
        return await self._account_now().margins()

    async def _margins_segment(self, request: web.Request, params: dict[str, str]) -> Any:
        segment = request.match_info["segment"]
        margins = await self._account_now().margins()
        if segment not in margins:
            raise KiteApiError(400, "InputException", f"Invalid segment `{segment}`.")
        return margins[segment]

    async def _orders(self, request: web.Request, params: dict[str, str]) -> Any:
        return self._account_now().orders()

    async def _place(self, request: web.Request, params: dict[str, str]) -> Any:
        account = self._account_now()
        checked = account.check_place(request.match_info["variety"], params)
        record = account.create(checked)
        await account.send(record, checked)
        return {"order_id": record.order_id}

    async def _modify(self, request: web.Request, params: dict[str, str]) -> Any:
        m = request.match_info
        return {"order_id": await self._account_now().modify(m["order_id"], m["variety"], params)}

    async def _cancel(self, request: web.Request, params: dict[str, str]) -> Any:
        m = request.match_info
        return {"order_id": await self._account_now().cancel(m["order_id"], m["variety"])}

    async def _order_info(self, request: web.Request, params: dict[str, str]) -> Any:
        return self._account_now().history(request.match_info["order_id"])

    async def _order_trades(self, request: web.Request, params: dict[str, str]) -> Any:
        return self._account_now().order_trades(request.match_info["order_id"])

    async def _trades(self, request: web.Request, params: dict[str, str]) -> Any:
        return self._account_now().trades()

    async def _positions(self, request: web.Request, params: dict[str, str]) -> Any:
        return await self._account_now().positions()

    async def _instruments(self, request: web.Request, params: dict[str, str]) -> Any:
        exchange = request.match_info.get("exchange")
        dump = self._account_now().dump
        if exchange is not None and exchange not in dump.exchanges():
            raise KiteApiError(400, "InputException", f"Invalid exchange `{exchange}`.")
        return web.Response(text=dump.csv(exchange), content_type="text/csv")

    def _rows(self, request: web.Request) -> list[InstrumentRow | IndexRow]:
        account = self._account_now()
        rows: list[InstrumentRow | IndexRow | None] = []
        for key in request.query.getall("i", []):
            rows.append(account.row_for_key(key) or account.index_for_key(key))
        return [r for r in rows if r is not None]

    async def _quote(self, request: web.Request, params: dict[str, str]) -> Any:
        account = self._account_now()
        out: dict[str, Any] = {}
        for row in self._rows(request):
            if isinstance(row, IndexRow):
                level = account.index_level(row.underlying)
                out[row.key] = {
                    "instrument_token": row.instrument_token, "timestamp": ist_text(level.timestamp),
                    "last_price": level.last_price, "net_change": round(level.last_price - level.close, 2),
                    "ohlc": {"open": level.open, "high": level.high, "low": level.low, "close": level.close},
                }
                continue
            q = account.quote(row)
            o, h, low, c = account.ohlc(q.symbol)
            oi_low, oi_high = account.oi_range(q.symbol)
            stamp = ist_text(q.timestamp)
            out[row.key] = {
                "instrument_token": row.instrument_token, "timestamp": stamp, "last_trade_time": stamp,
                "last_price": q.ltp, "last_quantity": row.contract.lot_size,
                "buy_quantity": sum(n for _, n in q.bids), "sell_quantity": sum(n for _, n in q.asks),
                "volume": q.volume, "average_price": round(q.turnover / q.volume, 2) if q.volume else q.ltp,
                "oi": q.oi, "oi_day_high": oi_high, "oi_day_low": oi_low, "net_change": round(q.ltp - c, 2),
                "lower_circuit_limit": row.contract.tick_size, "upper_circuit_limit": round(c * 5 + 100, 2),
                "ohlc": {"open": o, "high": h, "low": low, "close": c},
                "depth": {
                    "buy": [{"price": p, "quantity": n, "orders": 1} for p, n in q.bids[:5]],
                    "sell": [{"price": p, "quantity": n, "orders": 1} for p, n in q.asks[:5]],
                },
            }
        return out

    async def _ltp(self, request: web.Request, params: dict[str, str]) -> Any:
        account = self._account_now()
        return {
            row.key: {
                "instrument_token": row.instrument_token,
                "last_price": (
                    account.index_level(row.underlying).last_price if isinstance(row, IndexRow)
                    else account.quote(row).ltp
                ),
            }
            for row in self._rows(request)
        }

    # -- control (any thread but the fake's loop) ------------------------------------------------------------
    def call[T](self, fn: Callable[[KiteAccount], T]) -> T:
        """Run `fn(account)` on the fake's loop and return its result (e.g. `lambda a: a.market.jump(...)`)."""
        async def run() -> T:
            return fn(self._account_now())

        return self._run_on_loop(run())

    def _run_on_loop[T](self, coro: Coroutine[Any, Any, T]) -> T:
        loop = self._loop
        if loop is None or self._thread is None:
            raise RuntimeError("the fake Kite is not started")
        if threading.current_thread() is self._thread:
            raise RuntimeError("a FakeKite control method was called on the fake's own loop")
        return asyncio.run_coroutine_threadsafe(coro, loop).result(_CALL_TIMEOUT_S)

    def place_external(
        self,
        tradingsymbol: str,
        transaction_type: str,
        quantity: int,
        *,
        order_type: str = "MARKET",
        price: float | None = None,
        product: str = "NRML",
        market_protection: float = -1,
        tag: str | None = None,
    ) -> str:
        """An order placed elsewhere on the account (Kite web or mobile): no tag unless given, not counted as an
        API write, not rate limited; it shows in orders, trades, positions and websocket updates. Returns its
        order id once the exchange has acknowledged it; `KiteApiError` if the venue refuses it."""
        row = next((r for r in self._account_now().dump.rows if r.tradingsymbol == tradingsymbol), None)
        if row is None:
            raise KiteApiError(400, "InputException", f"Invalid `tradingsymbol`: {tradingsymbol}.")
        params = {
            "exchange": row.exchange, "tradingsymbol": tradingsymbol, "transaction_type": transaction_type,
            "quantity": str(quantity), "product": product, "order_type": order_type,
        }
        if order_type == "MARKET":
            params["market_protection"] = str(market_protection)
        if price is not None:
            params["price"] = str(price)
        if tag is not None:
            params["tag"] = tag
        return self._run_on_loop(self._account_now().place("regular", params, placed_by="WEB"))

    def expire_token(self, access_token: str | None = None) -> None:
        """Kill one access token (None: every one): REST answers 403 TokenException, the ticker refuses 403."""
        self.sessions.revoke(access_token)

    def new_request_token(self) -> str:
        return self.sessions.new_request_token()

    def new_access_token(self) -> str:
        """A fresh session, as a completed login would give (valid until the next 06:00 IST)."""
        return self.sessions.issue()

    def set_orders_per_s(self, per_s: int | None) -> None:
        """Change the order-write limit now (None: unlimited)."""
        async def apply() -> None:
            self._account_now().limit.per_s = per_s

        self._run_on_loop(apply())

    def instrument(
        self, underlying: str = "NIFTY", *, steps: int = 0, right: OptionRight = OptionRight.CE, expiry_index: int = 0
    ) -> InstrumentRow:
        """A row of the dump: `steps` strikes from the money, of the `expiry_index`-th listed expiry."""
        async def find() -> InstrumentRow:
            account = self._account_now()
            expiries = sorted({r.contract.expiry for r in account.dump.rows if r.contract.underlying == underlying})
            strike = account.catalog.strike_offset(underlying, account.market.spot(underlying), steps)
            for row in account.dump.rows:
                c = row.contract
                if (c.underlying, c.expiry, c.strike, c.right) == (underlying, expiries[expiry_index], strike, right):
                    return row
            raise LookupError(f"no {underlying} {strike:g}{right} in the dump")

        return self._run_on_loop(find())

    def quote_ask(self, tradingsymbol: str) -> float:
        """The best ask now (a price a LIMIT buy fills at) of a dump instrument."""
        return self.call(lambda a: a.quote(a.dump.by_symbol[tradingsymbol]).ask)

    # -- what the fake saw ---------------------------------------------------------------------------------------
    def orders(self) -> list[dict[str, Any]]:
        """Every order of the account as last changed (Kite dicts; copies)."""
        return self._account_now().published_orders()

    def wait_for_orders(
        self, predicate: Callable[[list[dict[str, Any]]], bool], timeout: float = 5.0
    ) -> list[dict[str, Any]]:
        """Block until `predicate(orders)` holds (TimeoutError after `timeout` s); returns the orders then."""
        return self._account_now().wait_for(predicate, timeout)

    def order_writes(self, route: Route | None = None) -> list[OrderWrite]:
        """Every order write received (place, modify, cancel; `route` filters), oldest first."""
        with self._lock:
            return [w for w in self._writes if route is None or w.route == route]

    def requests(self) -> list[RequestRecord]:
        """Every REST request answered (or dropped), oldest first."""
        with self._lock:
            return list(self._requests)

    def max_writes_in_window(
        self, route: Route | None = Route.PLACE, window_s: float = 1.0, outcomes: Iterable[WriteOutcome] | None = None,
    ) -> int:
        """The most writes (of `route`, all routes if None; of `outcomes`, all if None) that arrived within any
        `window_s` seconds: the client's pacing, as the exchange counts it."""
        allowed = set(outcomes) if outcomes is not None else None
        times = sorted(w.at for w in self.order_writes(route) if allowed is None or w.outcome in allowed)
        best, first = 0, 0
        for last, t in enumerate(times):
            while t - times[first] >= window_s:
                first += 1
            best = max(best, last - first + 1)
        return best

    def duplicate_tags(self) -> dict[str, int]:
        """Tags carried by more than one order in the book (tag -> how many): what a blind resend leaves."""
        counts: dict[str, int] = {}
        for order in self.orders():
            if order["tag"]:
                counts[order["tag"]] = counts.get(order["tag"], 0) + 1
        return {tag: n for tag, n in counts.items() if n > 1}

    # -- ticker ---------------------------------------------------------------------------------------------------
    def _hub_now(self) -> TickerHub:
        assert self._hub is not None, "the fake Kite is not started"
        return self._hub

    def ws_subscriptions(self) -> list[dict[int, str]]:
        """Each open ticker connection's token -> mode."""
        return self._hub_now().subscriptions()

    def ws_refusals(self) -> list[int]:
        """HTTP statuses of refused ticker handshakes (403 bad or expired token, 429 too many), in order."""
        return self._hub_now().refusals()

    def wait_for_ws(self, predicate: Callable[[list[dict[int, str]]], bool], timeout: float = 5.0) -> None:
        """Block until `predicate(ws_subscriptions())` holds (TimeoutError after `timeout` s)."""
        self._hub_now().wait_for(predicate, timeout)

    def drop_ws(self) -> int:
        """Abort every ticker connection (TCP reset, no close frame); returns how many."""
        async def drop() -> int:
            return self._hub_now().drop()

        return self._run_on_loop(drop())

    def stall_ws(self, stalled: bool = True) -> None:
        """Stop (True) or resume (False) all ticker traffic: ticks, order updates and heartbeats are discarded."""
        async def apply() -> None:
            self._hub_now().stalled = stalled

        self._run_on_loop(apply())
