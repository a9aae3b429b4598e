"""TCA and fees checked against hand-computed cases (analysis/tca.py, analysis/fees.py).

Records are built by hand in the telemetry's shape (DESIGN §5 plus the `parent` and `markout` events). Money is
in ₹ (price × units). Fee rates are the shipped schedule (1 April 2026): brokerage ₹20 per executed order, STT
0.15% of sell premium, exchange charges 0.03553% (NFO) / 0.0325% (BFO) of premium, SEBI ₹10 per crore (1e-6 of
premium), stamp 0.003% of buy premium, GST 18% of (brokerage + exchange + SEBI).
"""

from __future__ import annotations

from itertools import count
from typing import Any

import pytest

from imperium_desk.analysis.fees import FeeSchedule, fees_for, fees_for_fills
from imperium_desk.analysis.tca import ParentTCA, analyse_records
from imperium_desk.config import config_from_mapping

Record = dict[str, Any]
approx = pytest.approx


class Book:
    """Writes one parent's records with consecutive seq numbers."""

    def __init__(self, parent_id: str, asset: str, underlying: str, side: str, algo: str = "TWAP") -> None:
        self.seq = count(1)
        self.common = {
            "schema_version": 1, "mode": "replay", "scenario_id": "t", "parent_id": parent_id, "asset": asset,
            "underlying": underlying, "side": side, "execution_algo": algo, "queue_priority": 1,
        }
        self.records: list[Record] = []

    def _add(self, event: str, **fields: Any) -> Record:
        record = {**self.common, "seq": next(self.seq), "event": event, "timestamp": "2026-11-23T03:45:00.000000Z",
                  **fields}
        self.records.append(record)
        return record

    def placed(self, child: int, qty: int, arrival: float, mid: float | None) -> None:
        self._add("placed", child_index=child, client_tag=f"C{child}", order_id=None, qty=qty, arrival_price=arrival,
                  intended_price=arrival, extra_metrics={"spread": 0.1, "mid": mid})

    def fill(self, child: int, qty: int, price: float, final: bool = True) -> Record:
        return self._add("fill" if final else "partial_fill", child_index=child, client_tag=f"C{child}",
                         order_id=f"O{child}", qty=qty, executed_price=price, slippage=0.0, slippage_bps=0.0,
                         latency_ms=40.0)

    def markout(self, fill: Record, bps: list[float | None]) -> None:
        self._add("markout", child_index=fill["child_index"], client_tag=fill["client_tag"], qty=fill["qty"],
                  markout={"fill_seq": fill["seq"], "executed_price": fill["executed_price"],
                           "horizons_s": [1.0, 10.0, 60.0], "mids": [None] * 3, "bps": bps})

    def parent(self, qty: int, status: str, decision: float, first_mid: float | None, end_mid: float,
               filled: int, exchange: str = "NFO", vwap: float | None = None, urgency: str = "normal") -> None:
        self._add("parent", child_index=None, client_tag=None, order_id=None, route=None, qty=qty, children=2,
                  parent={"status": status, "filled_qty": filled, "average_price": None, "reason": "",
                          "urgency": urgency, "exchange": exchange, "lot_size": 65, "decision_price": decision,
                          "started_at": "2026-11-23T03:45:00.000000Z", "first_sent_mid": first_mid,
                          "end_mid": end_mid, "interval_volume": 1000 if vwap else 0, "interval_vwap": vwap})

    def tca(self, schedule: FeeSchedule | None = None) -> ParentTCA:
        (result,) = analyse_records(self.records, schedule).values()
        return result


# -- buy, fully filled ---------------------------------------------------------------------------------------------
def buy_filled() -> Book:
    # Buy Q = 130 (2 lots of 65), decision price P_d = 100.00, mid at the first send P_0 = 100.10;
    # child 0: 65 @ 100.20, child 1: 65 @ 100.40; mid at the end 100.50.
    book = Book("P1", "NIFTY26NOV26000CE", "NIFTY", "buy")
    book.placed(0, 65, 100.0, 100.10)
    book.fill(0, 65, 100.20)
    book.placed(1, 65, 100.0, 100.25)
    book.fill(1, 65, 100.40)
    book.parent(130, "COMPLETE", 100.0, 100.10, 100.50, 130)
    return book


def test_buy_fully_filled_arrival_slippage_delay_and_trading_cost() -> None:
    t = buy_filled().tca()
    # X = 130, Σqp = 65·100.20 + 65·100.40 = 6513 + 6526 = 13039, avg = 100.30
    assert t.filled == 130 and t.avg_price == approx(100.30)
    # arrival = +1·(100.30 − 100)/100·1e4 = 30 bps
    assert t.arrival_slippage_bps == approx(30.0)
    # delay = (100.10 − 100.00)·130 = 13; trading = 13039 − 100.10·130 = 13039 − 13013 = 26; nothing unfilled
    assert t.delay_cost == approx(13.0)
    assert t.trading_cost == approx(26.0)
    assert t.opportunity_cost == 0.0


