"""The fake Kite's instruments dump: the project's catalog written as Kite's daily CSV (kite-notes §1.8).

`InstrumentDump.build` lists, for every simulated underlying, the next `expiries` live expiries and the strikes
`strikes_each_side` steps either side of the spot, CE and PE, in the column order Kite uses. Tokens follow Kite's
layout: `instrument_token = exchange_token * 256 + segment` (NFO 2, BFO 5), numbered deterministically (same catalog,
same spots, same day: same tokens). Trading symbols come from `InstrumentCatalog.symbol_for`, which spells weekly
and monthly expiries as Kite does (`NIFTY2612926000CE`, `BANKNIFTY26DEC58000PE`).

`/instruments/NFO` serves `csv("NFO")`; `/instruments` serves every exchange. The fake resolves a Kite
tradingsymbol or instrument token back to the catalog's `OptionContract` with `by_symbol` / `by_token`.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from imperium_desk.domain.enums import OptionRight
from imperium_desk.domain.instruments import InstrumentCatalog, OptionContract

COLUMNS: Final = (
    "instrument_token", "exchange_token", "tradingsymbol", "name", "last_price", "expiry", "strike", "tick_size",
    "lot_size", "instrument_type", "segment", "exchange",
)
SEGMENT_NUMBER: Final = {"NFO": 2, "BFO": 5}
# Where each exchange's exchange tokens start: real NFO option tokens are five/six-digit, BFO ones larger.
_FIRST_EXCHANGE_TOKEN: Final = {"NFO": 35001, "BFO": 820001}


@dataclass(frozen=True, slots=True)
class InstrumentRow:
    """One option in the dump, with the catalog contract it stands for."""

    instrument_token: int
    exchange_token: int
    contract: OptionContract

    @property
    def tradingsymbol(self) -> str:
        return self.contract.symbol

    @property
    def exchange(self) -> str:
        return self.contract.exchange

    @property
    def key(self) -> str:
        """`EXCHANGE:TRADINGSYMBOL`, as `/quote` names an instrument."""
        return f"{self.contract.exchange}:{self.contract.symbol}"

    def csv_fields(self) -> tuple[str, ...]:
        c = self.contract
        return (
            str(self.instrument_token), str(self.exchange_token), c.symbol, c.underlying, "0", c.expiry.isoformat(),
            f"{c.strike:g}", f"{c.tick_size:g}", str(c.lot_size), c.right.value, f"{c.exchange}-OPT", c.exchange,
        )


class InstrumentDump:
    """The day's option instruments: the CSV the fake serves and the token/symbol lookups it resolves with."""

    def __init__(self, rows: Iterable[InstrumentRow]) -> None:
        self.rows: tuple[InstrumentRow, ...] = tuple(rows)
        self.by_symbol: dict[str, InstrumentRow] = {r.tradingsymbol: r for r in self.rows}
        self.by_token: dict[int, InstrumentRow] = {r.instrument_token: r for r in self.rows}

    @classmethod
    def build(
        cls,
        catalog: InstrumentCatalog,
        now: datetime,
        spots: Mapping[str, float],
        *,
        expiries: int = 2,
        strikes_each_side: int = 20,
    ) -> InstrumentDump:
        """Rows for each underlying in `spots` (the simulated ones, at their spot now), nearest expiry first."""
        next_token = dict(_FIRST_EXCHANGE_TOKEN)
        rows: list[InstrumentRow] = []
        for underlying, spot in spots.items():
            exchange = catalog.underlying(underlying).exchange
            for expiry in catalog.expiries(underlying, now, expiries):
                for step in range(-strikes_each_side, strikes_each_side + 1):
                    strike = catalog.strike_offset(underlying, spot, step)
                    if strike <= 0:
                        continue
                    for right in (OptionRight.CE, OptionRight.PE):
                        exchange_token = next_token[exchange]
                        next_token[exchange] += 1
                        rows.append(InstrumentRow(
                            instrument_token=exchange_token * 256 + SEGMENT_NUMBER[exchange],
                            exchange_token=exchange_token,
                            contract=catalog.contract(underlying, expiry, strike, right),
                        ))
        return cls(rows)

    def csv(self, exchange: str | None = None) -> str:
        """The dump as Kite serves it (header first, `\\n` line ends); `exchange` None: every exchange."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(COLUMNS)
        for row in self.rows:
            if exchange is None or row.exchange == exchange:
                writer.writerow(row.csv_fields())
        return out.getvalue()

    def exchanges(self) -> list[str]:
        return sorted({r.exchange for r in self.rows})

    def find(self, exchange: str, tradingsymbol: str) -> InstrumentRow | None:
        row = self.by_symbol.get(tradingsymbol)
        return row if row is not None and row.exchange == exchange else None
