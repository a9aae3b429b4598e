"""What one fill record says about the models that produced it, in each model's own terms.

Latency: the order's round trip (`latency_ms` of its final fill: one sample per order, since partial fills share
it), divided by the regime factor a conditioned model (`scale_with`) applied, so the sample is the model's own
draw. Skipped when the asset has `insert`/`report` lanes: the trip is then their sum, not the order model's draw.

Slippage: the model moves a MARKET order's fills off the book level they took (`executed_price` vs
`extra_metrics.book_price`, adverse positive), then each price is rounded to the tick grid by unbiased stochastic
rounding: a single sample is coarse, its mean is right. LIMIT fills are clamped to the limit and say nothing.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any

_LIMIT_TAGS_KEPT = 10_000  # LIMIT children whose final fill has not come yet (a bound, not a policy)
ORDER_EVENTS = frozenset({"placed", "cancel", "reject"})  # what `LimitChildren.observe` wants to see


def latency_sample(record: Mapping[str, Any]) -> float | None:
    """The order model's draw behind a final fill, in ms; None when the record does not carry one."""
    latency = record.get("latency_ms")
    if latency is None:
        return None
    params = record.get("model_params")
    if not params:
        return float(latency)
    lanes = params.get("lanes")
    if lanes and ("insert" in lanes or "report" in lanes):
        return None
    factor = params["latency"].get("factor") if "latency" in params else None
    return float(latency) / factor if factor else float(latency)


def slippage_draw(
    record: Mapping[str, Any], tick_size: Callable[[str], float | None] | None = None
) -> tuple[str, float] | None:
    """(unit, the slippage draw behind a fill in that unit): the unit of the model that priced it (bps of the book
    level, price, or ticks; bps for a record without model parameters). None when it cannot be told (no book
    price, ticks without a tick size)."""
    extra = record.get("extra_metrics")
    book = extra.get("book_price") if extra else None
    price = record.get("executed_price")
    if book is None or price is None or book <= 0:
        return None
    params = record.get("model_params")
    model = params.get("slippage") if params else None
    unit = model.get("unit", "bps") if model else "bps"
    offset = (float(price) - float(book)) * (1.0 if record.get("side") == "buy" else -1.0)
    if unit == "bps":
        value = offset / float(book) * 10_000.0
    elif unit == "price":
        value = offset
    else:
        size = None
        if tick_size is not None and record.get("asset"):
            try:
                size = tick_size(record["asset"])
            except ValueError:  # a symbol the desk does not list (an external measurement)
                size = None
        if not size:
            return None
        value = offset / size
    factor = model.get("factor") if model else None
    return unit, (value / float(factor) if factor else value)


class LimitChildren:
    """Which children were sent as LIMIT orders (their `placed` record has a `limit_price`), so their fills can be
    left out of slippage: the fill record itself does not say."""

    __slots__ = ("_tags",)

    def __init__(self) -> None:
        self._tags: OrderedDict[str, None] = OrderedDict()

    def observe(self, record: Mapping[str, Any]) -> None:
        """Feed `placed`, `cancel` and `reject` records (others are ignored)."""
        event = record["event"]
        tag = record.get("client_tag")
        if tag is None:
            return
        if event == "placed":
            if record.get("limit_price") is not None:
                self._tags[tag] = None
                if len(self._tags) > _LIMIT_TAGS_KEPT:
                    self._tags.popitem(last=False)
        elif event in ("cancel", "reject"):
            self._tags.pop(tag, None)

    def final_fill(self, record: Mapping[str, Any]) -> bool:
        """True when this final fill's child was a LIMIT order (and forget the child)."""
        tag = record.get("client_tag")
        if tag is None or tag not in self._tags:
            return False
        del self._tags[tag]
        return True
