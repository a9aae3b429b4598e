"""The desk's telemetry storage: seq continues across restarts, the index follows the log, status is reported."""

from __future__ import annotations

from pathlib import Path

from imperium_desk.clock import VirtualClock
from imperium_desk.desk import Desk
from imperium_desk.domain.enums import OptionRight, Side
from imperium_desk.execution.request import ExecutionRequest
from imperium_desk.telemetry.sqlite_index import IndexReader
from tests.support import config
from tests.telemetry_support import seqs_of


def run_one_order(home: Path) -> Desk:
    cfg = config({"telemetry": {"fsync": False}})
    clock = VirtualClock(cfg.market.start.timestamp())
    desk = Desk(cfg, home=home, clock=clock)
    expiry = desk.expiries("NIFTY", 1)[0]
    symbol = desk.contract("NIFTY", expiry, desk.atm_strike("NIFTY"), OptionRight.CE).symbol

    async def main() -> None:
        desk.start()
        await desk.submit(ExecutionRequest(symbol=symbol, side=Side.BUY, quantity=65)).task
        await desk.stop()

    clock.run(main())
    return desk


def test_a_restarted_desk_continues_seq_gap_free(tmp_path: Path) -> None:
    first = run_one_order(tmp_path)
    after_first = seqs_of(first.telemetry_path)
    second = run_one_order(tmp_path)
    seqs = seqs_of(second.telemetry_path)
    assert len(seqs) > len(after_first) > 0
    assert seqs == list(range(1, len(seqs) + 1))


def test_the_desks_index_holds_every_record_of_its_log_after_stop(tmp_path: Path) -> None:
    run_one_order(tmp_path)
    desk = run_one_order(tmp_path)
    indexed = IndexReader(desk.telemetry_index_path).query(limit=100_000)
    assert desk.telemetry_index_path == tmp_path / "execution_quality_paper.sqlite"
    assert [r["seq"] for r in indexed] == seqs_of(desk.telemetry_path)


def test_telemetry_status_names_the_jsonl_and_the_index_with_what_they_hold(tmp_path: Path) -> None:
    desk = run_one_order(tmp_path)
    last = seqs_of(desk.telemetry_path)[-1]
    status = {s.name: s for s in desk.telemetry_status()}
    assert set(status) == {"jsonl", "sqlite"}
    assert status["jsonl"].stored_seq == last
    assert status["sqlite"].stored_seq == last
