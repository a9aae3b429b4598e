"""Kite's daily instruments dump (`GET /instruments/NFO`, `/instruments/BFO`) -> the day's option contracts, a token
<-> symbol map and an `InstrumentCatalog`, plus a once-a-day cache of the CSV (kite-notes §1.8).

The dump is the only source of tradingsymbol, instrument token, lot size, tick size and live expiries (an expiry
moved by a holiday is there, not in a weekday rule). The exchanges publish freeze quantities separately, so those
stay in `configs/instruments.yaml`: only underlyings listed there are read; the others (stock options) are counted
and skipped. Parsing and caching only; the download is the REST wrapper's.
"""

from __future__ import annotations

import csv
import io
import itertools
import os
import re
import tempfile
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from imperium_desk.domain.enums import OptionRight
from imperium_desk.domain.instruments import (
    InstrumentCatalog,
    InstrumentError,
    InstrumentsFile,
    OptionContract,
    UnderlyingSpec,
)

__all__ = [
    "COLUMNS",
    "InstrumentDumpError",
    "KiteInstrument",
    "KiteInstruments",
    "cache_path",
    "cached_dump",
    "parse_instruments_csv",
    "read_cache",
    "write_cache",
]

COLUMNS = (
    "instrument_token", "exchange_token", "tradingsymbol", "name", "last_price", "expiry", "strike", "tick_size",
    "lot_size", "instrument_type", "segment", "exchange",
)
_OPTION_SEGMENTS = {"NFO-OPT": "NFO", "BFO-OPT": "BFO"}
_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday")
_EXCHANGE = re.compile(r"[A-Z]{2,5}")


class InstrumentDumpError(InstrumentError):
    """The instruments CSV (or its cache) could not be read; the message names the source, line and field, which
    are also kept as `line` (1 = the header) and `field` when known."""

    def __init__(self, message: str, *, line: int | None = None, field: str | None = None) -> None:
        super().__init__(message)
        self.line = line
        self.field = field


@dataclass(frozen=True, slots=True)
class KiteInstrument:
    """One option row of the dump."""

    instrument_token: int
    exchange_token: str
    tradingsymbol: str
    name: str
    expiry: date
    strike: float
    tick_size: float
    lot_size: int
    right: OptionRight
    segment: str
    exchange: str


def _field[T](row: dict[str, str], name: str, parse: Callable[[str], T], source: str, line: int) -> T:
    raw = row[name]
    try:
        return parse(raw.strip())
    except ValueError:
        raise InstrumentDumpError(
            f"{source}: line {line}: field {name!r}: cannot read {raw!r}", line=line, field=name
        ) from None


def _positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise ValueError(text)
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise ValueError(text)
    return value


def _non_empty(text: str) -> str:
    if not text:
        raise ValueError(text)
    return text


def parse_instruments_csv(text: str, *, source: str = "instruments.csv") -> list[KiteInstrument]:
    """The CE/PE rows of an NFO-OPT/BFO-OPT dump; futures, indices and equities are skipped. A malformed option row
    raises InstrumentDumpError naming `source`, its line and the field."""
    reader = csv.DictReader(io.StringIO(text), strict=True)
    header = reader.fieldnames or []
    missing = [c for c in COLUMNS if c not in header]
    if missing:
        raise InstrumentDumpError(f"{source}: line 1: missing column(s) {', '.join(missing)}", line=1)
    out: list[KiteInstrument] = []
    try:
        for row in reader:
            at = (source, reader.line_num)
            if None in row or any(row[c] is None for c in COLUMNS):
                raise InstrumentDumpError(
                    f"{source}: line {reader.line_num}: expected {len(header)} fields", line=reader.line_num
                )
            kind, segment = row["instrument_type"].strip(), row["segment"].strip()
            if kind not in ("CE", "PE") or segment not in _OPTION_SEGMENTS:
                continue
            out.append(
                KiteInstrument(
                    instrument_token=_field(row, "instrument_token", _positive_int, *at),
                    exchange_token=_field(row, "exchange_token", _non_empty, *at),
                    tradingsymbol=_field(row, "tradingsymbol", _non_empty, *at),
                    name=_field(row, "name", _non_empty, *at),
                    expiry=_field(row, "expiry", date.fromisoformat, *at),
                    strike=_field(row, "strike", _positive_float, *at),
                    tick_size=_field(row, "tick_size", _positive_float, *at),
                    lot_size=_field(row, "lot_size", _positive_int, *at),
                    right=OptionRight(kind),
                    segment=segment,
                    exchange=_field(row, "exchange", _exchange_of(segment), *at),
                )
            )
    except csv.Error as exc:
        raise InstrumentDumpError(f"{source}: line {reader.line_num}: {exc}", line=reader.line_num) from None
    return out


