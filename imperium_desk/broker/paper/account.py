"""`PaperAccount`: the paper exchange's positions and margin, kept apart from matching."""

from __future__ import annotations

from dataclasses import replace

from imperium_desk.broker.config import PaperBrokerConfig
from imperium_desk.domain.enums import Side
from imperium_desk.domain.instruments import InstrumentCatalog
from imperium_desk.domain.orders import Margins, Position
from imperium_desk.market.port import MarketData


class PaperAccount:
    """Positions netted from fills, and margin as a simple RMS would charge it.

    Margin used = premium of long positions + premium reserved by resting buy limits + short-option margin
    (`short_margin_rate` x the underlying's spot now, per unit short). The first two are kept incrementally, so a
    margin check costs one pass over the short positions only.
    """

    __slots__ = ("_catalog", "_config", "_long_value", "_market", "_positions", "_resting_buy_value", "_shorts")

    def __init__(self, *, catalog: InstrumentCatalog, market: MarketData, config: PaperBrokerConfig) -> None:
        self._catalog = catalog
        self._market = market
        self._config = config
        self._positions: dict[str, Position] = {}
        self._long_value = 0.0
        self._resting_buy_value = 0.0
        # Short symbols and their underlyings. A dict, not a set: iteration order must not depend on string hashing
        # (replays are byte-identical).
        self._shorts: dict[str, str] = {}

    def positions(self) -> list[Position]:
        """Copies of every position opened so far (flat ones included)."""
        return [replace(p) for p in self._positions.values()]

    def margins(self) -> Margins:
        used = self.margin_used()
        return Margins(capital=self._config.capital, used=used, available=self._config.capital - used)

    def reserve(self, value: float) -> None:
        """A buy limit went to rest: its unfilled premium is held."""
        self._resting_buy_value += value

    def release(self, value: float) -> None:
        """Premium held for a resting buy is no longer needed (it filled, was cancelled or was modified)."""
        self._resting_buy_value -= value

    def apply_fill(self, symbol: str, side: Side, qty: int, price: float) -> None:
        position = self._positions.get(symbol)
        if position is None:
            position = self._positions[symbol] = Position(symbol)
        before = position.quantity
        self._long_value -= (before if before > 0 else 0) * position.average_price
        position.apply(side, qty, price)
        after = position.quantity
        self._long_value += (after if after > 0 else 0) * position.average_price
        if after < 0:
            if symbol not in self._shorts:
                self._shorts[symbol] = self._catalog.resolve(symbol).underlying
        elif before < 0:
            self._shorts.pop(symbol, None)

    def margin_used(self) -> float:
        used = self._long_value + self._resting_buy_value
        for symbol, underlying in self._shorts.items():
            pos = self._positions[symbol]
            used += -pos.quantity * self._market.spot(underlying) * self._config.short_margin_rate
        return max(used, 0.0)

    def buy_shortfall(self, premium: float) -> str | None:
        """Why a buy whose premium (quantity x its limit, or x the ask now) is `premium` cannot be afforded (Kite's RMS
        wording), or None if it can."""
        return self._short_of(premium)

    def sell_shortfall(self, symbol: str, underlying: str, quantity: int) -> str | None:
        """Why a sell cannot be afforded (Kite's RMS wording): it needs short margin for what it does not close."""
        pos = self._positions.get(symbol)
        long_qty = pos.quantity if pos is not None and pos.quantity > 0 else 0
        short_qty = max(0, quantity - long_qty)
        if short_qty == 0:
            return None  # closing a long needs no margin
        return self._short_of(short_qty * self._market.spot(underlying) * self._config.short_margin_rate)

    def _short_of(self, required: float) -> str | None:
        available = self._config.capital - self.margin_used()
        if required <= available:
            return None
        return f"Insufficient funds. Required margin is {required:.2f} but available margin is {available:.2f}"
