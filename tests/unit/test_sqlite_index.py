"""The SQLite telemetry index: idempotent writes, the read API, and rebuilding from the JSONL."""

from __future__ import annotations

import random
import sqlite3
from pathlib import Path
from typing import Any

import orjson
import pytest

from imperium_desk.telemetry.segments import TelemetryFileError
from imperium_desk.telemetry.sqlite_index import IndexReader, SqliteIndex, epoch_seconds, index_path_for, rebuild
from tests.telemetry_support import START, SYMBOLS, record

Record = dict[str, Any]


def lines(records: list[Record]) -> list[bytes]:
    return [orjson.dumps(r) for r in records]


def filled_index(path: Path, records: list[Record], batch: int = 97) -> SqliteIndex:
    index = SqliteIndex(path)
    index.open()
    for i in range(0, len(records), batch):
        chunk = records[i : i + batch]
        index.write(chunk, lines(chunk))
    return index


def expected(records: list[Record], *, since_seq: int | None = None, since_time: float | None = None,
             asset: str | None = None, scenario_id: str | None = None, parent_id: str | None = None,
             event: str | None = None, limit: int = 500) -> list[Record]:
    """The query's meaning, as a plain filter over the records."""
    def keep(r: Record) -> bool:
        ts = epoch_seconds(r["timestamp"])
        return (
            (since_seq is None or r["seq"] > since_seq)
            and (since_time is None or (ts is not None and ts >= since_time))
            and (asset is None or asset in (r["asset"], r["underlying"]))
            and (scenario_id is None or r["scenario_id"] == scenario_id)
            and (parent_id is None or r["parent_id"] == parent_id)
            and (event is None or r["event"] == event)
        )
    return [r for r in records if keep(r)][:limit]


def all_rows(path: Path) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute("SELECT * FROM records ORDER BY seq").fetchall()
    finally:
        conn.close()


def test_open_reports_the_highest_seq_held(tmp_path: Path) -> None:
    path = tmp_path / "t.sqlite"
    index = SqliteIndex(path)
    assert index.open() == 0
    records = [record(s) for s in range(1, 51)]
    index.write(records, lines(records))
    index.close()
    assert SqliteIndex(path).open() == 50


def test_writing_a_seq_twice_stores_it_once(tmp_path: Path) -> None:
    path = tmp_path / "t.sqlite"
    records = [record(s) for s in range(1, 101)]
    index = filled_index(path, records)
    index.write(records[40:60], lines(records[40:60]))
    index.close()
    assert [row[0] for row in all_rows(path)] == list(range(1, 101))


def test_records_since_a_seq_come_in_seq_order_up_to_the_limit(tmp_path: Path) -> None:
    records = [record(s) for s in range(1, 2001)]
    index = filled_index(tmp_path / "t.sqlite", records)
    assert index.reader.query(since_seq=1200) == records[1200:1700]
    assert index.reader.query(since_seq=1990, limit=500) == records[1990:]
    assert index.reader.query(since_seq=2000) == []
    index.close()


def test_records_since_a_time_start_at_the_first_record_at_or_after_it(tmp_path: Path) -> None:
    records = [record(s) for s in range(1, 1001)]
    index = filled_index(tmp_path / "t.sqlite", records)
    since = START + 500 * 0.01
    assert index.reader.query(since_time=since, limit=10) == expected(records, since_time=since, limit=10)
    assert index.reader.query(since_time=since, limit=10)[0]["seq"] == 500
    index.close()


def test_a_time_query_finds_records_written_after_the_clock_stepped_back(tmp_path: Path) -> None:
    # A wall clock stepped back 200 s after seq 300: seqs 301.. repeat the times of seqs 101..
    records = [record(s, ts=START + s - (200 if s > 300 else 0)) for s in range(1, 601)]
    index = filled_index(tmp_path / "t.sqlite", records)
    for since in (START + 100, START + 250, START + 350, START - 10, START + 10_000):
        assert index.reader.query(since_time=since) == expected(records, since_time=since)
    found = index.reader.query(since_time=START + 250, limit=60)
    assert [r["seq"] for r in found] == [*range(250, 301), *range(450, 459)]
    index.close()


def test_an_asset_matches_the_trading_symbol_or_the_underlying(tmp_path: Path) -> None:
    records = [record(s) for s in range(1, 3001)]
    index = filled_index(tmp_path / "t.sqlite", records)
    by_symbol = index.reader.query(asset=SYMBOLS[0][0])
    by_underlying = index.reader.query(asset="NIFTY")
    assert by_symbol == expected(records, asset=SYMBOLS[0][0])
    assert by_underlying == expected(records, asset="NIFTY")
    assert {r["asset"] for r in by_underlying} == {SYMBOLS[0][0], SYMBOLS[1][0]}
    index.close()