def test_buy_fully_filled_fees_and_shortfall() -> None:
    t = buy_filled().tca()
    # turnover 13039 on NFO, 2 executed orders, buy side:
    #   brokerage 2·20 = 40; STT 0 (buy); exchange 13039·0.0003553 = 4.6327567; SEBI 13039·1e-6 = 0.013039;
    #   stamp 13039·0.00003 = 0.39117; GST 0.18·(40 + 4.6327567 + 0.013039) = 8.03624323
    #   total 53.07320893
    f = t.fees
    assert (f.brokerage, f.stt) == (40.0, 0.0) and f.stamp == approx(0.39117)
    assert f.exchange_txn == approx(4.6327567) and f.sebi == approx(0.013039) and f.gst == approx(8.03624323)
    assert f.total == approx(53.07320893)
    # IS = 13 + 26 + 0 + 53.07320893 = 92.07320893 over P_d·Q = 13000 → 70.82554533 bps
    assert t.implementation_shortfall == approx(92.07320893)
    assert t.bps(t.implementation_shortfall) == approx(70.82554533)
    assert t.bps(t.delay_cost) == approx(10.0) and t.bps(t.trading_cost) == approx(20.0)


def test_per_parent_json_has_the_design_keys() -> None:
    row = buy_filled().tca().as_dict()
    for key in ("arrival_slippage_bps", "delay_cost", "trading_cost", "opportunity_cost", "fees",
                "implementation_shortfall", "delay_cost_bps", "trading_cost_bps", "opportunity_cost_bps", "fees_bps",
                "implementation_shortfall_bps", "interval_vwap_slippage_bps", "markouts_bps", "fee_breakdown"):
        assert key in row
    assert (row["parent_id"], row["symbol"], row["side"], row["algo"], row["urgency"], row["status"]) == (
        "P1", "NIFTY26NOV26000CE", "buy", "TWAP", "normal", "COMPLETE")
    assert (row["qty"], row["filled"], row["avg_price"], row["incomplete"]) == (130, 130, 100.3, False)


# -- sell, fully filled (BSE) --------------------------------------------------------------------------------------
def sell_filled() -> Book:
    # Sell Q = 40 SENSEX options (BFO), P_d = 200.00, P_0 = 199.80, P_end = 199.00;
    # child 0: 20 @ 199.50; child 1: two partial fills 10 @ 199.30 and 10 @ 199.30 (one executed order).
    book = Book("P2", "SENSEX26NOV80000PE", "SENSEX", "sell", algo="VWAP")
    book.placed(0, 20, 200.0, 199.80)
    book.fill(0, 20, 199.50)
    book.placed(1, 20, 200.0, 199.60)
    book.fill(1, 10, 199.30, final=False)
    book.fill(1, 10, 199.30)
    book.parent(40, "COMPLETE", 200.0, 199.80, 199.00, 40, exchange="BFO")
    return book


def test_sell_fully_filled_costs_are_positive_when_selling_below_arrival() -> None:
    t = sell_filled().tca()
    # s = −1; Σqp = 20·199.5 + 10·199.3 + 10·199.3 = 3990 + 1993 + 1993 = 7976, avg = 199.40
    # arrival = −(199.40 − 200)/200·1e4 = 30 bps; delay = −(199.80 − 200)·40 = 8;
    # trading = −(7976 − 199.80·40) = −(7976 − 7992) = 16; delay + trading = 24 = −40·(199.40 − 200)
    assert t.avg_price == approx(199.40)
    assert t.arrival_slippage_bps == approx(30.0)
    assert t.delay_cost == approx(8.0) and t.trading_cost == approx(16.0) and t.opportunity_cost == 0.0


def test_sell_fully_filled_fees_charge_stt_not_stamp_and_count_orders_not_fills() -> None:
    t = sell_filled().tca()
    # turnover 7976 on BFO, 3 fills from 2 children = 2 executed orders:
    #   brokerage 40; STT 7976·0.0015 = 11.964; exchange 7976·0.000325 = 2.5922; SEBI 0.007976; stamp 0 (sell);
    #   GST 0.18·(40 + 2.5922 + 0.007976) = 7.66803168; total 62.23220768
    f = t.fees
    assert (f.brokerage, f.stamp) == (40.0, 0.0)
    assert f.stt == approx(11.964) and f.exchange_txn == approx(2.5922) and f.gst == approx(7.66803168)
    assert f.total == approx(62.23220768)
    # IS = 8 + 16 + 0 + 62.23220768 = 86.23220768 over 200·40 = 8000 → 107.7902596 bps
    assert t.implementation_shortfall == approx(86.23220768)
    assert t.bps(t.implementation_shortfall) == approx(107.7902596)


