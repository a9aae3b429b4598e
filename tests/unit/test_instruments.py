"""Option contracts from the shipped instruments.yaml: specs, expiries, trading symbols, resolution, chains."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import pytest

from imperium_desk.domain.enums import OptionRight
from imperium_desk.domain.instruments import IST, InstrumentCatalog, InstrumentError

REPO = Path(__file__).resolve().parents[2]
INSTRUMENTS = REPO / "imperium_desk" / "configs" / "instruments.yaml"
CE, PE = OptionRight.CE, OptionRight.PE


@pytest.fixture(scope="module")
def catalog() -> InstrumentCatalog:
    return InstrumentCatalog.load(INSTRUMENTS)


def ist(year: int, month: int, day: int, hour: int, minute: int) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=IST)


# --- specs -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("underlying", "lot_size", "freeze_qty"),
    [("NIFTY", 65, 1800), ("BANKNIFTY", 30, 600), ("SENSEX", 20, 1000)],
)
def test_lot_size_and_freeze_qty_are_as_in_the_yaml(
    catalog: InstrumentCatalog, underlying: str, lot_size: int, freeze_qty: int
) -> None:
    spec = catalog.underlying(underlying)
    assert (spec.lot_size, spec.freeze_qty) == (lot_size, freeze_qty)


@pytest.mark.parametrize(
    ("underlying", "max_order_qty"), [("NIFTY", 1755), ("BANKNIFTY", 600), ("SENSEX", 1000)]
)
def test_max_order_qty_is_the_largest_lot_multiple_within_the_freeze_qty(
    catalog: InstrumentCatalog, underlying: str, max_order_qty: int
) -> None:
    assert catalog.underlying(underlying).max_order_qty == max_order_qty


def test_contract_carries_the_spec_of_its_underlying(catalog: InstrumentCatalog) -> None:
    c = catalog.contract("NIFTY", date(2026, 12, 1), 26000, CE)
    spec = (c.lot_size, c.freeze_qty, c.max_order_qty, c.tick_size, c.exchange)
    assert spec == (65, 1800, 1755, 0.05, "NFO")


def test_unknown_underlying_is_rejected_by_name(catalog: InstrumentCatalog) -> None:
    with pytest.raises(InstrumentError, match="'NIFTYX'"):
        catalog.underlying("NIFTYX")


# --- expiries ----------------------------------------------------------------------------------------


def test_nifty_weekly_expiries_are_consecutive_tuesdays(catalog: InstrumentCatalog) -> None:
    expiries = catalog.expiries("NIFTY", ist(2026, 11, 23, 9, 15), count=4)
    assert expiries == [date(2026, 11, 24), date(2026, 12, 1), date(2026, 12, 8), date(2026, 12, 15)]
    assert {d.weekday() for d in expiries} == {1}


def test_banknifty_monthly_expiries_are_last_tuesdays(catalog: InstrumentCatalog) -> None:
    expiries = catalog.expiries("BANKNIFTY", ist(2026, 11, 23, 9, 15), count=3)
    assert expiries == [date(2026, 11, 24), date(2026, 12, 29), date(2027, 1, 26)]


def test_sensex_weekly_expiries_are_thursdays(catalog: InstrumentCatalog) -> None:
    expiries = catalog.expiries("SENSEX", ist(2026, 11, 23, 9, 15), count=3)
    assert expiries == [date(2026, 11, 26), date(2026, 12, 3), date(2026, 12, 10)]


def test_expiry_is_live_until_1530_ist_on_expiry_day(catalog: InstrumentCatalog) -> None:
    assert catalog.expiries("NIFTY", ist(2026, 12, 1, 15, 29), count=1) == [date(2026, 12, 1)]


def test_expiry_is_gone_from_1530_ist_on_expiry_day(catalog: InstrumentCatalog) -> None:
    assert catalog.expiries("NIFTY", ist(2026, 12, 1, 15, 30), count=1) == [date(2026, 12, 8)]
    assert catalog.expiries("NIFTY", ist(2026, 12, 1, 15, 31), count=1) == [date(2026, 12, 8)]


def test_expiry_instant_is_1530_ist_in_utc(catalog: InstrumentCatalog) -> None:
    assert catalog.expiry_instant(date(2026, 12, 1)).isoformat() == "2026-12-01T10:00:00+00:00"


# --- trading symbols ---------------------------------------------------------------------------------


def test_last_tuesday_of_the_month_uses_the_monthly_symbol(catalog: InstrumentCatalog) -> None:
    assert catalog.contract("NIFTY", date(2026, 11, 24), 26000, CE).symbol == "NIFTY26NOV26000CE"


def test_other_tuesdays_use_the_weekly_symbol(catalog: InstrumentCatalog) -> None:
    assert catalog.contract("NIFTY", date(2026, 12, 1), 26000, CE).symbol == "NIFTY26D0126000CE"


@pytest.mark.parametrize(
    ("expiry", "symbol"),
    [
        (date(2026, 1, 6), "NIFTY2610626000PE"),
        (date(2026, 9, 1), "NIFTY2690126000PE"),
        (date(2026, 10, 6), "NIFTY26O0626000PE"),
        (date(2026, 11, 3), "NIFTY26N0326000PE"),
        (date(2026, 12, 1), "NIFTY26D0126000PE"),
    ],
)
def test_weekly_month_code_is_1_to_9_then_o_n_d(
    catalog: InstrumentCatalog, expiry: date, symbol: str
) -> None:
    assert catalog.symbol_for("NIFTY", expiry, 26000, PE) == symbol


def test_banknifty_monthly_symbol(catalog: InstrumentCatalog) -> None:
    assert catalog.contract("BANKNIFTY", date(2026, 12, 29), 58000, PE).symbol == "BANKNIFTY26DEC58000PE"


# --- resolve -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("underlying", "expiry", "strike", "right"),
    [
        ("NIFTY", date(2026, 12, 1), 26000.0, CE),  # weekly
        ("NIFTY", date(2026, 11, 24), 25950.0, PE),  # monthly
        ("BANKNIFTY", date(2026, 12, 29), 58100.0, CE),  # monthly-only underlying
        ("SENSEX", date(2026, 12, 3), 85000.0, PE),  # weekly, Thursday
    ],
)
def test_resolve_round_trips_contract(
    underlying: str, expiry: date, strike: float, right: OptionRight
) -> None:
    maker = InstrumentCatalog.load(INSTRUMENTS)
    reader = InstrumentCatalog.load(INSTRUMENTS)  # a fresh catalog: resolve must parse, not look up
    made = maker.contract(underlying, expiry, strike, right)
    assert reader.resolve(made.symbol) == made


@pytest.mark.parametrize(
    "symbol",
    [
        "FOO26NOV100CE",  # unknown underlying
        "NIFTY26NOV26000XE",  # bad right
        "NIFTY26X0126000CE",  # bad weekly month code
        "NIFTY26D3226000CE",  # no such day
        "NIFTY26N2426000CE",  # monthly expiry written in the weekly form
        "NIFTY",  # nothing after the underlying
    ],
)
def test_resolve_of_an_unknown_or_garbled_symbol_names_the_symbol(
    catalog: InstrumentCatalog, symbol: str
) -> None:
    with pytest.raises(InstrumentError, match=f"'{symbol}'"):
        catalog.resolve(symbol)


@pytest.mark.parametrize(
    "symbol",
    [
        "NIFTY26D0226000CE",  # Wednesday 2 Dec 2026
        "NIFTY26D0126010CE",  # strike off the 50 step
        "BANKNIFTY26D0158000CE",  # weekly expiry of a monthly-only underlying
    ],
)
def test_resolve_of_an_impossible_contract_raises(catalog: InstrumentCatalog, symbol: str) -> None:
    with pytest.raises(InstrumentError):
        catalog.resolve(symbol)


@pytest.mark.parametrize("symbol", ["NIFTY26D0226000CE", "NIFTY26D0126010CE"])
def test_resolve_of_an_impossible_contract_names_the_symbol(catalog: InstrumentCatalog, symbol: str) -> None:
    with pytest.raises(InstrumentError, match=symbol):
        catalog.resolve(symbol)


def test_contract_on_the_wrong_weekday_is_rejected(catalog: InstrumentCatalog) -> None:
    with pytest.raises(InstrumentError, match="tuesday"):
        catalog.contract("NIFTY", date(2026, 12, 2), 26000, CE)


def test_contract_with_a_strike_off_the_step_is_rejected(catalog: InstrumentCatalog) -> None:
    with pytest.raises(InstrumentError, match="26025 is not a multiple of 50"):
        catalog.contract("NIFTY", date(2026, 12, 1), 26025, CE)


def test_weekly_expiry_of_a_monthly_only_underlying_is_rejected(catalog: InstrumentCatalog) -> None:
    with pytest.raises(InstrumentError, match="monthly expiries only"):
        catalog.contract("BANKNIFTY", date(2026, 12, 1), 58000, CE)


# --- strikes and chains ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("underlying", "spot", "atm"),
    [
        ("NIFTY", 26024.9, 26000.0),
        ("NIFTY", 26025.1, 26050.0),
        ("NIFTY", 25980.0, 26000.0),
        ("BANKNIFTY", 58049.0, 58000.0),
        ("BANKNIFTY", 58051.0, 58100.0),
    ],
)
def test_atm_strike_rounds_to_the_nearest_step(
    catalog: InstrumentCatalog, underlying: str, spot: float, atm: float
) -> None:
    assert catalog.atm_strike(underlying, spot) == atm


def test_chain_has_ce_and_pe_for_2k_plus_1_strikes_centred_on_atm(catalog: InstrumentCatalog) -> None:
    chain = catalog.chain("NIFTY", date(2026, 12, 1), spot=26012.0, strikes_each_side=3)
    strikes = [26000.0 + 50 * k for k in range(-3, 4)]
    assert [(c.strike, c.right) for c in chain] == [(s, r) for s in strikes for r in (CE, PE)]
    assert {c.expiry for c in chain} == {date(2026, 12, 1)}


# --- loading -----------------------------------------------------------------------------------------


def write_instruments(tmp_path: Path, nifty_fields: str) -> Path:
    path = tmp_path / "instruments.yaml"
    path.write_text(
        "as_of: '2026-01-01'\n"
        "tick_size: 0.05\n"
        "underlyings:\n"
        f"  NIFTY: {{exchange: NFO, strike_step: 50, expiry_weekday: tuesday, weekly: true, "
        f"reference_spot: 26000, {nifty_fields}}}\n",
        encoding="utf-8",
    )
    return path


def test_loading_a_valid_minimal_file_works(tmp_path: Path) -> None:
    catalog = InstrumentCatalog.load(write_instruments(tmp_path, "lot_size: 75, freeze_qty: 1800"))
    assert catalog.underlyings == ["NIFTY"]
    assert catalog.underlying("NIFTY").max_order_qty == 1800


def test_loading_an_unknown_field_names_the_field(tmp_path: Path) -> None:
    path = write_instruments(tmp_path, "lot_size: 75, freeze_qty: 1800, lotsize: 75")
    with pytest.raises(InstrumentError, match=r"underlyings\.NIFTY\.lotsize"):
        InstrumentCatalog.load(path)


@pytest.mark.parametrize("lot_size", ["0", "-65", "many"])
def test_loading_a_bad_lot_size_names_the_field(tmp_path: Path, lot_size: str) -> None:
    path = write_instruments(tmp_path, f"lot_size: {lot_size}, freeze_qty: 1800")
    with pytest.raises(InstrumentError, match=r"underlyings\.NIFTY\.lot_size"):
        InstrumentCatalog.load(path)


def test_loading_a_missing_file_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(InstrumentError, match=r"nope\.yaml"):
        InstrumentCatalog.load(tmp_path / "nope.yaml")


def test_an_instruments_file_with_an_alias_bomb_is_refused_before_it_is_expanded(tmp_path: Path) -> None:
    levels = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    levels += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 10)]
    bomb = tmp_path / "instruments.yaml"
    bomb.write_text("\n".join(levels) + "\n", encoding="utf-8")
    with pytest.raises(InstrumentError):
        InstrumentCatalog.load(bomb)
