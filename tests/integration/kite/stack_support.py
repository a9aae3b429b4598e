"""The Kite adapter assembled against a fake Kite, with the real execution stack on top (tests and benchmarks).

`kite_rig` builds, on the running loop: a `KiteRest` (the official client inside) on the fake, today's instruments
downloaded through it into a cache directory, a `KiteBroker`, and an `ExecutionStack` sending to that broker. The
stack's `MarketData` is `FakeKiteMarket`: the fake's own simulated market read across its thread (the market the
fake fills against), each quote kept for `refresh_s` so a burst of parents does not cross threads per child.
Children go out as MARKET orders at HIGH urgency (`market_order`), so the router needs the touch only for its
telemetry.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from imperium_desk.broker.kite.broker import KiteBroker
from imperium_desk.broker.kite.config import KiteConfig, KiteLimits
from imperium_desk.broker.kite.instruments import KiteInstrument, KiteInstruments
from imperium_desk.broker.kite.rest import KiteRest
from imperium_desk.broker.kite.tags import KiteTags, trading_day
from imperium_desk.broker.kite.ticker import KiteTickerClient, ReconnectPolicy
from imperium_desk.clock import WallClock
from imperium_desk.domain.enums import Algo, Mode, OptionRight, OrderType, Side, Urgency
from imperium_desk.domain.instruments import InstrumentCatalog, OptionContract
from imperium_desk.execution.config import BucketRetry, ExecutionConfig, RetryConfig, RiskConfig
from imperium_desk.execution.cost import SlippageModel
from imperium_desk.execution.planner import ExecutionAlgoPlanner
from imperium_desk.execution.ratelimit import OrderRateLimiter
from imperium_desk.execution.request import ExecutionRequest
from imperium_desk.execution.retry import RetryPolicy
from imperium_desk.execution.risk import RiskGate
from imperium_desk.execution.router import SmartOrderRouter
from imperium_desk.execution.stack import ExecutionStack
from imperium_desk.execution.tracker import FillQualityTracker
from imperium_desk.market.config import default_instruments_path
from imperium_desk.market.port import Quote, TickListener
from imperium_desk.rng import RandomStreams
from tests.fake_kite.faults import Fault
from tests.fake_kite.server import FakeKite

DESK = "K2T"
# What the venue does to placements, in turn, with this many good placements between two faults.
FAULT_CYCLE: tuple[tuple[Fault, int], ...] = (
    (Fault.delay(1.0), 11),  # the answer is lost after the order was created: read timeout
    (Fault.throttle(), 5),
    (Fault.html(502), 7),  # a proxy's page before the order reached Kite
    (Fault.html(502, after=True), 9),  # ... after it did
    (Fault.throttle(), 0),  # a 429 storm of three
    (Fault.throttle(), 0),
    (Fault.throttle(), 6),
    (Fault.drop(), 13),  # the connection dropped after the order was created
    (Fault.error(500, "GeneralException", "Something went wrong"), 8),
)
# Retries fast enough for hundreds of faults in a test run.
FAST_RETRY = RetryConfig(
    max_attempts=8, base_delay_ms=5.0, max_delay_ms=100.0, lookup_attempts=10,
    throttle=BucketRetry(base_delay_ms=20.0, max_delay_ms=200.0),
)
# Reconnects and stall detection shortened for tests (the fake sends a heartbeat every second).
TICKER_POLICY = ReconnectPolicy(initial_delay_s=0.01, max_delay_s=0.05, stall_after_s=2.0, open_timeout_s=2.0,
                                close_timeout_s=0.5)


class FakeKiteMarket:
    """`MarketData` read from the fake Kite's simulated market (across its thread; tests only). A quote is kept for
    `refresh_s` (wall clock of `clock`) before it is read again."""

    def __init__(self, kite: FakeKite, clock: WallClock, refresh_s: float = 0.5) -> None:
        self._kite = kite
        self._clock = clock
        self._refresh_s = refresh_s
        self._quotes: dict[str, tuple[float, Quote]] = {}
        self._vol: dict[str, tuple[float, float]] = {}

    def _read(self, symbol: str) -> Quote:
        kept = self._quotes.get(symbol)
        now = self._clock.monotonic()
        if kept is not None and now - kept[0] < self._refresh_s:
            return kept[1]
        quote = self._kite.call(lambda a: a.quote(a.dump.by_symbol[symbol]))
        self._quotes[symbol] = (now, quote)
        return quote

    def subscribe(self, contract: OptionContract) -> Quote:
        return self._read(contract.symbol)

    def quote(self, symbol: str) -> Quote:
        return self._read(symbol)

    def spot(self, underlying: str) -> float:
        return self._kite.call(lambda a: a.market.spot(underlying))

    def _vol_volume(self, symbol: str) -> tuple[float, float]:
        kept = self._vol.get(symbol)
        if kept is None:
            kept = self._vol[symbol] = self._kite.call(
                lambda a: (a.market.daily_price_vol(symbol), a.market.expected_daily_volume(symbol))
            )
        return kept

    def daily_price_vol(self, symbol: str) -> float:
        return self._vol_volume(symbol)[0]

    def expected_daily_volume(self, symbol: str) -> float:
        return self._vol_volume(symbol)[1]

    def regime(self, underlying: str) -> tuple[float, float]:
        return (1.0, 1.0)

    def add_listener(self, listener: TickListener) -> None:
        del listener  # the stack reads quotes on demand; nothing here pushes ticks


@dataclass
class KiteRig:
    """The adapter and the stack on one fake Kite."""

    kite: FakeKite
    clock: WallClock
    config: KiteConfig
    rest: KiteRest
    instruments: KiteInstruments
    broker: KiteBroker
    market: FakeKiteMarket
    stack: ExecutionStack
    records: list[dict[str, Any]] = field(default_factory=list)
    ticker: KiteTickerClient | None = None  # order updates over the websocket, when the rig was built with one

    def contract(
        self, underlying: str = "NIFTY", *, steps: int = 0, right: OptionRight = OptionRight.CE
    ) -> OptionContract:
        return self.instruments.contract(self.kite.instrument(underlying, steps=steps, right=right).tradingsymbol)

    def contracts(self, count: int, underlying: str = "NIFTY") -> list[OptionContract]:
        """`count` contracts around the money (calls and puts, nearest strikes first)."""
        out: list[OptionContract] = []
        for steps in itertools.chain.from_iterable((s, -s) if s else (0,) for s in itertools.count()):
            for right in (OptionRight.CE, OptionRight.PE):
                out.append(self.contract(underlying, steps=steps, right=right))
                if len(out) == count:
                    return out
        raise AssertionError("unreachable")

    def our_orders(self) -> list[dict[str, Any]]:
        """The fake's orders carrying this rig's tags."""
        prefix = self.broker.tags.prefix
        return [o for o in self.kite.orders() if (o.get("tag") or "").startswith(prefix)]

    async def close(self) -> None:
        if self.ticker is not None:
            await self.ticker.aclose()
        await self.broker.stop()
        self.rest.close()


def market_order(contract: OptionContract, side: Side = Side.BUY, lots: int = 1) -> ExecutionRequest:
    """A parent that goes out as one MARKET child (HIGH urgency always takes; IMMEDIATE does not slice)."""
    return ExecutionRequest(
        symbol=contract.symbol, side=side, quantity=lots * contract.lot_size, order_type=OrderType.MARKET,
        algo=Algo.IMMEDIATE, urgency=Urgency.HIGH,
    )


async def load_instruments(rest: KiteRest, cache_dir: Path, clock: WallClock) -> KiteInstruments:
    rows: list[KiteInstrument] = []
    day = trading_day(clock.now())
    for exchange in ("NFO", "BFO"):
        rows += await rest.instruments(exchange, cache_dir, day)
    return KiteInstruments(rows, InstrumentCatalog.load(default_instruments_path()).spec)


async def kite_rig(
    kite: FakeKite,
    cache_dir: Path,
    *,
    limits: KiteLimits | None = None,
    read_timeout_s: float = 1.0,
    poll_interval_s: float = 0.05,
    retry: RetryConfig | None = None,
    session: int = 1,
    ticker: bool = False,
) -> KiteRig:
    """The rig on the running loop (call from a coroutine). With `ticker`, a `KiteTickerClient` on the fake's
    websocket feeds the broker's `on_order_update` and runs its `reconcile()` after every (re)connection, as the
    desk wires them; the rig returns once it is connected."""
    clock = WallClock()
    config = KiteConfig(
        api_key=kite.api_key, rest_root=kite.root, ws_root=kite.ws_root, connect_timeout_s=1.0,
        read_timeout_s=read_timeout_s, limits=limits or KiteLimits(),
    )
    rest = KiteRest(config, clock, kite.access_token)
    instruments = await load_instruments(rest, cache_dir, clock)
    broker = KiteBroker(
        rest=rest, instruments=instruments, tags=KiteTags(DESK, session), config=config, clock=clock,
        poll_interval_s=poll_interval_s,
    )
    market = FakeKiteMarket(kite, clock)
    catalog = instruments.catalog()
    execution = ExecutionConfig(retry=retry or RetryConfig(), randomize_slices=False)
    streams = RandomStreams(7)
    kept: list[dict[str, Any]] = []
    tracker = FillQualityTracker(clock, mode=Mode.LIVE, scenario_id=None, sink=kept.append)
    stack = ExecutionStack(
        clock=clock,
        broker=broker,
        market=market,
        catalog=catalog,
        planner=ExecutionAlgoPlanner(streams.stream("planner"), None),
        router=SmartOrderRouter(execution.router),
        cost_model=SlippageModel(market, execution.impact_coefficient),
        retry=RetryPolicy(execution.retry, streams.buffered("retry")),
        limiter=OrderRateLimiter(clock, None),
        risk=RiskGate(RiskConfig()),
        tracker=tracker,
        config=execution,
    )
    rig = KiteRig(kite, clock, config, rest, instruments, broker, market, stack, kept)
    if ticker:
        client = rig.ticker = KiteTickerClient(
            ws_url=config.ws_url, api_key=config.api_key, access_token=kite.access_token, clock=clock,
            policy=TICKER_POLICY,
        )
        client.add_order_update_listener(broker.on_order_update)
        client.add_connected_listener(broker.reconcile)
        client.start()
        await until(lambda: client.connections > 0, what="the ticker connection")
    return rig


def run[T](main: Coroutine[Any, Any, T], timeout_s: float = 60.0) -> T:
    """Run a test's coroutine on a fresh loop, failing (not hanging) if it has not finished in `timeout_s`."""
    return asyncio.run(asyncio.wait_for(main, timeout_s))


async def until(condition: Callable[[], bool], timeout_s: float = 5.0, what: str = "the condition") -> None:
    """Wait (checking every 10 ms, the loop free meanwhile) until `condition()` holds; TimeoutError after
    `timeout_s`."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not condition():
        if loop.time() > deadline:
            raise TimeoutError(f"{what} did not come about within {timeout_s:g} s")
        await asyncio.sleep(0.01)