def _exchange_of(segment: str) -> Callable[[str], str]:
    def parse(text: str) -> str:
        if text != _OPTION_SEGMENTS[segment]:
            raise ValueError(text)
        return text

    return parse


class KiteInstruments:
    """The day's option contracts of the configured underlyings, from one or more dumps (NFO and BFO).

    Immutable after construction. Contracts carry Kite's own tradingsymbol, lot size and tick size, and the
    freeze quantity of `configs/instruments.yaml`."""

    def __init__(self, rows: Iterable[KiteInstrument], spec: InstrumentsFile) -> None:
        self.spec = spec
        self._rows: dict[str, KiteInstrument] = {}
        self._contracts: dict[str, OptionContract] = {}
        self._by_key: dict[tuple[str, date, float, OptionRight], OptionContract] = {}
        self._token_to_symbol: dict[int, str] = {}
        skipped: Counter[str] = Counter()
        template = InstrumentCatalog(spec)  # for the expiry instant only
        for row in rows:
            underlying = spec.underlyings.get(row.name)
            if underlying is None:
                skipped[row.name] += 1
                continue
            contract = OptionContract(
                underlying=row.name,
                exchange=row.exchange,
                expiry=row.expiry,
                strike=row.strike,
                right=row.right,
                lot_size=row.lot_size,
                tick_size=row.tick_size,
                freeze_qty=underlying.freeze_qty,
                symbol=row.tradingsymbol,
                expiry_at=template.expiry_instant(row.expiry),
            )
            self._rows[row.tradingsymbol] = row
            self._contracts[row.tradingsymbol] = contract
            self._by_key[(row.name, row.expiry, row.strike, row.right)] = contract
            self._token_to_symbol[row.instrument_token] = row.tradingsymbol
        self._symbol_to_token = {s: t for t, s in self._token_to_symbol.items()}
        self.skipped_underlyings: dict[str, int] = dict(skipped)

    def __len__(self) -> int:
        return len(self._contracts)

    @property
    def underlyings(self) -> list[str]:
        return sorted({c.underlying for c in self._contracts.values()})

    def contract(self, symbol: str) -> OptionContract:
        try:
            return self._contracts[symbol]
        except KeyError:
            raise InstrumentError(f"{symbol!r} is not in today's Kite instruments") from None

    def find(self, underlying: str, expiry: date, strike: float, right: OptionRight) -> OptionContract:
        """The contract Kite lists for (underlying, expiry, strike, CE/PE): never a symbol built by rule."""
        try:
            return self._by_key[(underlying, expiry, float(strike), right)]
        except KeyError:
            raise InstrumentError(
                f"no {underlying} {expiry} {strike:g} {right.value} in today's Kite instruments"
            ) from None

    def token(self, symbol: str) -> int:
        try:
            return self._symbol_to_token[symbol]
        except KeyError:
            raise InstrumentError(f"{symbol!r} is not in today's Kite instruments") from None

    def symbol(self, token: int) -> str:
        try:
            return self._token_to_symbol[token]
        except KeyError:
            raise InstrumentError(f"instrument token {token} is not in today's Kite instruments") from None

    def expiries(self, underlying: str) -> list[date]:
        return sorted({c.expiry for c in self._contracts.values() if c.underlying == underlying})

    def catalog(self) -> InstrumentCatalog:
        """A listed catalog of exactly the dump's contracts (symbols, lots, ticks and expiries as Kite lists them,
        never built by rule), with the configured spec updated from what the dump knows: each listed underlying's
        lot size, finest strike step, expiry weekday and whether it has weekly expiries, and the tick size. Freeze
        quantities and reference spots stay as configured; an underlying absent from the dump keeps its configured
        spec."""
        underlyings = dict(self.spec.underlyings)
        for name in self.underlyings:
            contracts = [c for c in self._contracts.values() if c.underlying == name]
            expiries = self.expiries(name)
            lots = Counter(c.lot_size for c in contracts)
            weekdays = Counter(_WEEKDAYS[e.weekday()] for e in expiries if e.weekday() < len(_WEEKDAYS))
            strikes = sorted({c.strike for c in contracts})
            steps = [round(b - a, 6) for a, b in itertools.pairwise(strikes) if b > a]
            months = Counter((e.year, e.month) for e in expiries)
            base = underlyings[name]
            underlyings[name] = UnderlyingSpec(
                exchange=base.exchange,
                lot_size=lots.most_common(1)[0][0],
                freeze_qty=base.freeze_qty,
                strike_step=min(steps) if steps else base.strike_step,
                expiry_weekday=weekdays.most_common(1)[0][0] if weekdays else base.expiry_weekday,
                weekly=max(months.values()) > 1 if months else base.weekly,
                reference_spot=base.reference_spot,
            )
        ticks = Counter(c.tick_size for c in self._contracts.values())
        if len(ticks) > 1:
            raise InstrumentDumpError(f"option tick sizes differ across the dump ({sorted(ticks)}): one is expected")
        tick = next(iter(ticks)) if ticks else self.spec.tick_size
        return InstrumentCatalog(self.spec.model_copy(update={"underlyings": underlyings, "tick_size": tick}),
                                 listed=self._contracts.values())


