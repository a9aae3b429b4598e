"""Index-option contracts as data: specs load from `configs/instruments.yaml`, contracts are generated.

Trading symbols follow the exchange/Kite format:
  monthly  NIFTY26JAN26000CE   (underlying, YY, MON, strike, right)
  weekly   NIFTY26106026000CE  -> NIFTY 26 1 06 26000 CE (YY, month code 1-9/O/N/D, DD, strike, right)
An expiry that is the last expiry weekday of its month is spelled in the monthly form.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, timezone
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from imperium_desk.domain.documents import ConfigError, read_document
from imperium_desk.domain.enums import OptionRight
from imperium_desk.domain.validation import validation_errors

IST = timezone(timedelta(hours=5, minutes=30), "IST")
_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday")
_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_WEEKLY_MONTH_CODES = "123456789OND"


class InstrumentError(ValueError):
    """Unknown or malformed instrument (symbol, strike, underlying)."""


class UnderlyingSpec(BaseModel):
    """One underlying's contract rules: quantities in units (not lots), `strike_step` in index points. `freeze_qty` is
    the exchange's cap on one order, so a child order carries at most `max_order_qty`. Without `weekly`, expiries are
    monthly, on the last `expiry_weekday` of the month. `reference_spot` is where the simulated market starts when
    the market config sets no spot. With Kite, the day's instrument dump replaces lot size, strike step, expiry
    weekday and `weekly`; freeze quantity and reference spot stay as configured (the dump has neither).
    """

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    exchange: Literal["NFO", "BFO"]
    lot_size: int = Field(gt=0)
    freeze_qty: int = Field(gt=0, description="largest quantity a single order may carry")
    strike_step: float = Field(gt=0)
    expiry_weekday: Literal["monday", "tuesday", "wednesday", "thursday", "friday"]
    weekly: bool
    reference_spot: float = Field(gt=0)

    @property
    def max_order_qty(self) -> int:
        """Largest lot multiple within the freeze quantity: the cap for one child order."""
        return (self.freeze_qty // self.lot_size) * self.lot_size


class InstrumentsFile(BaseModel):
    """The instruments file (`market.instruments`; `configs/instruments.yaml` by default): specs from which every
    contract is generated, rather than a list of contracts, so the desk works on any date. `tick_size` (rupees of
    premium) holds for every option; `expiry_time` is `HH:MM` IST; `holidays` are the exchange holidays a replay skips;
    `as_of` records when the figures were checked and is not read. Underlying names are upper case because trading
    symbols begin with them.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    as_of: str
    tick_size: float = Field(gt=0)
    expiry_time: str = "15:30"
    holidays: tuple[date, ...] = Field(
        default=(), description="exchange holidays: a replay's trading calendar skips them (sessions are 09:15-15:30 "
        "IST on the other weekdays); expiries are not moved by them")
    underlyings: dict[str, UnderlyingSpec]

    @field_validator("underlyings")
    @classmethod
    def _names_upper(cls, v: dict[str, UnderlyingSpec]) -> dict[str, UnderlyingSpec]:
        for name in v:
            if not re.fullmatch(r"[A-Z][A-Z0-9]*", name):
                raise ValueError(f"underlying name {name!r} must be upper-case letters/digits")
        return v


