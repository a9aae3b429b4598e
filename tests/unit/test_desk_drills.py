"""Drills against the running desk (the Drills menu and scenario panel call these), on the virtual clock."""

from __future__ import annotations

import asyncio
import multiprocessing
from pathlib import Path

import pytest

from imperium_desk.clock import WallClock
from imperium_desk.config import ConfigError
from imperium_desk.desk import Desk, DrillEvent, DrillState, ParentStarted, RecordEvent
from imperium_desk.scenarios.live import DrillView
from tests.support import config
from tests.unit.test_desk import make_desk, run

DRILL = """
id: tiny-drill
description: NIFTY slows down for five seconds while liquidity thins
seed: 3
duration_s: 20
orders:
  - every_s: 2
    from_s: 0
    until_s: 18
    instrument: {underlying: NIFTY, strike: ATM, right: CE}
    side: buy
    lots: 1
    algo: IMMEDIATE
events:
  - {type: latency_burst, at_s: 5, duration_s: 5, underlying: NIFTY, factor: 4}
  - {type: liquidity_drop, at_s: 8, duration_s: 4, underlying: NIFTY, depth_mult: 0.2, volume_mult: 0.5}
"""


def user_drill(desk: Desk, text: str = DRILL, name: str = "tiny.yaml") -> Path:
    desk.drills_dir.mkdir(parents=True, exist_ok=True)
    path = desk.drills_dir / name
    path.write_text(text, encoding="utf-8")
    return path


def run_drill(desk: Desk, path: Path) -> DrillView:
    async def main() -> DrillView:
        desk.start()
        await desk.start_drill(path)
        assert desk.drill is not None
        await desk.drill.task
        view = desk.drill.view()
        await desk.stop()
        return view

    return run(desk.clock, main())  # type: ignore[arg-type]


def test_the_library_lists_the_shipped_drills_then_the_traders_own(tmp_path: Path) -> None:
    desk, clock, _ = make_desk(tmp_path)
    user_drill(desk)
    library = run(clock, desk.drill_library())
    shipped = [d for d in library if d.source == "shipped"]
    assert len(shipped) >= 6 and all(d.runnable for d in shipped if d.id != "demo")
    assert library[-1].source == "user" and library[-1].id == "tiny-drill" and library[-1].runnable
    run(clock, desk.stop())


def test_a_broken_user_drill_is_listed_with_its_reason(tmp_path: Path) -> None:
    desk, clock, _ = make_desk(tmp_path)
    user_drill(desk, "id: x\nseed: 1\nduration_s: 10\nevents: [{type: meteor, at_s: 1}]\n", "broken.yaml")
    (broken,) = [d for d in run(clock, desk.drill_library()) if d.source == "user"]
    assert not broken.runnable and "events.0" in (broken.problem or "")
    run(clock, desk.stop())


def test_a_drill_with_config_overrides_is_replay_only(tmp_path: Path) -> None:
    desk, clock, _ = make_desk(tmp_path)
    path = user_drill(desk, DRILL + "config: {risk: {max_order_lots: 1}}\n")
    (info,) = [d for d in run(clock, desk.drill_library()) if d.source == "user"]
    assert "runs only as a replay" in (info.problem or "")
    with pytest.raises(ConfigError, match="runs only as a replay"):
        run(clock, desk.start_drill(path))
    assert desk.drill is None
    run(clock, desk.stop())


def test_the_preview_shows_the_event_timeline_and_order_count(tmp_path: Path) -> None:
    desk, clock, _ = make_desk(tmp_path)
    preview = run(clock, desk.drill_preview(user_drill(desk)))
    assert preview.orders == 10
    assert [(r["at_s"], r["type"], r["target"]) for r in preview.timeline] == [
        (5.0, "latency_burst", "NIFTY"), (8.0, "liquidity_drop", "NIFTY")]
    assert preview.timeline[0]["duration_s"] == 5.0 and preview.timeline[0]["params"]["factor"] == 4.0
    run(clock, desk.stop())


def test_a_drill_places_its_orders_through_the_desk_and_fires_its_events(tmp_path: Path) -> None:
    desk, _, events = make_desk(tmp_path)
    view = run_drill(desk, user_drill(desk))
    started = [e for e in events if isinstance(e, ParentStarted)]
    assert len(started) == 10 and all(e.request.metadata.source == "drill" for e in started)
    phases = [e.phase for e in events if isinstance(e, DrillEvent)]
    assert phases == ["started", "event_start", "event_start", "event_end", "event_end", "finished"]
    assert view.state is DrillState.FINISHED and view.parents == 10 and view.active == []


def test_records_written_during_a_drill_carry_its_scenario_id_and_later_ones_do_not(tmp_path: Path) -> None:
    desk, _, events = make_desk(tmp_path)
    run_drill(desk, user_drill(desk))
    fills = [e.record for e in events if isinstance(e, RecordEvent) and e.record["event"] == "fill"]
    assert fills and all(r["scenario_id"] == "tiny-drill" for r in fills)
    assert desk.engine.tracker.scenario_id is None


