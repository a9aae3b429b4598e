"""One Kite account's parts for one desk, built once and shared: a single `KiteRest` serves the broker and the
instruments download, and a single ticker connection carries both the quotes and the order updates (Kite allows
three per api_key). Called only by the composition root (`desk/live.py`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from imperium_desk.broker.kite.broker import KiteBroker
from imperium_desk.broker.kite.config import KiteConfig
from imperium_desk.broker.kite.instruments import KiteInstrument, KiteInstruments
from imperium_desk.broker.kite.market import KiteMarketData
from imperium_desk.broker.kite.rest import KiteRest
from imperium_desk.broker.kite.tags import claim_session, desk_code, trading_day
from imperium_desk.broker.kite.ticker import KiteTickerClient, TickerState
from imperium_desk.clock import Clock
from imperium_desk.domain.instruments import InstrumentCatalog, InstrumentsFile
from imperium_desk.offload import Offloader


@dataclass(kw_only=True)
class KiteVenue:
    """Everything the desk uses of one Kite account: REST, the ticker, the day's instruments and their listed
    catalog, the live market, and (live mode only) the broker. Called on the loop.

    `start()` connects the ticker and waits (bounded) for the indices' first ticks; `aclose()` ends the order poll,
    the ticker and the REST lanes. `set_access_token` hands a new login's token to REST and the ticker together;
    `on_session_expired` hears a refused token from either, once per token.
    """

    config: KiteConfig
    rest: KiteRest
    ticker: KiteTickerClient
    instruments: KiteInstruments
    catalog: InstrumentCatalog
    market: KiteMarketData
    broker: KiteBroker | None

    def set_access_token(self, access_token: str) -> None:
        self.rest.set_access_token(access_token)
        self.ticker.set_access_token(access_token)

    def on_session_expired(self, callback: Callable[[], None]) -> None:
        self.rest.on_session_expired(callback)
        self.ticker.add_session_expired_listener(callback)

    @property
    def feed_connected(self) -> bool:
        return self.ticker.state is TickerState.CONNECTED

    async def start(self, ready_timeout_s: float) -> bool:
        """Start the feed (and, live, the broker's reconcile and order poll); True once every index has ticked
        within `ready_timeout_s` (False: the desk starts anyway, its feed shown as not ready)."""
        self.market.start()
        if self.broker is not None:
            await self.broker.start()
        return await self.market.ready(ready_timeout_s)

    async def aclose(self) -> None:
        if self.broker is not None:
            await self.broker.stop()
        await self.market.aclose()
        self.rest.close()


async def build_kite_venue(
    config: KiteConfig,
    *,
    clock: Clock,
    offload: Offloader,
    home: Path,
    access_token: str,
    spec: InstrumentsFile,
    underlyings: Sequence[str],
    desk_id: str,
    live: bool,
    jitter: np.random.Generator | None = None,
) -> KiteVenue:
    """Download (or read today's cache of) the instruments of the underlyings' exchanges, and assemble the parts.
    `live` adds the broker, with this desk's tag session for the day claimed under `home`. Raises the
    `broker/errors.py` classes (the download) and InstrumentError (an underlying Kite does not list)."""
    rest = KiteRest(config, clock, access_token)
    try:
        day = trading_day(clock.now())
        rows: list[KiteInstrument] = []
        for exchange in sorted({config.exchange_for(u) for u in underlyings}):
            rows += await rest.instruments(exchange, home / "kite" / "instruments", day)
        instruments = KiteInstruments(rows, spec)
        catalog = instruments.catalog()
        ticker = KiteTickerClient(ws_url=config.ws_url, api_key=config.api_key, access_token=access_token,
                                  clock=clock, jitter=jitter)
        market = KiteMarketData(ticker, instruments, clock, catalog=catalog, underlyings=list(underlyings),
                                stale_after_s=config.stale_after_s)
        broker = None
        if live:
            code = config.tag_desk_code or desk_code(desk_id)
            tags = await offload.thread(lambda: claim_session(home, day, code), "kite-tag-session")
            broker = KiteBroker(rest=rest, instruments=instruments, tags=tags, config=config, clock=clock)
            ticker.add_order_update_listener(broker.on_order_update)
            ticker.add_connected_listener(broker.reconcile)
    except BaseException:
        rest.close()
        raise
    return KiteVenue(config=config, rest=rest, ticker=ticker, instruments=instruments, catalog=catalog,
                     market=market, broker=broker)
