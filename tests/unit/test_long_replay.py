"""Replays longer than a session: market hours on the virtual clock, the close, expiries, and the run's summary."""

from __future__ import annotations

import json
from datetime import datetime, time
from pathlib import Path
from typing import Any

from imperium_desk.broker.paper.exchange import SESSION_CLOSE_MESSAGE
from imperium_desk.config import config_from_mapping
from imperium_desk.desk import run_replay
from imperium_desk.domain.instruments import IST
from imperium_desk.scenarios.spec import ScenarioSpec, scenario_from_spec

EXPIRING = "NIFTY26NOV26000CE"  # the NIFTY monthly: expires Tuesday 2026-11-24 15:30 IST
TWAP = {"lots": 4, "algo": "TWAP", "params": {"horizon_s": 120, "max_child_orders": 4, "randomize_slices": False}}


def _replay(tmp_path: Path, start: str, duration_s: float, orders: list[dict[str, Any]]) -> list[dict[str, Any]]:
    config = config_from_mapping({
        "market": {"underlyings": ["NIFTY"], "tick_interval_ms": 1000, "strikes_each_side": 0, "start": start},
        "telemetry": {"sinks": ["jsonl"], "fsync": False, "markouts_s": []},
    }, "test")
    spec = ScenarioSpec.model_validate({"id": "long", "seed": 3, "duration_s": duration_s, "orders": orders})
    run_replay(scenario_from_spec(spec), config, tmp_path)
    return [json.loads(line) for line in (tmp_path / "telemetry.jsonl").read_text().splitlines()]


def _run(tmp_path: Path) -> dict[str, Any]:
    run: dict[str, Any] = json.loads((tmp_path / "run.json").read_text())
    return run


def _local(record: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(record["timestamp"]).astimezone(IST)


def _atm(**kw: Any) -> dict[str, Any]:
    return {"instrument": {"underlying": "NIFTY", "strike": "ATM", "right": "CE"}, **{"lots": 1, **kw}}


def test_a_twap_over_the_weekend_fills_on_friday_and_resumes_on_monday(tmp_path: Path) -> None:
    records = _replay(tmp_path, "2026-11-27T15:29:00+05:30", 120, [_atm(at_s=0, side="buy", **TWAP)])
    days = {_local(r).date().isoformat() for r in records if r["event"] == "fill"}
    assert days == {"2026-11-27", "2026-11-30"}


def test_no_record_is_stamped_while_the_market_is_closed(tmp_path: Path) -> None:
    records = _replay(tmp_path, "2026-11-27T15:29:00+05:30", 120, [_atm(at_s=0, side="buy", **TWAP)])
    for record in records:
        local = _local(record)
        assert local.weekday() < 5 and time(9, 15) <= local.time() <= time(15, 30)


def test_a_start_outside_the_session_begins_at_the_next_open(tmp_path: Path) -> None:
    records = _replay(tmp_path, "2026-11-28T11:00:00+05:30", 10, [_atm(at_s=0, side="buy", algo="IMMEDIATE")])
    assert _local(records[0]) == datetime(2026, 11, 30, 9, 15, tzinfo=IST)
    assert _run(tmp_path)["start"] == "2026-11-30T03:45:00+00:00"


def test_an_order_working_at_the_close_is_cancelled_there(tmp_path: Path) -> None:
    resting = _atm(at_s=0, side="buy", algo="IMMEDIATE", order_type="LIMIT", limit_price=0.05,
                   params={"horizon_s": 600})
    records = _replay(tmp_path, "2026-11-23T15:29:00+05:30", 30, [resting])
    (cancel,) = [r for r in records if r["event"] == "cancel"]
    assert cancel["extra_metrics"]["reason"] == SESSION_CLOSE_MESSAGE
    assert _run(tmp_path)["sessions"]["children_cancelled_at_close"] == 1


def test_the_remainder_of_a_child_cancelled_at_the_close_goes_to_the_next_sessions_child(tmp_path: Path) -> None:
    passive = _atm(at_s=0, side="buy", lots=2, algo="TWAP", order_type="LIMIT", limit_price=0.05,
                   params={"horizon_s": 120, "max_child_orders": 2, "randomize_slices": False})
    records = _replay(tmp_path, "2026-11-23T15:29:00+05:30", 120, [passive])
    placed = [r for r in records if r["event"] == "placed"]
    assert [(_local(r).date().day, r["qty"]) for r in placed] == [(23, 65), (24, 130)]


def test_an_order_on_an_expired_contract_ends_as_expired(tmp_path: Path) -> None:
    orders = [{"at_s": 120, "symbol": EXPIRING, "side": "buy", "lots": 1, "algo": "IMMEDIATE"}]
    _replay(tmp_path, "2026-11-24T15:29:00+05:30", 130, orders)
    run = _run(tmp_path)
    assert run["parent_failures"]["expired"] == 1
    assert run["parent_status"]["rejected"] == 1


def test_nearest_after_an_expiry_rolls_to_the_next_one_and_fills(tmp_path: Path) -> None:
    records = _replay(tmp_path, "2026-11-24T15:29:00+05:30", 130, [_atm(at_s=120, side="buy", algo="IMMEDIATE")])
    (fill,) = [r for r in records if r["event"] == "fill"]
    assert fill["asset"] != EXPIRING


def test_run_json_counts_every_failure_kind_and_the_closes(tmp_path: Path) -> None:
    _replay(tmp_path, "2026-11-23T15:00:00+05:30", 2 * 22500, [_atm(at_s=0, side="buy", algo="IMMEDIATE")])
    run = _run(tmp_path)
    assert set(run["parent_failures"]) >= {"unfilled", "expired", "rejected", "invalid"}
    assert run["sessions"]["closes"] == 2
    assert run["end"] > run["start"]
