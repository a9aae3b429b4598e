"""The telemetry record (DESIGN.md §5, schema_version 1).

Every order event carries every common key, in this order, null where it does not apply; event-specific
keys follow. Keeping one key order makes a run's file byte-comparable with another run's.

Versioning: `schema_version` changes only when a key changes meaning or goes away. An added key keeps the
version (readers ignore keys they do not know, and a desk's log continues across restarts, so a bump would mix
versions in one file): fills gained `intended_price` and parent records `parent.failure` this way.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Final

SCHEMA_VERSION: Final = 1

EVENTS: Final = (
    "placed", "ack", "fill", "partial_fill", "error", "retry", "cancel", "reject", "scenario", "model_switch",
    "parent", "markout", "scenario_outcome", "risk_limit", "protection",
)

COMMON_KEYS: Final = (
    "schema_version",
    "seq",
    "event",
    "timestamp",
    "mode",
    "scenario_id",
    "order_id",
    "parent_id",
    "client_tag",
    "asset",
    "underlying",
    "side",
    "qty",
    "execution_algo",
    "child_index",
    "children",
    "route",
    "queue_priority",
)

PLACED_KEYS: Final = ("arrival_price", "intended_price", "limit_price", "expected_slippage", "impact_estimate")
ACK_KEYS: Final = ("latency_ms",)
FILL_KEYS: Final = ("intended_price", "executed_price", "slippage", "slippage_bps", "latency_ms", "model_params")
ERROR_KEYS: Final = ("error_bucket", "error", "attempt")
# A runtime change of a latency/slippage model: {kind, lane, scope, old, new, source}; a replay reproduces it.
MODEL_SWITCH_KEYS: Final = ("model_switch",)
# A parent's end of life (once per parent): status, fills, decision price, mids and the market's interval VWAP,
# what TCA needs beyond its children's records. `qty` is the parent's quantity.
PARENT_KEYS: Final = ("parent",)
# The mid read back at fixed horizons after a fill: {fill_seq, executed_price, horizons_s, mids, bps}.
MARKOUT_KEYS: Final = ("markout",)
# A drill's result reported from outside (the REST API): {scenario_id, seed, outcome, metrics}, kept in the log so it
# reaches every consumer a record does (index, stream, webhooks, learners).
SCENARIO_OUTCOME_KEYS: Final = ("scenario_outcome",)
# The day's P&L crossed a limit (once a trading day): {reason, limit, pnl, realised, unrealised, trading_day,
# kill_switch, exit_parent_ids, error}; the exits follow as parents with that `exit_reason`.
RISK_LIMIT_KEYS: Final = ("risk_limit",)
# A protective exit's state changed: {action, kind, level, levels, entry_price, trigger_price, tick, exit_parent_id,
# exit_reason, status, reason}; the common keys are the entry's (`qty`: the units protected).
PROTECTION_KEYS: Final = ("protection",)
EXTRA_KEY: Final = "extra_metrics"


_second_cache: dict[int, str] = {}
_THREE_DIGITS: Final = tuple(f"{i:03d}" for i in range(1000))  # cheaper than formatting the micros with :06d


def iso_utc(epoch_s: float) -> str:
    """ISO-8601 UTC with microseconds and a `Z`, e.g. 2026-11-23T03:45:00.125000Z (deterministic)."""
    micros = round(epoch_s * 1_000_000)
    sec, us = divmod(micros, 1_000_000)
    prefix = _second_cache.get(sec)
    if prefix is None:
        if len(_second_cache) > 4096:
            _second_cache.clear()
        prefix = datetime.fromtimestamp(sec, UTC).strftime("%Y-%m-%dT%H:%M:%S.")
        _second_cache[sec] = prefix
    ms, us = divmod(us, 1000)
    return prefix + _THREE_DIGITS[ms] + _THREE_DIGITS[us] + "Z"
