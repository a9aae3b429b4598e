"""nautilus_trader on the peers' workload (`benchmarks.peers`): a `BacktestEngine` fed `QuoteTick`s.

- Quotes: one `QuoteTick` per quote of `quote_series`, on an L1 book; the instrument an `OptionContract` (NIFTY
  call, tick 0.05, lot 65).
- Parents and children: a strategy submits one MARKET parent every 10 s through nautilus's own TWAP execution
  algorithm (`examples.algorithms.twap`, horizon 10 s, interval 1 s), which spawns the 10 children on its timers
  (its last child is the parent's remainder).
- Latency: nautilus's `LatencyModel` is constant. Each child gets a fresh normal draw (50±10 ms) installed on the
  simulated exchange (`set_latency_model`, reached through a `SimulationModule`) just before it is sent; the
  engine was built with the constant 50 ms model.
- Slippage: its `FillModel` draws on every market fill whether the price slips one tick (0.05); the probability,
  0.23, gives the same mean slippage as this engine's lognormal (1.13 bp of ~100 = 0.011).
- Telemetry: one JSON line per fill (`FillLog`), written from `on_order_filled`. Nautilus's own logging at ERROR.

Its fills/s falls as P grows (P = 500: ~660/s, 2,000: ~380/s, 10,000: 60-90/s on a 2-core machine): on every
fill its matching engine walks all the orders of the position (`cache.orders_for_position`, to resize reduce-only
orders), and under NETTING every child of the run belongs to the one position, so each fill costs time linear in
the fills before it. HEDGING is slower still (a position per child, and the portfolio walks the positions).
"""

from __future__ import annotations

import math
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.peers_workload import NS_PER_S, FillLog, Workload, quote_series, run_info

DIFFERS = [
    "children spawned by nautilus's own TWAP exec algorithm (its last child is the parent's remainder)",
    "latency: LatencyModel is constant; a fresh normal draw is installed on the exchange before each child",
    "the child fills on the first quote after arrival, not the quote in force at arrival",
    "slippage: FillModel's one-tick slip with probability 0.23 (same mean as the lognormal), not lognormal bps",
    "telemetry: one JSON line per fill; nautilus logging at ERROR",
]


def slip_probability(w: Workload) -> float:
    """The chance of a one-tick slip whose mean equals the lognormal's mean at the quotes' mid."""
    mean_bps = w.slippage_median_bps * math.exp(w.slippage_sigma**2 / 2)
    return min(1.0, mean_bps / 1e4 * w.mid / w.tick)