# -- partial fill, unfilled remainder ------------------------------------------------------------------------------
def partial() -> Book:
    # Buy Q = 300, P_d = 50.00, P_0 = 50.05; one child fills 100 @ 50.10, the rest never fills;
    # the parent ends with the mid at 50.40; market VWAP over the parent's life 50.20.
    book = Book("P3", "NIFTY26NOV25000PE", "NIFTY", "buy", algo="POV")
    book.placed(0, 100, 50.0, 50.05)
    book.fill(0, 100, 50.10)
    book.placed(1, 200, 50.0, 50.20)
    book.parent(300, "PARTIALLY_FILLED", 50.0, 50.05, 50.40, 100, vwap=50.20)
    return book


def test_partial_fill_charges_opportunity_cost_on_the_unfilled_remainder() -> None:
    t = partial().tca()
    # X = 100, avg 50.10: arrival = 0.10/50·1e4 = 20 bps; delay = 0.05·100 = 5; trading = 100·(50.10 − 50.05) = 5
    # opportunity = (50.40 − 50.00)·(300 − 100) = 80 → 80/(50·300)·1e4 = 53.3333 bps
    assert t.arrival_slippage_bps == approx(20.0)
    assert t.delay_cost == approx(5.0) and t.trading_cost == approx(5.0)
    assert t.opportunity_cost == approx(80.0)
    assert t.bps(t.opportunity_cost) == approx(53.333333)


def test_partial_fill_shortfall_includes_fees_on_the_filled_part_only() -> None:
    t = partial().tca()
    # fees on 5010 (buy, NFO, 1 order): 20 + exchange 1.780053 + SEBI 0.00501 + stamp 0.1503
    #   + GST 0.18·(20 + 1.780053 + 0.00501) = 3.92131134 → 25.85667434
    assert t.fees.total == approx(25.85667434)
    # IS = 5 + 5 + 80 + 25.85667434 = 115.85667434 → /15000·1e4 = 77.23778289 bps
    assert t.implementation_shortfall == approx(115.85667434)
    assert t.bps(t.implementation_shortfall) == approx(77.23778289)


def test_interval_vwap_slippage_compares_the_average_price_with_the_market_vwap() -> None:
    # (50.10 − 50.20)/50.20·1e4 = −19.9203 bps: bought below the market's VWAP
    assert partial().tca().interval_vwap_slippage_bps == approx(-19.920319)


def test_no_market_volume_leaves_interval_vwap_slippage_null() -> None:
    assert buy_filled().tca().interval_vwap_slippage_bps is None


def test_a_risk_rejected_parent_costs_the_whole_move_as_opportunity() -> None:
    # Buy 650 refused before any child: P_d = 120, no first mid, end mid 121 → opportunity (121 − 120)·650 = 650;
    # no fills, no fees; IS = 650 over 120·650 = 78000 → 83.3333 bps
    book = Book("P4", "NIFTY26NOV26000CE", "NIFTY", "buy")
    book._add("reject", order_id=None, client_tag=None, qty=650, error_bucket="risk", error="max lots")
    book.parent(650, "REJECTED", 120.0, None, 121.0, 0)
    t = book.tca()
    assert t.arrival_slippage_bps is None and t.fees.total == 0.0
    assert t.opportunity_cost == approx(650.0)
    assert t.bps(t.implementation_shortfall) == approx(83.333333)


# -- markouts ------------------------------------------------------------------------------------------------------
def test_markouts_are_the_qty_weighted_mean_of_the_fills() -> None:
    book = buy_filled()
    first, second = (r for r in book.records if r["event"] == "fill")
    book.markout(first, [10.0, -20.0, None])  # 65 units; the 60 s horizon was not reached
    book.markout(second, [40.0, 10.0, 6.0])  # 65 units
    # 1 s: (65·10 + 65·40)/130 = 25; 10 s: (65·(−20) + 65·10)/130 = −5; 60 s: only the second fill → 6
    assert book.tca().markouts_bps == {1.0: approx(25.0), 10.0: approx(-5.0), 60.0: approx(6.0)}


def test_markouts_weight_by_fill_quantity() -> None:
    book = sell_filled()
    big, small, _ = (r for r in book.records if r["event"] in ("fill", "partial_fill"))
    book.markout(big, [10.0, 0.0, 0.0])  # 20 units
    book.markout(small, [40.0, 0.0, 0.0])  # 10 units → 1 s: (20·10 + 10·40)/30 = 20
    assert book.tca().markouts_bps[1.0] == approx(20.0)


