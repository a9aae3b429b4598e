"""The exits that close positions at market: the trader's EXIT and EXIT ALL, the day's P&L limit, in the desk and in a
replay alike, built one way."""

from __future__ import annotations

from collections.abc import Iterable

from imperium_desk.domain.enums import Algo, Side, Urgency
from imperium_desk.domain.instruments import InstrumentCatalog
from imperium_desk.domain.orders import Position
from imperium_desk.domain.protection import ExitReason
from imperium_desk.execution.request import ExecutionRequest, RequestMetadata
from imperium_desk.market.port import MarketData


def exit_requests(positions: Iterable[Position], catalog: InstrumentCatalog, feed: MarketData, *, source: str,
                  group: str, exit_reason: ExitReason | None) -> list[ExecutionRequest]:
    """MARKET IMMEDIATE exits (high urgency) closing each of `positions` that is open, in its own product, at the
    quote it subscribes; `exit_reason` when the desk exits by itself (None: the trader's EXIT)."""
    requests: list[ExecutionRequest] = []
    for position in positions:
        if position.quantity == 0:
            continue
        contract = catalog.resolve(position.symbol)
        quote = feed.subscribe(contract)
        requests.append(ExecutionRequest(
            symbol=contract.symbol, side=Side.SELL if position.quantity > 0 else Side.BUY,
            quantity=abs(position.quantity), algo=Algo.IMMEDIATE, urgency=Urgency.HIGH, ltp=quote.ltp,
            bid=quote.bid, ask=quote.ask, product=position.product,
            metadata=RequestMetadata(source=source, group=group, is_exit=True, exit_reason=exit_reason),
        ))
    return requests


def cancelled_because(exit_reason: ExitReason | None) -> str:
    """Why the protections of a position such an exit closes are cancelled (their status reason)."""
    if exit_reason is None:
        return "the position was exited by hand"
    return f"exited by the {exit_reason.value.replace('_', ' ')}"
