"""The drills a desk offers: the scenarios that ship (`imperium_desk/configs/scenarios/`) and the trader's own
(`<home>/scenarios/`), each read and checked, so the menu can list a broken file with its reason instead of
failing when it is picked."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from imperium_desk.config import ConfigError
from imperium_desk.domain.instruments import InstrumentCatalog
from imperium_desk.scenarios.runner import check_instruments
from imperium_desk.scenarios.spec import LoadedScenario, RandomEvent, load_scenario
from imperium_desk.shipped import SCENARIO_SUFFIXES, scenarios_dir

DrillSource = Literal["shipped", "user"]


def shipped_scenarios_dir() -> Path:
    """The drills that ship with the desk (`imperium_desk/configs/scenarios/`, package data)."""
    return scenarios_dir()


@dataclass(frozen=True, slots=True)
class DrillInfo:
    """One scenario file as the drills menu lists it, made by `scan` (or by the desk for the drill being previewed). A
    file that does not load still gets one, with its stem as `id` and the first error as `problem`, so the menu shows
    it and why instead of hiding it; `problem` also says when a valid scenario cannot run against this desk. `orders`
    counts the file's order entries (a repeated rule is one), not the parents it will place.
    """

    path: Path
    source: DrillSource
    id: str  # the scenario's id, or the file's stem when it does not load
    description: str
    duration_s: float
    orders: int
    events: int
    problem: str | None  # why it cannot run in this desk (invalid file, unknown instrument, config overrides)

    @property
    def runnable(self) -> bool:
        return self.problem is None


MARKET_EVENTS = ("news_shock", "liquidity_drop", "volatility_spike")  # events that move the simulated market


def live_problems(scenario: LoadedScenario, catalog: InstrumentCatalog, simulated: Sequence[str],
                  *, market_events: bool = True) -> list[str]:
    """What stops a valid scenario from running against this desk's live session. `market_events` False: the
    desk's quotes are real (paper on live data), which no event can move."""
    problems = [f"{scenario.path}: {p}" for p in check_instruments(scenario.spec, catalog, list(simulated))]
    if not market_events:
        for i, event in enumerate(scenario.spec.events):
            kind = event.event.get("type") if isinstance(event, RandomEvent) else event.type
            if kind in MARKET_EVENTS:
                problems.append(f"{scenario.path}: events.{i}: {kind} moves the simulated market; on live quotes "
                                "only broker, latency, risk and model events run (paper mode runs it all)")
    if scenario.spec.config:
        # Market, broker and risk sections are read when the desk starts; a drill cannot swap them mid-session.
        problems.append(f"{scenario.path}: config: a drill with config overrides runs only as a replay "
                        "(imperium-desk replay)")
    return problems


def scan(
    folders: Sequence[tuple[Path, DrillSource]], catalog: InstrumentCatalog, simulated: Sequence[str],
    *, market_events: bool = True,
) -> list[DrillInfo]:
    """Every scenario file in `folders` (blocking file reads: call it off the event loop), by source then name."""
    out: list[DrillInfo] = []
    for folder, source in folders:
        if not folder.is_dir():
            continue
        for path in sorted(p for p in folder.iterdir() if p.suffix.lower() in SCENARIO_SUFFIXES and p.is_file()):
            out.append(_info(path, source, catalog, simulated, market_events))
    return out


def _info(path: Path, source: DrillSource, catalog: InstrumentCatalog, simulated: Sequence[str],
          market_events: bool) -> DrillInfo:
    try:
        scenario = load_scenario(path)
    except ConfigError as exc:
        more = f" (+{len(exc.errors) - 1} more)" if len(exc.errors) > 1 else ""
        return DrillInfo(path, source, path.stem, "", 0.0, 0, 0, exc.errors[0] + more)
    spec = scenario.spec
    problems = live_problems(scenario, catalog, simulated, market_events=market_events)
    return DrillInfo(
        path, source, spec.id, spec.description, spec.duration_s, len(spec.orders), len(spec.events),
        problems[0] if problems else None,
    )