def test_a_finished_drill_compares_itself_with_the_same_orders_without_events(tmp_path: Path) -> None:
    desk, _, _ = make_desk(tmp_path)
    view = run_drill(desk, user_drill(desk))
    assert view.outcome is not None
    assert view.outcome["run"]["parents"] == 10 and view.outcome["baseline"]["parents"] == 10
    # The burst quadruples the 40 ms round trips of the orders inside it: the tail moves, the calm run's does not.
    assert view.outcome["run"]["latency_ms"]["p99"] == pytest.approx(160.0)
    assert view.outcome["baseline"]["latency_ms"]["p99"] == pytest.approx(40.0)


def test_the_desk_returns_to_its_configured_market_and_models_after_a_drill(tmp_path: Path) -> None:
    desk, _, _ = make_desk(tmp_path)
    run_drill(desk, user_drill(desk))
    assert desk.engine.market.modifiers("NIFTY").depth_mult == 1.0
    assert desk.engine.models.resolve("NIFTY", "NIFTY").latency.params["value_ms"] == 40


def test_stopping_a_drill_ends_its_events_and_cancels_its_working_parents(tmp_path: Path) -> None:
    desk, clock, events = make_desk(tmp_path)
    path = user_drill(desk, DRILL.replace("algo: IMMEDIATE", "algo: TWAP\n    params: {horizon_s: 30}"))

    async def main() -> DrillView | None:
        desk.start()
        await desk.start_drill(path)
        await clock.sleep(9.0)  # inside both events, with TWAPs working
        assert desk.drill is not None and len(desk.drill.view().active) == 2
        view = await desk.stop_drill()
        await clock.sleep(15.0)  # no order of the drill may start after the stop
        await desk.stop()
        return view

    view = run(clock, main())
    assert view is not None and view.state is DrillState.STOPPED and view.active == []
    assert 8.9 < view.elapsed_s < 9.1
    assert len([e for e in events if isinstance(e, ParentStarted)]) == 5
    assert desk.engine.market.modifiers("NIFTY").depth_mult == 1.0
    assert desk.parents_in_flight == 0
    assert view.outcome is not None  # what ran, against the calm replay


def test_a_second_drill_cannot_start_while_one_runs(tmp_path: Path) -> None:
    desk, clock, _ = make_desk(tmp_path)
    path = user_drill(desk)

    async def main() -> None:
        desk.start()
        await desk.start_drill(path)
        with pytest.raises(ConfigError, match="is running: stop it first"):
            await desk.start_drill(path)
        await desk.stop()

    run(clock, main())


def test_a_finished_drill_logs_its_outcome_as_a_scenario_outcome_record(tmp_path: Path) -> None:
    desk, _, events = make_desk(tmp_path)
    view = run_drill(desk, user_drill(desk))
    (record,) = [e.record for e in events if isinstance(e, RecordEvent) and e.record["event"] == "scenario_outcome"]
    assert record["scenario_id"] == "tiny-drill"
    assert record["scenario_outcome"]["outcome"] == view.outcome
    assert record["scenario_outcome"]["metrics"]["state"] == "finished"


def test_a_desk_stopped_mid_drill_still_logs_the_drills_outcome(tmp_path: Path) -> None:
    desk, clock, _ = make_desk(tmp_path)
    path = user_drill(desk)

    async def main() -> None:
        desk.start()
        await desk.start_drill(path)
        await clock.sleep(5.0)
        await desk.stop()

    run(clock, main())
    lines = desk.telemetry_path.read_text().splitlines()
    (line,) = [x for x in lines if '"event":"scenario_outcome"' in x]
    assert '"state":"stopped"' in line


def test_two_starts_at_once_run_one_drill(tmp_path: Path) -> None:
    # On the wall clock, where the file loads on a thread: both starts pass the first check while both load.
    async def main() -> tuple[object, object]:
        desk = Desk(config({"telemetry": {"fsync": False}}), home=tmp_path, clock=WallClock())
        path = user_drill(desk)
        desk.start()
        results = await asyncio.gather(desk.start_drill(path), desk.start_drill(path), return_exceptions=True)
        await desk.stop()
        return results

    results = asyncio.run(main())
    # Either load may finish first, so either start may be the one that runs.
    assert sum(isinstance(r, DrillView) for r in results) == 1
    (refusal,) = [r for r in results if isinstance(r, ConfigError)]
    assert "is running: stop it first" in str(refusal.errors)


def test_on_the_wall_clock_the_baseline_runs_in_a_child_process_that_the_stop_leaves_behind_none_of(
    tmp_path: Path,
) -> None:
    # A baseline replay on a thread held the GIL the Qt thread needs (the window stalled for up to 0.5 s).
    async def main() -> Desk:
        desk = Desk(config({"telemetry": {"fsync": False}}), home=tmp_path, clock=WallClock())
        desk.start()
        await desk.start_drill(user_drill(desk))
        assert [c.name for c in desk.offload.children] == ["drill-baseline"]
        await desk.stop()  # mid-drill: the outcome still waits for its baseline
        return desk

    desk = asyncio.run(main())
    assert multiprocessing.active_children() == []
    assert desk.drill is not None and desk.drill.outcome is not None
    baseline = desk.drill.outcome["baseline"]
    assert baseline["parents"] == 10 and baseline["latency_ms"]["p99"] == pytest.approx(40.0)