def test_every_filter_combination_returns_what_a_plain_filter_returns(tmp_path: Path) -> None:
    records = [record(s) for s in range(1, 4001)]
    index = filled_index(tmp_path / "t.sqlite", records)
    rng = random.Random(5)
    for _ in range(300):
        query: dict[str, Any] = {
            "since_seq": rng.choice([None, 0, 1000, 3990]),
            "since_time": rng.choice([None, START + 5.0, START + 35.0]),
            "asset": rng.choice([None, "NIFTY", "BANKNIFTY", SYMBOLS[1][0], "NONE"]),
            "scenario_id": rng.choice([None, "drill-1", "drill-3"]),
            "parent_id": rng.choice([None, "P7", "P250", "P399"]),
            "event": rng.choice([None, "fill", "ack"]),
            "limit": rng.choice([1, 50, 500]),
        }
        assert index.reader.query(**query) == expected(records, **query), query
    index.close()


def test_a_reader_sees_new_records_while_the_writer_holds_its_connection(tmp_path: Path) -> None:
    path = tmp_path / "t.sqlite"
    records = [record(s) for s in range(1, 201)]
    index = filled_index(path, records[:100])
    reader = IndexReader(path)
    assert len(reader.query(limit=1000)) == 100
    index.write(records[100:], lines(records[100:]))
    assert reader.query(limit=1000) == records
    reader.close()
    index.close()


def test_a_reader_of_a_missing_index_finds_nothing(tmp_path: Path) -> None:
    assert IndexReader(tmp_path / "none.sqlite").query() == []


def write_jsonl(path: Path, records: list[Record]) -> Path:
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in records))
    return path


def test_a_rebuild_equals_the_index_written_live(tmp_path: Path) -> None:
    records = [record(s) for s in range(1, 3001)]
    live = tmp_path / "live.sqlite"
    filled_index(live, records).close()
    first = write_jsonl(tmp_path / "t.000000000001.jsonl", records[:1000])
    active = write_jsonl(tmp_path / "t.jsonl", records[1000:])
    rebuilt = tmp_path / "rebuilt.sqlite"
    assert rebuild(rebuilt, [active, first]) == 3000  # any order: files are read by their first seq
    assert all_rows(rebuilt) == all_rows(live)


def test_a_failed_rebuild_leaves_the_old_index_and_no_temporary_file(tmp_path: Path) -> None:
    records = [record(s) for s in range(1, 101)]
    db = tmp_path / "t.sqlite"
    rebuild(db, [write_jsonl(tmp_path / "good.jsonl", records)])
    bad = write_jsonl(tmp_path / "t.jsonl", records)
    bad.write_bytes(bad.read_bytes().replace(b'"seq":57,', b'"seq":"x",'))
    with pytest.raises(TelemetryFileError, match=r"t\.jsonl: line 57: no integer 'seq'"):
        rebuild(db, [bad])
    assert [row[0] for row in all_rows(db)] == list(range(1, 101))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["good.jsonl", "t.jsonl", "t.sqlite"]


def test_a_rebuild_refuses_two_logs_whose_seqs_overlap(tmp_path: Path) -> None:
    one = write_jsonl(tmp_path / "a.jsonl", [record(s) for s in range(1, 11)])
    two = write_jsonl(tmp_path / "b.jsonl", [record(s) for s in range(5, 16)])
    with pytest.raises(TelemetryFileError, match="not one log"):
        rebuild(tmp_path / "t.sqlite", [one, two])
    assert not (tmp_path / "t.sqlite").exists()


def test_the_index_sits_beside_its_log_with_the_same_stem(tmp_path: Path) -> None:
    assert index_path_for(tmp_path / "execution_quality_paper.jsonl") == tmp_path / "execution_quality_paper.sqlite"
    assert index_path_for(tmp_path / "t.000000000042.jsonl") == tmp_path / "t.sqlite"


@pytest.mark.parametrize(
    ("text", "epoch"),
    [
        ("2026-11-23T05:45:00.125000Z", START + 0.125),
        ("2026-11-23T05:45:00Z", START),
        ("2026-11-23T11:15:00+05:30", START),
        ("not a time", None),
        (None, None),
    ],
)
def test_timestamps_parse_to_epoch_seconds(text: str | None, epoch: float | None) -> None:
    assert epoch_seconds(text) == epoch
