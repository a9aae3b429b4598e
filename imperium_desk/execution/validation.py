"""Whether a request can be executed as written: its symbol (and, given the time, its expiry), lot multiple and limit
price, checked before anything is planned or sent."""

from __future__ import annotations

from imperium_desk.domain.enums import OrderType
from imperium_desk.domain.instruments import IST, InstrumentCatalog, InstrumentError, OptionContract
from imperium_desk.execution.request import ContractExpired, ExecutionRequest, InvalidOrder


def validate_request(
    catalog: InstrumentCatalog, request: ExecutionRequest, now: float | None = None
) -> OptionContract:
    """The request's contract; `InvalidOrder` (its message starts with the field's name) if it cannot be executed
    as written: given the time `now` (epoch seconds), `ContractExpired` for a contract whose expiry has passed."""
    try:
        contract = catalog.resolve(request.symbol)
    except InstrumentError as exc:
        raise InvalidOrder(f"symbol: {exc}") from None
    if now is not None:
        check_not_expired(contract, now)
    if request.quantity % contract.lot_size:
        raise InvalidOrder(
            f"quantity: {request.quantity} is not a multiple of the {contract.underlying} lot size "
            f"{contract.lot_size}"
        )
    if request.order_type is OrderType.LIMIT and request.limit_price is None:
        raise InvalidOrder("limit_price: a LIMIT order needs a limit price")
    if request.limit_price is not None:
        ticks = request.limit_price / contract.tick_size
        if abs(ticks - round(ticks)) > 1e-6:
            raise InvalidOrder(f"limit_price: {request.limit_price} is not on the tick grid {contract.tick_size}")
    return contract


def check_not_expired(contract: OptionContract, now: float) -> None:
    """`ContractExpired` naming the contract and its expiry if it has expired at `now` (epoch seconds): a contract
    trades until its expiry instant, exclusive."""
    if now >= contract.expiry_at.timestamp():
        expiry = contract.expiry_at.astimezone(IST)
        raise ContractExpired(f"symbol: {contract.symbol} expired at {expiry:%Y-%m-%d %H:%M} IST")
