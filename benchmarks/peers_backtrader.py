"""backtrader on the peers' workload (`benchmarks.peers`), in backtrader's own idiom.

- Quotes: a data feed with one bar per quote (100 ms): open = close = mid, high = ask, low = bid.
- Parents and children: a strategy that knows the TWAP schedule (backtrader has no parent-order or algo layer)
  and issues each child as a market order of 2 lots.
- Latency: drawn per child (normal 50±10 ms); backtrader fills a market order at the open of the bar after the one
  it was issued on, so the strategy issues each child on the bar before its arrival: it fills on the first quote
  at or after arrival (this engine fills on the quote in force at arrival, one quote earlier).
- Slippage: a broker whose slippage hook draws lognormal basis points (median 1, sigma 0.5) per fill, taken from
  the fill bar's ask (buys) or bid (sells); backtrader's own slippage is a fixed amount or percentage.
- Telemetry: one JSON line per fill (`FillLog`), written from `notify_order` as fills happen.
"""

from __future__ import annotations

import heapq
import math
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.peers_workload import FillLog, Workload, child_schedule, quote_series, run_info, slippage_bps

DIFFERS = [
    "no parent/algo layer: the strategy issues the TWAP children itself",
    "latency drawn per child; the child fills on the first quote at or after arrival (bar-open fills), not the"
    " quote in force at arrival",
    "slippage: lognormal draw per fill through an overridden broker slippage hook",
    "telemetry: one JSON line per fill",
]

# backtrader's date numbers are days since 0001-01-01 (ordinal 1); 1970-01-01 is ordinal 719163.
_EPOCH_ORDINAL = 719_163.0


def run(w: Workload) -> dict[str, Any]:
    import backtrader as bt  # type: ignore[import-untyped, import-not-found, unused-ignore]

    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        quotes = quote_series(w)
        schedule = child_schedule(w)
        step_s = w.quote_interval_ms / 1000
        gen = np.random.default_rng(w.seed)
        log = FillLog(Path(tmp) / "fills.jsonl")
        dates = _EPOCH_ORDINAL + quotes.ts_ns / 1e9 / 86_400
        rows = list(zip(dates.tolist(), quotes.mid.tolist(), quotes.ask.tolist(), quotes.bid.tolist(), strict=True))

        class QuoteFeed(bt.feed.DataBase):  # type: ignore[misc, unused-ignore]
            """One bar per quote, from arrays already in memory."""

            def start(self) -> None:
                super().start()
                self._rows = iter(rows)

            def _load(self) -> bool:
                row = next(self._rows, None)
                if row is None:
                    return False
                dt, mid, ask, bid = row
                lines = self.lines
                lines.datetime[0] = dt
                lines.open[0] = lines.close[0] = mid
                lines.high[0] = ask
                lines.low[0] = bid
                lines.volume[0] = 0.0
                lines.openinterest[0] = 0.0
                return True

        class SlippageBroker(bt.brokers.BackBroker):  # type: ignore[misc, unused-ignore]
            """Market orders fill at the bar's ask (buy) or bid (sell), moved against the taker by a fresh draw."""

            def _slip_up(self, pmax: float, price: float, doslip: bool = True, lim: bool = False) -> float:
                return pmax * (1 + slippage_bps(w, gen) / 1e4)

            def _slip_down(self, pmin: float, price: float, doslip: bool = True, lim: bool = False) -> float:
                return pmin * (1 - slippage_bps(w, gen) / 1e4)

        due_bar = np.rint(schedule.t_s / step_s).astype(np.int64).tolist()
        due_t = schedule.t_s.tolist()
        buys = schedule.buy.tolist()

        class Twap(bt.Strategy):  # type: ignore[misc, unused-ignore]
            """Issues child k on the bar before it reaches the venue (its due time plus a latency draw)."""

            def __init__(self) -> None:
                self._next_child = 0
                self._inflight: list[tuple[int, int]] = []  # (bar to issue on, child)

            def next(self) -> None:
                bar = len(self) - 1
                k = self._next_child
                while k < len(due_bar) and due_bar[k] <= bar:
                    arrival = due_t[k] + gen.normal(w.latency_mean_ms, w.latency_std_ms) / 1000
                    heapq.heappush(self._inflight, (max(bar, math.ceil(arrival / step_s - 1e-9) - 1), k))
                    k += 1
                self._next_child = k
                while self._inflight and self._inflight[0][0] <= bar:
                    _, child = heapq.heappop(self._inflight)
                    order = (self.buy if buys[child] else self.sell)(size=w.child_qty, exectype=bt.Order.Market)
                    order.addinfo(child=child)

            def notify_order(self, order: Any) -> None:
                if order.status == order.Completed:
                    # to the millisecond: a date number carries ~10 µs of float noise
                    ts_ns = round((order.executed.dt - _EPOCH_ORDINAL) * 86_400_000) * 1_000_000
                    log.write(order.info.child, ts_ns, "buy" if order.isbuy() else "sell", abs(order.executed.size),
                              order.executed.price)

        cerebro = bt.Cerebro(stdstats=False)
        cerebro.adddata(QuoteFeed(timeframe=bt.TimeFrame.Ticks))
        cerebro.broker = SlippageBroker(cash=1e12)
        cerebro.addstrategy(Twap)
        cerebro.run()
        size = log.close()
        wall = time.perf_counter() - started
    return run_info(w, log.count, wall, {
        "unfilled_children": w.total_children - log.count,
        "telemetry": {"kind": "fills.jsonl (one line per fill, written as it fills)", "bytes": size},
    })
