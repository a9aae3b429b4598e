"""Transaction cost analysis of one parent order, from its telemetry records.

Notation: s = +1 for a buy and −1 for a sell; Q the parent's quantity; fills (q_i, p_i) with X = Σ q_i filled
and average price avg = Σ q_i p_i / X; P_d the decision (arrival) price; P_0 the book mid when the first child
was sent (P_d when unknown); P_end the mid when the parent ended. Money is in ₹ (price × units); a positive cost
is a cost to the trader.

- arrival_slippage_bps = s (avg − P_d) / P_d · 1e4                   (null when nothing filled)
- delay_cost           = s (P_0 − P_d) · X                           (the market moved before the first child)
- trading_cost         = s Σ q_i (p_i − P_0)                         (spread, impact and timing while working)
- opportunity_cost     = s (P_end − P_d) (Q − X)                     (the move the unfilled part missed)
- fees                 = the fee schedule on the fills (analysis/fees.py)
- implementation_shortfall = delay + trading + opportunity + fees; each also as `_bps` of P_d · Q
- interval_vwap_slippage_bps = s (avg − VWAP) / VWAP · 1e4           (market VWAP from start to end; null
                                                                       without market volume or fills)
- markouts_bps[h] = Σ q_i m_i(h) / Σ q_i over fills with a markout at horizon h (m > 0: the market moved the
                    trader's way after the fill)

delay + trading = s X (avg − P_d): the arrival slippage in money, split at the first child's send.

Records used: `placed` (side, algo, the decision price, the mid at send), `fill`/`partial_fill`, `markout`,
`parent` (quantity, status, urgency, exchange, P_0, P_end, interval VWAP), and a `reject` with no child (a parent
refused by risk). A parent without its `parent` record (a file cut short, or written before that record
existed) is analysed from the rest and flagged `incomplete`: Q is then the quantity its children were sent for,
P_0 the mid of its first `placed` record, and P_end unknown, so the opportunity cost (and with it the shortfall)
is null when part of it is unfilled.

State is kept per parent in a few slots (sums, not fills), so a long file costs memory per parent, not per fill.
"""

from __future__ import annotations

import sys
from array import array
from dataclasses import dataclass, field
from typing import Any, Literal, TypeGuard

from imperium_desk.analysis.fees import Exchange, FeeBreakdown, FeeSchedule, exchange_of, fees_for

Record = dict[str, Any]
_URGENCY_OF_PRIORITY = {0: "high", 1: "normal", 2: "low"}  # domain.enums: Urgency.queue_priority


class RecordError(ValueError):
    """A record lacks a field the analysis needs, or has one of the wrong type (the message names it)."""


def is_number(value: object) -> TypeGuard[int | float]:
    """A JSON number (not a bool, which Python counts as an int; JSON has no NaN or infinity, so it is finite)."""
    return type(value) is float or type(value) is int


def _number(record: Record, key: str, *, positive: bool = False) -> float:
    value = record.get(key)
    if not is_number(value) or (positive and value <= 0):
        need = "a positive number" if positive else "a number"
        raise RecordError(f"{record.get('event')}: {key} must be {need}, got {value!r}")
    return float(value)


def _optional_number(mapping: Record, key: str, where: str) -> float | None:
    value = mapping.get(key)
    if value is None:
        return None
    if not is_number(value):
        raise RecordError(f"{where}: {key} must be a number or null, got {value!r}")
    return float(value)


def _count(record: Record, key: str) -> int:
    value = record.get(key)
    if type(value) is not int or value < 0:
        raise RecordError(f"{record.get('event')}: {key} must be a non-negative integer, got {value!r}")
    return value


def _name(value: object) -> str | None:
    """A string field kept per parent, interned: tens of thousands of parents share a few symbols and statuses."""
    return sys.intern(value) if type(value) is str else None


def _int(value: object) -> int | None:
    return value if type(value) is int else None


def side_sign(side: object) -> int:
    if side == "buy":
        return 1
    if side == "sell":
        return -1
    raise RecordError(f"side must be buy or sell, got {side!r}")


