"""The paper venue: orders filled against the simulated market, with latency and slippage drawn from models.

An order's round trip (submit to acknowledgement) is one draw from its asset's latency model. The order meets the
book `fill_point` of the way through that trip; the acknowledgement (and the report of any fills made on arrival)
reaches the client at the end of it. Where the `insert` and `report` lanes are configured they replace those two
legs (a lane not configured is its share of a round-trip draw), so `latency_ms` is their sum. The report of a later
fill of a resting order travels the report leg too; cancels and modifies take a `cancel` lane draw (the round-trip
model when that lane is not configured).

MARKET orders walk the depth, consuming it for the rest of the tick, then one slippage draw per order moves every
fill adversely (rounded to the tick grid by seeded stochastic rounding, so the mean realised slippage equals the
model mean). LIMIT orders take what is marketable up to the limit and rest; a resting order fills at its limit
when the market trades through it.

Modules: `exchange` (matching, no network: `PaperExchange`), `account` (positions and margin: `PaperAccount`),
`latency` (the draws of each leg), `params` (the `model_params` record fills carry), `broker` (`PaperBroker`, the
`Broker` port: the exchange behind the network's latency).
"""

from imperium_desk.broker.paper.account import PaperAccount
from imperium_desk.broker.paper.broker import PaperBroker
from imperium_desk.broker.paper.exchange import PaperExchange, WorkingOrder
from imperium_desk.broker.paper.params import ModelParams

__all__ = ["ModelParams", "PaperAccount", "PaperBroker", "PaperExchange", "WorkingOrder"]
