"""A whole desk (`Desk`, as the window and `serve` build it) connected to a fake Kite over loopback, for the live-mode
integration tests.

`live_config` is the desk config a trader would write for the fake (`broker.kind: kite` with the fake's roots and a
short read timeout, the underlyings the fake simulates, any free feedback port); `open_desk` connects it the way
`serve` does (`LiveConnector`, the fake's ready access token through `use_token`, `connect()`), shortens the
ticker's reconnect and stall timing and the feed's staleness bound (tests are not about those figures), then builds
and starts the `Desk` on the running loop's wall clock.

The OS keyring is never touched: `isolated_keyring()` puts keyring's refusing backend in for the test (the connector
then finds `KeyringStore` unusable and looks only in the secrets file), and `NO_KEYRING_ENV` does the same for a
child process.

Run as a module (`python -m tests.integration.kite.live_support CONFIG HOME LOTS...`), it is a desk that crashes:
it connects in LIVE mode on the config (JSON) with the token in `IMPERIUM_KITE_ACCESS_TOKEN`, submits one LIMIT
BUY per `LOTS` argument at the lowest price the venue takes (so each stays working), prints `submitted`, and
then waits to be killed: it never reaches `Desk.stop` (no cancel, no flush), as a process killed by the OS would.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import Any

import keyring
import keyring.backend
import keyring.backends.fail

from imperium_desk.broker.kite.broker import KiteBroker
from imperium_desk.broker.kite.factory import KiteVenue
from imperium_desk.broker.kite.market import KiteMarketData
from imperium_desk.clock import WallClock
from imperium_desk.config import Config, config_from_mapping
from imperium_desk.desk import Desk
from imperium_desk.desk.connector import LiveConnector
from imperium_desk.desk.events import DeskEvent
from imperium_desk.desk.live import ACCESS_TOKEN_ENV
from imperium_desk.domain.enums import Algo, Mode, OptionRight, OrderType, Side, Urgency
from imperium_desk.domain.instruments import OptionContract
from imperium_desk.execution.request import ExecutionRequest
from tests.fake_kite.server import FakeKite
from tests.fake_kite.state import FakeKiteConfig
from tests.integration.kite.stack_support import TICKER_POLICY, until

UNDERLYING = "NIFTY"
# The fake simulates only what the desk trades here (fewer books to tick), without the write limit where a test is
# not about limits.
FAST_FAKE = FakeKiteConfig(underlyings=(UNDERLYING,), orders_per_s=None, tick_interval_ms=50)
# keyring's own refusing backend: `KeyringStore` will not be built on it (the developer's keyring stays untouched).
NO_KEYRING_ENV = {"PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"}
STALE_AFTER_S = 0.5
READY_TIMEOUT_S = 10.0


@contextlib.contextmanager
def isolated_keyring() -> Iterator[None]:
    """keyring's refusing backend for the duration (the previous one restored after)."""
    previous = keyring.get_keyring()
    keyring.set_keyring(keyring.backends.fail.Keyring())  # type: ignore[no-untyped-call]
    try:
        yield
    finally:
        keyring.set_keyring(previous)


def live_config_mapping(fake: FakeKite, **kite: Any) -> dict[str, Any]:
    """The config as a trader would write it for `fake` (`kite` overrides the `broker.kite` section's fields)."""
    return {
        "broker": {
            "kind": "kite",
            "kite": {
                "api_key": fake.api_key, "rest_root": fake.root, "ws_root": fake.ws_root, "token_store": "ask",
                "connect_timeout_s": 1.0, "read_timeout_s": 2.0, "ready_timeout_s": READY_TIMEOUT_S,
                "market_protection": 5, **kite,
            },
        },
        "market": {"underlyings": [UNDERLYING]},
        "execution": {"retry": {"max_attempts": 4, "base_delay_ms": 5, "max_delay_ms": 100}},
        "telemetry": {"fsync": False, "markouts_s": [1]},
        "feedback": {"port": 0},
    }


def live_config(fake: FakeKite, **kite: Any) -> Config:
    return config_from_mapping(live_config_mapping(fake, **kite), "test")


async def connected_venue(connector: LiveConnector) -> KiteVenue:
    """`connector.connect()`, with the ticker's and the feed's timing shortened (tests are not about them)."""
    venue = await connector.connect()
    venue.ticker.policy = TICKER_POLICY
    venue.market.stale_after_s = STALE_AFTER_S
    return venue