class ParentFacts:
    """What the records of one parent order say, accumulated record by record."""

    __slots__ = (
        "algo",
        "asset",
        "children",
        "decision_price",
        "end_mid",
        "exchange",
        "executed_extra",
        "executed_mask",
        "fill_slippage_bps_n",
        "fill_slippage_bps_sum",
        "filled_qty",
        "fills",
        "first_mid",
        "first_placed_seq",
        "first_seq",
        "index",
        "interval_volume",
        "interval_vwap",
        "lot_size",
        "markout_fills",
        "markouts",
        "notional",
        "parent_filled_qty",
        "parent_id",
        "parent_seq",
        "placed_children",
        "placed_qty",
        "qty",
        "queue_priority",
        "reason",
        "rejected_qty",
        "side",
        "status",
        "underlying",
        "urgency",
    )

    def __init__(self, parent_id: str, index: int, first: Record) -> None:
        self.parent_id = parent_id
        self.index = index  # position in the report's parent list
        self.first_seq: int = first["seq"]
        self.side: Literal["buy", "sell"] = "buy" if side_sign(first.get("side")) > 0 else "sell"
        self.asset = _name(first.get("asset"))
        self.underlying = _name(first.get("underlying"))
        self.algo = _name(first.get("execution_algo"))
        self.queue_priority = _int(first.get("queue_priority"))
        self.children = _int(first.get("children"))
        self.placed_children = 0
        self.placed_qty = 0
        self.first_placed_seq: int | None = None
        self.decision_price: float | None = None
        self.first_mid: float | None = None
        self.filled_qty = 0
        self.notional = 0.0
        self.fills = 0
        self.executed_mask = 0  # bit i: child i had a fill (its executed order counts once for brokerage)
        self.executed_extra = 0  # fills of records without a child index, each counted as an order
        self.fill_slippage_bps_sum = 0.0
        self.fill_slippage_bps_n = 0
        self.markouts = array("d")  # per horizon: [horizon s, Σ q·bps, Σ q] (flat: ~100 bytes a parent)
        self.markout_fills = 0
        self.rejected_qty: int | None = None
        # From the `parent` record (None until it is seen).
        self.parent_seq: int | None = None
        self.qty: int | None = None
        self.status: str | None = None
        self.parent_filled_qty: int | None = None
        self.reason: str | None = None
        self.urgency: str | None = None
        self.exchange: str | None = None
        self.lot_size: int | None = None
        self.end_mid: float | None = None
        self.interval_volume: int | None = None
        self.interval_vwap: float | None = None

    # -- records -------------------------------------------------------------------------------------------------
    def add_placed(self, record: Record) -> None:
        self.placed_children += 1
        self.placed_qty += _count(record, "qty")
        if self.first_placed_seq is None or record["seq"] < self.first_placed_seq:
            self.first_placed_seq = record["seq"]
            self.decision_price = _number(record, "arrival_price", positive=True)
            extra = record.get("extra_metrics")
            mid = _optional_number(extra, "mid", "placed: extra_metrics") if isinstance(extra, dict) else None
            self.first_mid = mid

    def add_fill(self, record: Record) -> tuple[int, float]:
        """Adds a fill; returns its (qty, price)."""
        qty = _count(record, "qty")
        price = _number(record, "executed_price", positive=True)
        self.filled_qty += qty
        self.notional += qty * price
        self.fills += 1
        child = record.get("child_index")
        if type(child) is int and child >= 0:
            self.executed_mask |= 1 << child
        else:
            self.executed_extra += 1
        bps = record.get("slippage_bps")
        if is_number(bps):
            self.fill_slippage_bps_sum += bps
            self.fill_slippage_bps_n += 1
        return qty, price

    def add_markout(self, record: Record) -> None:
        markout = record.get("markout")
        if type(markout) is not dict:
            raise RecordError(f"markout: markout must be an object, got {markout!r}")
        horizons, bps = markout.get("horizons_s"), markout.get("bps")
        if type(horizons) is not list or type(bps) is not list or len(horizons) != len(bps):
            raise RecordError("markout: horizons_s and bps must be lists of one length")
        qty = _count(record, "qty")
        self.markout_fills += 1
        sums = self.markouts
        i = 0  # every markout of a file lists the same horizons: slot k holds horizon k unless shown otherwise
        for h, b in zip(horizons, bps, strict=True):
            if b is not None:  # None: not reached before the desk stopped
                if not is_number(b) or not is_number(h):
                    raise RecordError(f"markout: horizons and bps must be numbers, got {h!r} and {b!r}")
                if i >= len(sums) or sums[i] != h:
                    i = self._markout_slot(h)
                sums[i + 1] += qty * b
                sums[i + 2] += qty
            i += 3

    def _markout_slot(self, horizon: float) -> int:
        sums = self.markouts
        for i in range(0, len(sums), 3):
            if sums[i] == horizon:
                return i
        sums.extend((horizon, 0.0, 0.0))
        return len(sums) - 3

    def add_parent(self, record: Record) -> None:
        info = record.get("parent")
        if not isinstance(info, dict):
            raise RecordError(f"parent: parent must be an object, got {info!r}")
        where = "parent.parent"
        self.parent_seq = record["seq"]
        self.qty = _count(record, "qty")
        children = _int(record.get("children"))
        if children is not None:
            self.children = children
        self.status = _name(info.get("status"))
        filled = info.get("filled_qty")
        self.parent_filled_qty = filled if type(filled) is int else None
        self.reason = _name(info.get("reason"))
        self.urgency = _name(info.get("urgency"))
        self.exchange = _name(info.get("exchange"))
        lot = info.get("lot_size")
        self.lot_size = lot if type(lot) is int else None
        decision = _optional_number(info, "decision_price", where)
        if decision is not None:
            self.decision_price = decision
        first_mid = _optional_number(info, "first_sent_mid", where)
        if first_mid is not None or self.first_placed_seq is None:
            self.first_mid = first_mid
        self.end_mid = _optional_number(info, "end_mid", where)
        volume = info.get("interval_volume")
        self.interval_volume = volume if type(volume) is int else None
        self.interval_vwap = _optional_number(info, "interval_vwap", where)
        if self.algo is None:
            self.algo = _name(record.get("execution_algo"))

    def add_reject(self, record: Record) -> None:
        """A parent refused before any child (no order id): its quantity is the parent's."""
        if record.get("order_id") is None and record.get("client_tag") is None:
            self.rejected_qty = _count(record, "qty")

    # -- what is known -----------------------------------------------------------------------------------------
    @property
    def complete(self) -> bool:
        return self.parent_seq is not None

    def markout_sums(self) -> list[tuple[float, float, float]]:
        """(horizon s, Σ q·bps, Σ q) per horizon, by horizon."""
        m = self.markouts
        return sorted((m[i], m[i + 1], m[i + 2]) for i in range(0, len(m), 3))

    @property
    def executed_orders(self) -> int:
        return self.executed_mask.bit_count() + self.executed_extra

    @property
    def urgency_name(self) -> str:
        if self.urgency:
            return self.urgency
        if self.queue_priority is None:
            return "unknown"
        return _URGENCY_OF_PRIORITY.get(self.queue_priority, "unknown")

    @property
    def exchange_name(self) -> Exchange:
        return "BFO" if self.exchange == "BFO" else "NFO" if self.exchange == "NFO" else exchange_of(self.underlying)