# -- the once-a-day cache -----------------------------------------------------------------------------------------


def cache_path(directory: Path, exchange: str, day: date) -> Path:
    if not _EXCHANGE.fullmatch(exchange):
        raise InstrumentDumpError(f"exchange {exchange!r} must be upper-case letters, e.g. NFO")
    return directory / f"instruments-{exchange}-{day.isoformat()}.csv"


def read_cache(directory: Path, exchange: str, day: date) -> str | None:
    """The dump cached for `day`, or None. A dump from any other day is never returned (tokens and expiries
    change daily)."""
    path = cache_path(directory, exchange, day)
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise InstrumentDumpError(f"{path}: cannot read the cached instruments: {exc.strerror or exc}") from None


def write_cache(directory: Path, exchange: str, day: date, text: str) -> Path:
    """Cache `text` as `day`'s dump, atomically (a temporary file in the same directory, fsynced, then renamed: a
    reader sees the whole file or none), and remove this exchange's dumps of other days."""
    directory.mkdir(parents=True, exist_ok=True)
    path = cache_path(directory, exchange, day)
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    for old in directory.glob(f"instruments-{exchange}-*.csv"):
        if old != path:
            old.unlink(missing_ok=True)
    return path


def cached_dump(directory: Path, exchange: str, day: date, download: Callable[[], str]) -> list[KiteInstrument]:
    """`day`'s option rows for `exchange`: from the cache, or else from `download()` (a blocking call: run this
    off the event loop), parsed before it is cached so a bad download is never kept. A cache that no longer parses
    is dropped and downloaded again."""
    text = read_cache(directory, exchange, day)
    if text is not None:
        try:
            return parse_instruments_csv(text, source=str(cache_path(directory, exchange, day)))
        except InstrumentDumpError:  # edited or damaged by hand (writes are atomic): it is only a cache
            cache_path(directory, exchange, day).unlink(missing_ok=True)
    text = download()
    rows = parse_instruments_csv(text, source=f"GET /instruments/{exchange}")
    write_cache(directory, exchange, day, text)
    return rows