@dataclass(frozen=True, slots=True)
class OptionContract:
    """One option contract, made by `InstrumentCatalog` from the specs (or by `KiteInstruments` from the day's dump),
    which keeps one per trading symbol: `symbol` is what orders, quotes and telemetry carry, and `resolve(symbol)`
    gets the contract back. Quantities are units (`lot_size`, `freeze_qty`); `strike` is in index points,
    `tick_size` in rupees of premium; `expiry_at` is the UTC instant the contract stops trading (the expiry time in
    IST on `expiry`).
    """

    underlying: str
    exchange: str
    expiry: date
    strike: float
    right: OptionRight
    lot_size: int
    tick_size: float
    freeze_qty: int
    symbol: str
    expiry_at: datetime  # UTC instant the contract expires

    @property
    def max_order_qty(self) -> int:
        return (self.freeze_qty // self.lot_size) * self.lot_size


def _last_weekday_of_month(year: int, month: int, weekday: int) -> date:
    last = date(year, month, calendar.monthrange(year, month)[1])
    return last - timedelta(days=(last.weekday() - weekday) % 7)


def _format_strike(strike: float) -> str:
    return str(int(strike)) if float(strike).is_integer() else f"{strike:g}"


class InstrumentCatalog:
    """Generates and resolves option contracts for the configured underlyings.

    Two kinds: a generated catalog (the simulated market) builds contracts, symbols and expiries by the exchange's
    rules from the instruments file; a listed catalog (`listed=`, the live modes) knows exactly the contracts the
    broker lists today (their symbols, lots, ticks and expiries from the broker's dump, holiday-shifted expiries
    included) and builds nothing by rule: a contract or expiry that is not listed is an InstrumentError.
    """

    def __init__(self, spec: InstrumentsFile, *, listed: Iterable[OptionContract] | None = None) -> None:
        self.spec = spec
        self.tick_size = spec.tick_size
        hh, mm = (int(x) for x in spec.expiry_time.split(":"))
        self._expiry_time = time(hh, mm, tzinfo=IST)
        self._contracts: dict[str, OptionContract] = {}
        # Longest names first so a symbol prefix never resolves to a shorter underlying.
        self._names = sorted(spec.underlyings, key=len, reverse=True)
        self._listed: dict[tuple[str, date, float, OptionRight], OptionContract] | None = None
        if listed is not None:
            self._listed = {}
            for contract in listed:
                self._listed[(contract.underlying, contract.expiry, float(contract.strike), contract.right)] = contract
                self._contracts[contract.symbol] = contract

    @property
    def is_listed(self) -> bool:
        """True for a catalog of the broker's listed contracts (nothing is built by rule)."""
        return self._listed is not None

    @classmethod
    def load(cls, path: Path) -> InstrumentCatalog:
        try:
            raw = read_document(path)  # bounded like every file a user writes (size, nesting, aliases, binary)
        except ConfigError as exc:
            raise InstrumentError("; ".join(exc.errors)) from None
        try:
            return cls(InstrumentsFile.model_validate(raw))
        except ValidationError as exc:
            raise InstrumentError("\n".join(validation_errors(str(path), exc, raw))) from exc

    @property
    def underlyings(self) -> list[str]:
        return list(self.spec.underlyings)

    def underlying(self, name: str) -> UnderlyingSpec:
        try:
            return self.spec.underlyings[name]
        except KeyError:
            raise InstrumentError(
                f"unknown underlying {name!r} (known: {', '.join(self.spec.underlyings)})"
            ) from None

    # -- expiries -----------------------------------------------------------------------------------------
    def is_monthly(self, underlying: str, expiry: date) -> bool:
        wd = _WEEKDAYS.index(self.underlying(underlying).expiry_weekday)
        return expiry == _last_weekday_of_month(expiry.year, expiry.month, wd)

    def expiries(self, underlying: str, now: datetime, count: int = 4) -> list[date]:
        """The next `count` live expiries at instant `now` (an expiry is live until its expiry time)."""
        spec = self.underlying(underlying)
        if self._listed is not None:
            listed = sorted({c.expiry for c in self._listed.values() if c.underlying == underlying})
            return [d for d in listed if self.expiry_instant(d) > now][:count]
        wd = _WEEKDAYS.index(spec.expiry_weekday)
        local = now.astimezone(IST)
        day = local.date()
        out: list[date] = []
        if spec.weekly:
            d = day + timedelta(days=(wd - day.weekday()) % 7)
            while len(out) < count:
                if self.expiry_instant(d) > now:
                    out.append(d)
                d += timedelta(days=7)
        else:
            y, m = day.year, day.month
            while len(out) < count:
                d = _last_weekday_of_month(y, m, wd)
                if self.expiry_instant(d) > now:
                    out.append(d)
                y, m = (y + 1, 1) if m == 12 else (y, m + 1)
        return out

    def expiry_instant(self, expiry: date) -> datetime:
        return datetime.combine(expiry, self._expiry_time).astimezone(UTC)

    # -- strikes ------------------------------------------------------------------------------------------
    def atm_strike(self, underlying: str, spot: float) -> float:
        step = self.underlying(underlying).strike_step
        return round(spot / step) * step

    def strike_offset(self, underlying: str, spot: float, steps: int) -> float:
        return self.atm_strike(underlying, spot) + steps * self.underlying(underlying).strike_step

    # -- contracts ----------------------------------------------------------------------------------------
    def symbol_for(self, underlying: str, expiry: date, strike: float, right: OptionRight) -> str:
        yy = f"{expiry.year % 100:02d}"
        if self.is_monthly(underlying, expiry):
            mid = f"{yy}{_MONTHS[expiry.month - 1]}"
        else:
            mid = f"{yy}{_WEEKLY_MONTH_CODES[expiry.month - 1]}{expiry.day:02d}"
        return f"{underlying}{mid}{_format_strike(strike)}{right.value}"

    def contract(self, underlying: str, expiry: date, strike: float, right: OptionRight) -> OptionContract:
        spec = self.underlying(underlying)
        if self._listed is not None:
            found = self._listed.get((underlying, expiry, float(strike), right))
            if found is None:
                raise InstrumentError(f"{underlying} {expiry} {strike:g} {right.value} is not listed today")
            return found
        wd = _WEEKDAYS.index(spec.expiry_weekday)
        if expiry.weekday() != wd:
            raise InstrumentError(f"{underlying} expiries fall on {spec.expiry_weekday}, not {expiry:%A %Y-%m-%d}")
        if not spec.weekly and not self.is_monthly(underlying, expiry):
            raise InstrumentError(f"{underlying} has monthly expiries only; {expiry} is not one")
        if strike <= 0 or abs(strike / spec.strike_step - round(strike / spec.strike_step)) > 1e-9:
            raise InstrumentError(f"{underlying} strike {strike:g} is not a multiple of {spec.strike_step:g}")
        symbol = self.symbol_for(underlying, expiry, strike, right)
        existing = self._contracts.get(symbol)
        if existing is not None:
            return existing
        c = OptionContract(
            underlying=underlying,
            exchange=spec.exchange,
            expiry=expiry,
            strike=float(strike),
            right=right,
            lot_size=spec.lot_size,
            tick_size=self.tick_size,
            freeze_qty=spec.freeze_qty,
            symbol=symbol,
            expiry_at=self.expiry_instant(expiry),
        )
        self._contracts[symbol] = c
        return c

    def chain(
        self, underlying: str, expiry: date, spot: float, strikes_each_side: int
    ) -> list[OptionContract]:
        """CE and PE contracts for the strikes around the ATM strike, lowest strike first."""
        out: list[OptionContract] = []
        for k in range(-strikes_each_side, strikes_each_side + 1):
            strike = self.strike_offset(underlying, spot, k)
            if strike <= 0:
                continue
            for right in (OptionRight.CE, OptionRight.PE):
                out.append(self.contract(underlying, expiry, strike, right))
        return out

    def resolve(self, symbol: str) -> OptionContract:
        """The contract for a trading symbol; raises InstrumentError naming the symbol if it is not one."""
        found = self._contracts.get(symbol)
        if found is not None:
            return found
        if self._listed is not None:
            raise InstrumentError(f"unknown trading symbol {symbol!r}: not listed today")
        for name in self._names:
            if not symbol.startswith(name):
                continue
            rest = symbol[len(name) :]
            right_s = rest[-2:]
            if right_s not in ("CE", "PE"):
                break
            body = rest[:-2]
            expiry: date | None = None
            strike_s = ""
            monthly = re.fullmatch(r"(\d{2})([A-Z]{3})(\d+(?:\.\d+)?)", body)
            weekly = re.fullmatch(r"(\d{2})([1-9OND])(\d{2})(\d+(?:\.\d+)?)", body)
            try:
                if monthly and monthly.group(2) in _MONTHS:
                    year, month = 2000 + int(monthly.group(1)), _MONTHS.index(monthly.group(2)) + 1
                    wd = _WEEKDAYS.index(self.underlying(name).expiry_weekday)
                    expiry = _last_weekday_of_month(year, month, wd)
                    strike_s = monthly.group(3)
                elif weekly:
                    month = _WEEKLY_MONTH_CODES.index(weekly.group(2)) + 1
                    expiry = date(2000 + int(weekly.group(1)), month, int(weekly.group(3)))
                    strike_s = weekly.group(4)
            except ValueError:
                expiry = None
            if expiry is None:
                break
            try:
                contract = self.contract(name, expiry, float(strike_s), OptionRight(right_s))
            except InstrumentError as exc:
                raise InstrumentError(f"trading symbol {symbol!r} is not a contract: {exc}") from None
            if contract.symbol != symbol:  # e.g. a monthly expiry written in the weekly form
                break
            return contract
        raise InstrumentError(f"unknown trading symbol {symbol!r}")