@dataclass(frozen=True, slots=True)
class ParentTCA:
    """The TCA of one parent (money in ₹; see the module docstring for the formulas). None: not known."""

    facts: ParentFacts = field(repr=False)
    qty: int
    filled: int
    avg_price: float | None
    decision_price: float | None
    first_sent_mid: float | None
    end_mid: float | None
    arrival_slippage_bps: float | None
    delay_cost: float | None
    trading_cost: float | None
    opportunity_cost: float | None
    fees: FeeBreakdown
    implementation_shortfall: float | None
    interval_vwap_slippage_bps: float | None
    markouts_bps: dict[float, float]
    notes: tuple[str, ...]

    @property
    def benchmark_value(self) -> float | None:
        """P_d · Q, the base of every `_bps` cost."""
        if self.decision_price is None or self.qty <= 0:
            return None
        return self.decision_price * self.qty

    def bps(self, cost: float | None) -> float | None:
        base = self.benchmark_value
        if cost is None or base is None:
            return None
        return cost / base * 1e4

    def as_dict(self) -> dict[str, Any]:
        f = self.facts
        return {
            "parent_id": f.parent_id,
            "symbol": f.asset,
            "underlying": f.underlying,
            "exchange": f.exchange_name,
            "side": f.side,
            "algo": f.algo,
            "urgency": f.urgency_name,
            "status": f.status,
            "reason": f.reason,
            "qty": self.qty,
            "filled": self.filled,
            "unfilled": max(self.qty - self.filled, 0),
            "avg_price": _r(self.avg_price, 6),
            "children": f.children,
            "executed_orders": f.executed_orders,
            "fills": f.fills,
            "decision_price": self.decision_price,
            "first_sent_mid": self.first_sent_mid,
            "end_mid": self.end_mid,
            "interval_volume": f.interval_volume,
            "interval_vwap": f.interval_vwap,
            "arrival_slippage_bps": _r(self.arrival_slippage_bps),
            "delay_cost": _r(self.delay_cost),
            "trading_cost": _r(self.trading_cost),
            "opportunity_cost": _r(self.opportunity_cost),
            "fees": _r(self.fees.total),
            "implementation_shortfall": _r(self.implementation_shortfall),
            "delay_cost_bps": _r(self.bps(self.delay_cost)),
            "trading_cost_bps": _r(self.bps(self.trading_cost)),
            "opportunity_cost_bps": _r(self.bps(self.opportunity_cost)),
            "fees_bps": _r(self.bps(self.fees.total)),
            "implementation_shortfall_bps": _r(self.bps(self.implementation_shortfall)),
            "interval_vwap_slippage_bps": _r(self.interval_vwap_slippage_bps),
            "markouts_bps": {horizon_key(h): _r(v) for h, v in sorted(self.markouts_bps.items())},
            "fee_breakdown": self.fees.as_dict(),
            "first_seq": f.first_seq,
            "parent_seq": f.parent_seq,
            "incomplete": not f.complete,
            "notes": list(self.notes),
        }


