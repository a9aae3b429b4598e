"""Kite instruments CSV -> the day's option contracts, token <-> symbol map, catalog; the once-a-day cache."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from imperium_desk.broker.kite.instruments import (
    InstrumentDumpError,
    KiteInstruments,
    cache_path,
    cached_dump,
    parse_instruments_csv,
    read_cache,
    write_cache,
)
from imperium_desk.domain.enums import OptionRight
from imperium_desk.domain.instruments import InstrumentCatalog, InstrumentError, InstrumentsFile

CONFIGS = Path(__file__).resolve().parents[3] / "imperium_desk" / "configs" / "instruments.yaml"
HEADER = (
    "instrument_token,exchange_token,tradingsymbol,name,last_price,expiry,strike,tick_size,lot_size,"
    "instrument_type,segment,exchange"
)
# Authored for these tests: NIFTY weekly (6 and 13 Jan 2026) and monthly (27 Jan), SENSEX weekly (8 Jan) on BFO,
# a future (ignored), a stock option (not a configured underlying) and an index row.
NFO_ROWS = [
    '12001001,46880,NIFTY2610626000CE,"NIFTY",120.5,2026-01-06,26000,0.05,65,CE,NFO-OPT,NFO',
    '12001002,46881,NIFTY2610626000PE,"NIFTY",98.1,2026-01-06,26000,0.05,65,PE,NFO-OPT,NFO',
    '12001003,46882,NIFTY2610626050CE,"NIFTY",90.0,2026-01-06,26050,0.05,65,CE,NFO-OPT,NFO',
    '12001004,46883,NIFTY2611326000CE,"NIFTY",150.0,2026-01-13,26000,0.05,65,CE,NFO-OPT,NFO',
    '12001005,46884,NIFTY26JAN26000CE,"NIFTY",260.0,2026-01-27,26000,0.05,65,CE,NFO-OPT,NFO',
    '12001006,46885,NIFTY26JANFUT,"NIFTY",26100.0,2026-01-27,0,0.1,65,FUT,NFO-FUT,NFO',
    '12001007,46886,RELIANCE26JAN1500CE,"RELIANCE",20.0,2026-01-27,1500,0.05,500,CE,NFO-OPT,NFO',
]
BFO_ROWS = [
    '28001001,845001,SENSEX2610885000CE,"SENSEX",300.0,2026-01-08,85000,0.05,20,CE,BFO-OPT,BFO',
    '28001002,845002,SENSEX2610885100PE,"SENSEX",280.0,2026-01-08,85100,0.05,20,PE,BFO-OPT,BFO',
    '28001003,845003,SENSEX26JAN85000CE,"SENSEX",900.0,2026-01-29,85000,0.05,20,CE,BFO-OPT,BFO',
    '265,265,SENSEX,"SENSEX",85000.0,,0,0.0,0,EQ,INDICES,BSE',
]
DAY = date(2026, 1, 5)


def csv_text(rows: list[str]) -> str:
    return "\n".join([HEADER, *rows]) + "\n"


@pytest.fixture(scope="module")
def spec() -> InstrumentsFile:
    return InstrumentCatalog.load(CONFIGS).spec


@pytest.fixture(scope="module")
def instruments(spec: InstrumentsFile) -> KiteInstruments:
    rows = parse_instruments_csv(csv_text(NFO_ROWS)) + parse_instruments_csv(csv_text(BFO_ROWS))
    return KiteInstruments(rows, spec)


def test_only_option_rows_are_read() -> None:
    assert len(parse_instruments_csv(csv_text(NFO_ROWS))) == 6


def test_futures_row_is_ignored(instruments: KiteInstruments) -> None:
    with pytest.raises(InstrumentError):
        instruments.contract("NIFTY26JANFUT")


def test_unconfigured_underlying_is_skipped_and_counted(instruments: KiteInstruments) -> None:
    assert instruments.skipped_underlyings == {"RELIANCE": 1}


def test_weekly_nifty_contract_carries_kites_symbol_and_the_configured_freeze(instruments: KiteInstruments) -> None:
    contract = instruments.find("NIFTY", date(2026, 1, 6), 26000, OptionRight.CE)
    assert (contract.symbol, contract.lot_size, contract.freeze_qty, contract.exchange) == (
        "NIFTY2610626000CE", 65, 1800, "NFO")


def test_monthly_nifty_contract_is_found(instruments: KiteInstruments) -> None:
    assert instruments.find("NIFTY", date(2026, 1, 27), 26000, OptionRight.CE).symbol == "NIFTY26JAN26000CE"


def test_sensex_trades_on_bfo(instruments: KiteInstruments) -> None:
    assert instruments.contract("SENSEX2610885000CE").exchange == "BFO"


def test_token_and_symbol_map_both_ways(instruments: KiteInstruments) -> None:
    assert instruments.symbol(instruments.token("SENSEX26JAN85000CE")) == "SENSEX26JAN85000CE"


def test_expiries_come_from_the_dump(instruments: KiteInstruments) -> None:
    assert instruments.expiries("NIFTY") == [date(2026, 1, 6), date(2026, 1, 13), date(2026, 1, 27)]


def test_catalog_generates_the_same_symbols_as_kite(instruments: KiteInstruments) -> None:
    catalog = instruments.catalog()
    contract = catalog.contract("NIFTY", date(2026, 1, 6), 26000, OptionRight.CE)
    monthly = catalog.contract("SENSEX", date(2026, 1, 29), 85000, OptionRight.CE)
    assert (contract.symbol, monthly.symbol) == ("NIFTY2610626000CE", "SENSEX26JAN85000CE")


def test_catalog_takes_lot_size_and_strike_step_from_the_dump(spec: InstrumentsFile) -> None:
    rows = parse_instruments_csv(csv_text([
        '1,1,NIFTY2610626000CE,"NIFTY",1,2026-01-06,26000,0.05,75,CE,NFO-OPT,NFO',
        '2,2,NIFTY2610626100CE,"NIFTY",1,2026-01-06,26100,0.05,75,CE,NFO-OPT,NFO',
    ]))
    nifty = KiteInstruments(rows, spec).catalog().underlying("NIFTY")
    assert (nifty.lot_size, nifty.strike_step, nifty.freeze_qty) == (75, 100, 1800)


def test_catalog_keeps_an_underlying_missing_from_the_dump(instruments: KiteInstruments, spec: InstrumentsFile) -> None:
    assert instruments.catalog().underlying("BANKNIFTY") == spec.underlyings["BANKNIFTY"]


@pytest.mark.parametrize(
    ("row", "line", "field"),
    [
        ('12001001,46880,NIFTY2610626000CE,"NIFTY",1,2026-01-06,abc,0.05,65,CE,NFO-OPT,NFO', 3, "strike"),
        ('12001001,46880,NIFTY2610626000CE,"NIFTY",1,2026-13-06,26000,0.05,65,CE,NFO-OPT,NFO', 3, "expiry"),
        ('12001001,46880,NIFTY2610626000CE,"NIFTY",1,2026-01-06,26000,0.05,0,CE,NFO-OPT,NFO', 3, "lot_size"),
        ('12001001,46880,NIFTY2610626000CE,"NIFTY",1,2026-01-06,26000,0.05,65,CE,NFO-OPT,BFO', 3, "exchange"),
    ],
    ids=["strike", "expiry", "lot_size", "exchange"],
)
def test_malformed_row_names_its_line_and_field(row: str, line: int, field: str) -> None:
    with pytest.raises(InstrumentDumpError) as caught:
        parse_instruments_csv(csv_text([NFO_ROWS[0], row]), source="nfo.csv")
    assert (caught.value.line, caught.value.field) == (line, field)


def test_short_row_is_refused() -> None:
    with pytest.raises(InstrumentDumpError):
        parse_instruments_csv(csv_text(['12001001,46880,NIFTY2610626000CE,"NIFTY"']))


def test_missing_column_is_refused() -> None:
    with pytest.raises(InstrumentDumpError):
        parse_instruments_csv("instrument_token,tradingsymbol\n1,NIFTY2610626000CE\n")


# -- cache ---------------------------------------------------------------------------------------------------------


def test_cache_round_trips_the_days_dump(tmp_path: Path) -> None:
    write_cache(tmp_path, "NFO", DAY, csv_text(NFO_ROWS))
    assert read_cache(tmp_path, "NFO", DAY) == csv_text(NFO_ROWS)


def test_stale_cache_from_a_previous_day_is_not_used(tmp_path: Path) -> None:
    write_cache(tmp_path, "NFO", date(2026, 1, 2), csv_text(NFO_ROWS))
    assert read_cache(tmp_path, "NFO", DAY) is None


def test_writing_todays_dump_removes_older_days(tmp_path: Path) -> None:
    old = write_cache(tmp_path, "NFO", date(2026, 1, 2), csv_text(NFO_ROWS))
    write_cache(tmp_path, "NFO", DAY, csv_text(NFO_ROWS))
    assert not old.exists()


def test_cache_write_leaves_no_temporary_file(tmp_path: Path) -> None:
    write_cache(tmp_path, "BFO", DAY, csv_text(BFO_ROWS))
    assert [p.name for p in tmp_path.iterdir()] == [cache_path(tmp_path, "BFO", DAY).name]


def test_download_happens_once_a_day(tmp_path: Path) -> None:
    calls: list[str] = []

    def download() -> str:
        calls.append("GET")
        return csv_text(NFO_ROWS)

    cached_dump(tmp_path, "NFO", DAY, download)
    cached_dump(tmp_path, "NFO", DAY, download)
    assert calls == ["GET"]


def test_malformed_download_is_not_cached(tmp_path: Path) -> None:
    bad = csv_text(['1,1,NIFTY2610626000CE,"NIFTY",1,2026-01-06,abc,0.05,65,CE,NFO-OPT,NFO'])
    with pytest.raises(InstrumentDumpError):
        cached_dump(tmp_path, "NFO", DAY, lambda: bad)
    assert read_cache(tmp_path, "NFO", DAY) is None


def test_damaged_cache_is_downloaded_again(tmp_path: Path) -> None:
    cache_path(tmp_path, "NFO", DAY).write_text(HEADER + "\n1,1,NIFTY2610626000CE,NIFTY\n", encoding="utf-8")
    rows = cached_dump(tmp_path, "NFO", DAY, lambda: csv_text(NFO_ROWS))
    assert len(rows) == 6


def test_the_catalog_lists_exactly_kites_contracts(instruments: KiteInstruments) -> None:
    catalog = instruments.catalog()
    assert catalog.is_listed
    listed = catalog.contract("NIFTY", date(2026, 1, 6), 26050, OptionRight.CE)
    assert listed is instruments.contract("NIFTY2610626050CE")
    with pytest.raises(InstrumentError):
        catalog.contract("NIFTY", date(2026, 1, 6), 26050, OptionRight.PE)  # a strike Kite does not list


def test_a_holiday_shifted_expiry_is_listed_as_kite_lists_it(spec: InstrumentsFile) -> None:
    # Tuesday 2026-01-06 moved to Monday 2026-01-05: a generated catalog would refuse a Monday expiry.
    rows = parse_instruments_csv(csv_text(['12009001,46990,NIFTY2610526000CE,"NIFTY",120.5,2026-01-05,26000,0.05,65,CE,'
                                           'NFO-OPT,NFO']))
    catalog = KiteInstruments(rows, spec).catalog()
    assert catalog.contract("NIFTY", date(2026, 1, 5), 26000, OptionRight.CE).symbol == "NIFTY2610526000CE"
    assert catalog.resolve("NIFTY2610526000CE").expiry == date(2026, 1, 5)


def test_the_catalog_resolves_no_symbol_kite_does_not_list(instruments: KiteInstruments) -> None:
    with pytest.raises(InstrumentError):
        instruments.catalog().resolve("NIFTY2610626100CE")


def test_the_catalogs_expiries_are_kites(instruments: KiteInstruments) -> None:
    now = datetime(2026, 1, 5, 4, 0, tzinfo=UTC)
    assert instruments.catalog().expiries("NIFTY", now, 4) == [date(2026, 1, 6), date(2026, 1, 13), date(2026, 1, 27)]