# -- incomplete parents --------------------------------------------------------------------------------------------
def test_a_parent_without_its_parent_record_is_analysed_from_its_children_and_flagged() -> None:
    book = partial()
    book.records = [r for r in book.records if r["event"] != "parent"]
    t = book.tca()
    row = t.as_dict()
    # Q from the children sent (100 + 200), P_0 from the first placed record's mid, P_end unknown
    assert row["incomplete"] is True and row["status"] is None
    assert t.qty == 300 and t.delay_cost == approx(5.0) and t.trading_cost == approx(5.0)
    assert t.opportunity_cost is None and t.implementation_shortfall is None
    assert any("no parent record" in note for note in t.notes)


def test_a_filled_parent_without_its_parent_record_still_has_a_shortfall() -> None:
    book = buy_filled()
    book.records = [r for r in book.records if r["event"] != "parent"]
    t = book.tca()
    # everything sent was filled: nothing is left for an opportunity cost, so the shortfall is known
    assert t.opportunity_cost == 0.0 and t.implementation_shortfall == approx(92.07320893)


def test_without_a_mid_at_the_first_send_the_decision_price_stands_in() -> None:
    book = Book("P5", "NIFTY26NOV26000CE", "NIFTY", "buy")
    book.placed(0, 65, 100.0, None)
    book.fill(0, 65, 100.50)
    book.parent(65, "COMPLETE", 100.0, None, 100.0, 65)
    t = book.tca()
    # P_0 = P_d = 100: delay 0, trading = 65·0.50 = 32.5
    assert t.delay_cost == 0.0 and t.trading_cost == approx(32.5)


# -- the fee schedule -----------------------------------------------------------------------------------------------
def test_stt_is_charged_on_sells_and_stamp_duty_on_buys_only() -> None:
    schedule = FeeSchedule()
    # ₹1,00,000 of premium on NFO through one order:
    #   buy:  brokerage 20, STT 0, exchange 35.53, SEBI 0.10, stamp 3.00, GST 0.18·55.63 = 10.0134 → 68.6434
    #   sell: brokerage 20, STT 150, exchange 35.53, SEBI 0.10, stamp 0, GST 10.0134 → 215.6434
    buy = fees_for(schedule, side="buy", exchange="NFO", turnover=100_000.0, executed_orders=1)
    sell = fees_for(schedule, side="sell", exchange="NFO", turnover=100_000.0, executed_orders=1)
    assert buy.stt == 0.0 and buy.stamp == approx(3.0)
    assert sell.stt == approx(150.0) and sell.stamp == 0.0
    assert buy.total == approx(68.6434) and sell.total == approx(215.6434)


def test_gst_is_charged_on_brokerage_exchange_charges_and_sebi_fee_only() -> None:
    schedule = FeeSchedule()
    buy = fees_for(schedule, side="buy", exchange="NFO", turnover=100_000.0, executed_orders=1)
    sell = fees_for(schedule, side="sell", exchange="NFO", turnover=100_000.0, executed_orders=1)
    # GST base 20 + 35.53 + 0.10 = 55.63 on both sides: neither STT nor stamp duty is in it
    assert buy.gst == approx(0.18 * 55.63) and sell.gst == approx(buy.gst)


def test_bse_options_pay_the_bse_exchange_rate() -> None:
    fees = fees_for(FeeSchedule(), side="buy", exchange="BFO", turnover=100_000.0, executed_orders=1)
    assert fees.exchange_txn == approx(32.5)  # 0.0325% of 1,00,000


def test_brokerage_is_per_executed_order_not_per_fill() -> None:
    # child A filled three times, child B once: 2 executed orders → ₹40
    fills = [("A", 10, 100.0), ("A", 10, 100.0), ("A", 10, 100.0), ("B", 10, 100.0)]
    fees = fees_for_fills(FeeSchedule(), side="buy", exchange="NFO", fills=fills)
    assert fees.brokerage == 40.0


def test_nothing_filled_costs_no_fees() -> None:
    assert fees_for(FeeSchedule(), side="sell", exchange="NFO", turnover=0.0, executed_orders=0).total == 0.0


def test_config_fees_override_one_rate_and_keep_the_others() -> None:
    config = config_from_mapping({"fees": {"brokerage_per_order": 0, "exchange_txn_pct": {"NFO": 0.05}}}, "test")
    assert config.fees.brokerage_per_order == 0.0
    assert config.fees.exchange_txn_pct == {"NFO": 0.05, "BFO": 0.0325}
    assert config.fees.stt_sell_pct == 0.15


def test_the_shipped_schedule_is_dated_and_carries_the_2026_stt_rate() -> None:
    schedule = FeeSchedule()
    assert str(schedule.as_of) == "2026-04-01" and schedule.stt_sell_pct == 0.15