def run(w: Workload) -> dict[str, Any]:
    from nautilus_trader.backtest.engine import (  # type: ignore[import-not-found, unused-ignore]
        BacktestEngine,
        BacktestEngineConfig,
    )
    from nautilus_trader.backtest.models import (  # type: ignore[import-not-found, unused-ignore]
        FillModel,
        LatencyModel,
    )
    from nautilus_trader.backtest.modules import (  # type: ignore[import-not-found, unused-ignore]
        SimulationModule,
        SimulationModuleConfig,
    )
    from nautilus_trader.config import LoggingConfig, StrategyConfig  # type: ignore[import-not-found, unused-ignore]
    from nautilus_trader.examples.algorithms.twap import (  # type: ignore[import-not-found, unused-ignore]
        TWAPExecAlgorithm,
    )
    from nautilus_trader.model.currencies import INR  # type: ignore[import-not-found, unused-ignore]
    from nautilus_trader.model.data import QuoteTick  # type: ignore[import-not-found, unused-ignore]
    from nautilus_trader.model.enums import (  # type: ignore[import-not-found, unused-ignore]
        AccountType,
        AssetClass,
        OmsType,
        OptionKind,
        OrderSide,
    )
    from nautilus_trader.model.identifiers import (  # type: ignore[import-not-found, unused-ignore]
        ExecAlgorithmId,
        InstrumentId,
        Symbol,
        Venue,
    )
    from nautilus_trader.model.instruments import OptionContract  # type: ignore[import-not-found, unused-ignore]
    from nautilus_trader.model.objects import Money, Price, Quantity  # type: ignore[import-not-found, unused-ignore]
    from nautilus_trader.trading.strategy import Strategy  # type: ignore[import-not-found, unused-ignore]

    gen = np.random.default_rng(w.seed)
    mean_ns = int(w.latency_mean_ms * 1e6)

    class ExchangeHandle(SimulationModule):  # type: ignore[misc, unused-ignore]
        """Holds the simulated exchange (what `register_venue` hands a module), so a child's latency can be set."""

        def process(self, ts_now: int) -> None:
            pass

        def log_diagnostics(self, logger: Any) -> None:
            pass

        def reset(self) -> None:
            pass

    handle = ExchangeHandle(SimulationModuleConfig())

    class NormalLatencyTwap(TWAPExecAlgorithm):  # type: ignore[misc, unused-ignore]
        """Nautilus's TWAP, each child sent under a fresh normal latency draw."""

        def submit_order(self, order: Any, *args: Any, **kwargs: Any) -> None:
            draw_ns = max(0, round(gen.normal(w.latency_mean_ms, w.latency_std_ms) * 1e6))
            handle.exchange.set_latency_model(LatencyModel(base_latency_nanos=draw_ns))
            super().submit_order(order, *args, **kwargs)

    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        quotes = quote_series(w)
        log = FillLog(Path(tmp) / "fills.jsonl")
        venue = Venue("NSE")
        instrument_id = InstrumentId(Symbol("NIFTY-CE"), venue)
        first_ns = int(quotes.ts_ns[0])
        instrument = OptionContract(
            instrument_id=instrument_id, raw_symbol=Symbol("NIFTY-CE"), asset_class=AssetClass.INDEX, currency=INR,
            price_precision=2, price_increment=Price.from_str(f"{w.tick:.2f}"), multiplier=Quantity.from_int(1),
            lot_size=Quantity.from_int(w.lot_size), underlying="NIFTY", option_kind=OptionKind.CALL,
            strike_price=Price.from_str("26000.00"), activation_ns=0,
            expiration_ns=first_ns + int((w.span_s + 30 * 86_400) * NS_PER_S), ts_event=0, ts_init=0,
        )
        touch = float(40 * w.lot_size)
        ts = quotes.ts_ns.astype(np.uint64)
        ticks = QuoteTick.from_raw_arrays_to_list(
            instrument_id, 2, 0, quotes.bid, quotes.ask, np.full(len(ts), touch), np.full(len(ts), touch), ts, ts,
        )

        class ParentsConfig(StrategyConfig, frozen=True):  # type: ignore[misc, call-arg, unused-ignore]
            instrument_id: Any

        class Parents(Strategy):  # type: ignore[misc, unused-ignore]
            """One MARKET parent every `parent_spacing_s` through the TWAP algorithm; records every fill."""

            def on_start(self) -> None:
                self.placed = 0
                # The first parent on the timer too: one placed from on_start is lost (the algorithm is not
                # running yet then).
                self.clock.set_timer(
                    "parents", interval=timedelta(seconds=w.parent_spacing_s), callback=self.on_parent_due,
                    fire_immediately=True,
                )

            def place(self) -> None:
                side = OrderSide.BUY if self.placed % 2 == 0 else OrderSide.SELL
                order = self.order_factory.market(
                    instrument_id=instrument_id, order_side=side, quantity=Quantity.from_int(w.parent_qty),
                    exec_algorithm_id=ExecAlgorithmId("TWAP"),
                    exec_algorithm_params={"horizon_secs": w.horizon_s, "interval_secs": w.child_spacing_s},
                )
                self.submit_order(order)
                self.placed += 1
                if self.placed == w.parents:
                    self.clock.cancel_timer("parents")

            def on_stop(self) -> None:
                pass

            def on_parent_due(self, event: Any) -> None:
                self.place()

            def on_order_filled(self, event: Any) -> None:
                log.write(event.client_order_id.value, event.ts_event,
                          "buy" if event.order_side == OrderSide.BUY else "sell",
                          float(event.last_qty), float(event.last_px))

        engine = BacktestEngine(config=BacktestEngineConfig(logging=LoggingConfig(log_level="ERROR")))
        engine.add_venue(
            venue=venue, oms_type=OmsType.NETTING, account_type=AccountType.MARGIN, base_currency=INR,
            starting_balances=[Money(1e12, INR)], modules=[handle],
            fill_model=FillModel(prob_slippage=slip_probability(w), random_seed=w.seed),
            latency_model=LatencyModel(base_latency_nanos=mean_ns),
        )
        engine.add_instrument(instrument)
        engine.add_data(ticks)
        engine.add_exec_algorithm(NormalLatencyTwap())
        engine.add_strategy(Parents(ParentsConfig(instrument_id=instrument_id)))
        engine.run()
        size = log.close()
        wall = time.perf_counter() - started
        engine.dispose()
    return run_info(w, log.count, wall, {
        "unfilled_children": w.total_children - log.count,
        "telemetry": {"kind": "fills.jsonl (one line per fill, written as it fills)", "bytes": size},
        "slip_probability": round(slip_probability(w), 4),
        "note": "cost per fill grows with the fills before it (each fill walks the position's orders)",
    })