def horizon_key(horizon_s: float) -> str:
    """A markout horizon as a JSON key: 1.0 -> `1s`, 0.5 -> `0.5s`."""
    return f"{horizon_s:g}s"


def _r(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else round(value, digits) + 0.0  # + 0.0: -0.0 reads as 0


def analyse(facts: ParentFacts, schedule: FeeSchedule) -> ParentTCA:
    """The TCA of a parent from what its records said (formulas: the module docstring)."""
    s = side_sign(facts.side)
    notes: list[str] = []
    if facts.complete:
        qty = facts.qty or 0
    else:
        qty = facts.placed_qty or facts.rejected_qty or facts.filled_qty
        notes.append("no parent record: quantity from the children sent, end mid unknown")
    filled = facts.filled_qty
    if facts.parent_filled_qty is not None and facts.parent_filled_qty != filled:
        notes.append(f"the parent record says {facts.parent_filled_qty} filled, the fill records {filled}")
    avg = facts.notional / filled if filled else None
    p_d = facts.decision_price
    p_0 = facts.first_mid if facts.first_mid is not None else p_d
    if p_d is not None and facts.first_mid is None and filled:
        notes.append("no mid at the first send: delay cost taken as 0 (P_0 = decision price)")
    p_end = facts.end_mid
    fees = fees_for(
        schedule,
        side=facts.side,
        exchange=facts.exchange_name,
        turnover=facts.notional,
        executed_orders=facts.executed_orders,
    )
    arrival = delay = trading = opportunity = None
    if p_d is not None and p_0 is not None:
        delay = s * (p_0 - p_d) * filled
        trading = s * (facts.notional - p_0 * filled)
        if avg is not None:
            arrival = s * (avg - p_d) / p_d * 1e4
        unfilled = qty - filled
        if unfilled <= 0:
            opportunity = 0.0
        elif p_end is not None:
            opportunity = s * (p_end - p_d) * unfilled
    elif p_d is None:
        notes.append("no decision price: costs unknown")
    shortfall = None
    if delay is not None and trading is not None and opportunity is not None:
        shortfall = delay + trading + opportunity + fees.total
    vwap = facts.interval_vwap
    vwap_slippage = s * (avg - vwap) / vwap * 1e4 if avg is not None and vwap else None
    markouts = {h: qbps / q for h, qbps, q in facts.markout_sums() if q > 0}
    return ParentTCA(
        facts=facts,
        qty=qty,
        filled=filled,
        avg_price=avg,
        decision_price=p_d,
        first_sent_mid=facts.first_mid,
        end_mid=p_end,
        arrival_slippage_bps=arrival,
        delay_cost=delay,
        trading_cost=trading,
        opportunity_cost=opportunity,
        fees=fees,
        implementation_shortfall=shortfall,
        interval_vwap_slippage_bps=vwap_slippage,
        markouts_bps=markouts,
        notes=tuple(notes),
    )


def analyse_records(records: list[Record], schedule: FeeSchedule | None = None) -> dict[str, ParentTCA]:
    """TCA of every parent in `records` (in memory: tests and small tools; the report streams instead)."""
    facts: dict[str, ParentFacts] = {}
    for record in records:
        pid = record.get("parent_id")
        if not isinstance(pid, str):
            continue
        state = facts.get(pid)
        if state is None:
            state = facts[pid] = ParentFacts(pid, len(facts), record)
        add_record(state, record)
    chosen = schedule if schedule is not None else FeeSchedule()
    return {pid: analyse(state, chosen) for pid, state in facts.items()}


def add_record(state: ParentFacts, record: Record) -> None:
    """Folds one record of the parent into its state (events the TCA does not use are ignored)."""
    event = record["event"]
    if event in ("fill", "partial_fill"):
        state.add_fill(record)
    elif event == "placed":
        state.add_placed(record)
    elif event == "markout":
        state.add_markout(record)
    elif event == "parent":
        state.add_parent(record)
    elif event == "reject":
        state.add_reject(record)
