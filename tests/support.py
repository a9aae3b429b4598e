"""Builders shared by engine tests: a whole engine on the virtual clock, with records captured in memory."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from imperium_desk.broker.faults import FaultRates
from imperium_desk.clock import VirtualClock
from imperium_desk.config import Config, config_from_mapping
from imperium_desk.desk import Desk, DeskEvent, Engine, build_engine
from imperium_desk.domain.enums import Mode, OptionRight
from imperium_desk.domain.instruments import OptionContract


@dataclass
class Harness:
    engine: Engine
    clock: VirtualClock
    records: list[dict[str, Any]] = field(default_factory=list)

    def events(self, name: str) -> list[dict[str, Any]]:
        return [r for r in self.records if r["event"] == name]

    def atm(self, underlying: str = "NIFTY", right: OptionRight = OptionRight.CE, offset: int = 0) -> OptionContract:
        catalog = self.engine.catalog
        expiry = catalog.expiries(underlying, self.clock.now_datetime(), 1)[0]
        strike = catalog.strike_offset(underlying, self.engine.market.spot(underlying), offset)
        contract = catalog.contract(underlying, expiry, strike, right)
        self.engine.market.subscribe(contract)
        return contract


def config(overrides: dict[str, Any] | None = None) -> Config:
    base: dict[str, Any] = {
        "market": {"underlyings": ["NIFTY", "BANKNIFTY"], "tick_interval_ms": 250},
        "latency_model": {"global": {"type": "constant", "value_ms": 40}},
        "slippage_model": {"global": {"type": "constant", "value": 0, "unit": "bps"}},
        "broker": {"rate_limit_per_s": None},
        "execution": {"randomize_slices": False},
    }
    if overrides:
        from imperium_desk.config import deep_merge

        base = deep_merge(base, overrides)
    return config_from_mapping(base, "test")


def harness(
    overrides: dict[str, Any] | None = None,
    *,
    seed: int = 7,
    faults: FaultRates | None = None,
    fault_timeout_s: float = 2.0,
) -> Harness:
    cfg = config(overrides)
    clock = VirtualClock(cfg.market.start.timestamp())
    records: list[dict[str, Any]] = []
    engine = build_engine(
        cfg, clock=clock, seed=seed, mode=Mode.REPLAY, sink=records.append, scenario_id="test",
        faults=faults, fault_timeout_s=fault_timeout_s,
    )
    return Harness(engine, clock, records)


def make_desk(tmp_path: Path, overrides: dict[str, Any] | None = None) -> tuple[Desk, VirtualClock, list[DeskEvent]]:
    """A paper desk on the virtual clock under `tmp_path` (fsync off), and the list its events go to."""
    cfg = config({"telemetry": {"fsync": False}, **(overrides or {})})
    clock = VirtualClock(cfg.market.start.timestamp())
    desk = Desk(cfg, home=tmp_path, clock=clock)
    events: list[DeskEvent] = []
    desk.add_listener(events.append)
    return desk, clock, events