async def open_desk(
    fake: FakeKite, home: Path, mode: Mode, *, config: Config | None = None, token: str | None = None,
    events: list[DeskEvent] | None = None,
) -> Desk:
    """A started desk in `mode` on `fake`, logged in with `token` (default: the fake's ready session), on the
    running loop's wall clock. `events` (if given) collects every DeskEvent from construction on."""
    config = config or live_config(fake)
    clock = WallClock()
    connector = LiveConnector(config, home=home, mode=mode, clock=clock)
    connector.use_token(token or fake.access_token)
    venue = await connected_venue(connector)
    desk = Desk(config, home=home, clock=clock, mode=mode, venue=venue, connector=connector)
    if events is not None:
        desk.add_listener(events.append)
    desk.start()
    return desk


def kite_market(desk: Desk) -> KiteMarketData:
    market = desk.engine.market
    assert isinstance(market, KiteMarketData)
    return market


def kite_broker(desk: Desk) -> KiteBroker:
    broker = desk.engine.broker
    assert isinstance(broker, KiteBroker), "a live desk sends to Kite"
    return broker


def first_expiry(desk: Desk) -> date:
    return desk.expiries(UNDERLYING, 1)[0]


async def ticked_contract(desk: Desk, steps: int = 0, right: OptionRight = OptionRight.CE) -> OptionContract:
    """A contract `steps` strikes from the money of the nearest expiry, subscribed and ticked at least once."""
    expiry = first_expiry(desk)
    strike = desk.catalog.strike_offset(UNDERLYING, desk.spot(UNDERLYING), steps)
    contract = desk.contract(UNDERLYING, expiry, strike, right)
    quote = await kite_market(desk).first_quote(contract.symbol, READY_TIMEOUT_S)
    assert quote is not None, f"{contract.symbol} never ticked"
    return contract


def ticket(
    contract: OptionContract, side: Side = Side.BUY, lots: int = 1, *, order_type: OrderType = OrderType.MARKET,
    limit_price: float | None = None,
) -> ExecutionRequest:
    """A trader's ticket: one child (IMMEDIATE), taking at once (HIGH urgency) for a MARKET order."""
    return ExecutionRequest(
        symbol=contract.symbol, side=side, quantity=lots * contract.lot_size, order_type=order_type,
        limit_price=limit_price, algo=Algo.IMMEDIATE, urgency=Urgency.HIGH if order_type is OrderType.MARKET else None,
    )


def our_orders(fake: FakeKite, desk: Desk) -> list[dict[str, Any]]:
    """The fake's orders carrying this desk's tag session's prefix."""
    prefix = kite_broker(desk).tags.prefix
    return [o for o in fake.orders() if (o.get("tag") or "").startswith(prefix)]


async def wait_orders(
    fake: FakeKite, predicate: Callable[[list[dict[str, Any]]], bool], timeout_s: float = 10.0
) -> list[dict[str, Any]]:
    """`fake.wait_for_orders` off the loop (the desk keeps running while the test waits)."""
    return await asyncio.to_thread(fake.wait_for_orders, predicate, timeout_s)


async def place_external(fake: FakeKite, *args: Any, **kwargs: Any) -> str:
    """`fake.place_external` off the loop."""
    return await asyncio.to_thread(fake.place_external, *args, **kwargs)


async def started_child_desk(config_path: Path, home: Path) -> Desk:
    """In a child process the test starts (and later kills): a LIVE desk on the config file's fake Kite, with the
    access token the test put in the environment, started."""
    config = config_from_mapping(json.loads(config_path.read_text()), str(config_path))
    clock = WallClock()
    connector = LiveConnector(config, home=home, mode=Mode.LIVE, clock=clock)
    connector.use_token(os.environ[ACCESS_TOKEN_ENV])
    venue = await connected_venue(connector)
    desk = Desk(config, home=home, clock=clock, mode=Mode.LIVE, venue=venue, connector=connector)
    desk.start()
    return desk


async def _crashing_desk(config_path: Path, home: Path, lots: list[int]) -> None:
    desk = await started_child_desk(config_path, home)
    contract = await ticked_contract(desk)
    for n in lots:
        desk.submit(ticket(contract, lots=n, order_type=OrderType.LIMIT, limit_price=contract.tick_size))
    sys.stdout.write("submitted\n")
    sys.stdout.flush()
    await asyncio.Event().wait()  # until SIGKILL


__all__ = [
    "FAST_FAKE", "NO_KEYRING_ENV", "UNDERLYING", "first_expiry", "isolated_keyring", "kite_broker", "kite_market",
    "live_config", "live_config_mapping", "open_desk", "our_orders", "place_external", "started_child_desk",
    "ticked_contract", "ticket", "until", "wait_orders",
]


if __name__ == "__main__":
    with isolated_keyring():
        asyncio.run(_crashing_desk(Path(sys.argv[1]), Path(sys.argv[2]), [int(a) for a in sys.argv[3:]]))
