"""Fault handling: lost answers never duplicate orders, throttling respects the rate limit, risk/fatal are final."""

from __future__ import annotations

import asyncio
import math
from collections import Counter
from datetime import datetime

from imperium_desk.broker.faults import FaultRates
from imperium_desk.domain.enums import ErrorBucket, ParentStatus, Side
from imperium_desk.execution.request import ExecutionRequest, FailureKind, ParentResult
from tests.support import Harness, harness


def _run_parents(h: Harness, count: int, spacing_s: float) -> list[ParentResult]:
    c = h.atm()
    assert h.engine.paper is not None
    h.engine.paper.exchange.retention_s = math.inf  # `_orders_per_tag` audits every order the exchange ever took

    async def main() -> list[ParentResult]:
        h.engine.market.start()
        tasks = []
        for i in range(count):
            side = Side.BUY if i % 2 == 0 else Side.SELL
            req = ExecutionRequest(symbol=c.symbol, side=side, quantity=c.lot_size)
            tasks.append(asyncio.ensure_future(h.engine.stack.execute(req)))
            await h.clock.sleep(spacing_s)
        results = list(await asyncio.gather(*tasks))
        h.engine.market.stop()
        return results

    return h.clock.run(main())


def _orders_per_tag(h: Harness) -> Counter[str]:
    paper = h.engine.paper
    assert paper is not None

    async def main() -> Counter[str]:
        return Counter(o.tag for o in await paper.orders())

    return h.clock.run(main())


def test_ten_thousand_lost_answers_produce_no_duplicate_and_no_lost_parent() -> None:
    h = harness(faults=FaultRates(lost_answer=0.5), fault_timeout_s=2.0)
    results = _run_parents(h, 20_400, spacing_s=0.01)
    assert h.engine.faults is not None
    assert h.engine.faults.counts.lost_answer >= 10_000
    per_tag = _orders_per_tag(h)
    assert max(per_tag.values()) == 1
    assert h.engine.stack.duplicate_orders == []
    assert all(r.status is ParentStatus.COMPLETE for r in results)
    assert len(per_tag) == len(results)


def test_failed_lookups_after_a_timeout_fail_the_child_rather_than_resend() -> None:
    h = harness(faults=FaultRates(timeout=0.5, lookup_failure=0.9), fault_timeout_s=1.0)
    results = _run_parents(h, 2_000, spacing_s=0.01)
    assert max(_orders_per_tag(h).values()) == 1
    for r in results:
        assert r.status in (ParentStatus.COMPLETE, ParentStatus.FAILED)
        if r.status is ParentStatus.FAILED:
            assert r.failure in (FailureKind.UNKNOWN_OUTCOME, FailureKind.GAVE_UP)
    assert any(r.failure is FailureKind.UNKNOWN_OUTCOME for r in results)


def test_timeouts_before_acceptance_are_resent_with_the_same_tag() -> None:
    h = harness(faults=FaultRates(timeout=0.3), fault_timeout_s=0.5)
    results = _run_parents(h, 500, spacing_s=0.05)
    # 0.3**5 of the parents time out on all five attempts: they fail, saying so.
    assert all(r.status is ParentStatus.COMPLETE or r.failure is FailureKind.GAVE_UP for r in results)
    assert sum(r.status is ParentStatus.COMPLETE for r in results) >= 490
    retried = {r["client_tag"] for r in h.events("retry")}
    assert retried
    per_tag = _orders_per_tag(h)
    assert max(per_tag.values()) == 1
    completed = {f"{r.parent_id}C0" for r in results if r.status is ParentStatus.COMPLETE}
    assert all(per_tag[tag] == 1 for tag in retried & completed)


def test_throttled_orders_respect_the_rate_limit() -> None:
    h = harness({"broker": {"rate_limit_per_s": 10}}, faults=FaultRates(throttle=0.3))
    results = _run_parents(h, 200, spacing_s=0.02)
    assert all(r.status is ParentStatus.COMPLETE for r in results)
    sends = [
        _seconds(r["timestamp"]) - (0.040 if r["event"] == "ack" else 0.0)
        for r in h.records
        if r["event"] == "ack" or (r["event"] == "error" and r["error_bucket"] == "throttle")
    ]
    sends.sort()
    assert len(sends) > 200
    assert all(sends[i + 10] - sends[i] >= 1.0 - 1e-6 for i in range(len(sends) - 10))


def test_risk_rejections_are_not_retried() -> None:
    h = harness(faults=FaultRates(reject=1.0, reject_bucket=ErrorBucket.RISK))
    results = _run_parents(h, 20, spacing_s=0.1)
    assert all(r.status is ParentStatus.FAILED and r.failure is FailureKind.REJECTED for r in results)
    assert {e["error_bucket"] for e in h.events("error")} == {"risk"}
    assert len(h.events("error")) == 20
    assert h.events("retry") == []


def test_fatal_rejections_are_not_retried() -> None:
    h = harness(faults=FaultRates(reject=1.0, reject_bucket=ErrorBucket.FATAL))
    results = _run_parents(h, 20, spacing_s=0.1)
    assert all(r.status is ParentStatus.FAILED and r.failure is FailureKind.REJECTED for r in results)
    assert {e["error_bucket"] for e in h.events("error")} == {"fatal"}
    assert h.events("retry") == []


def test_transient_rejections_retry_with_backoff_until_the_attempt_limit() -> None:
    h = harness(faults=FaultRates(reject=1.0, reject_bucket=ErrorBucket.TRANSIENT))
    (result,) = _run_parents(h, 1, spacing_s=0.1)
    assert result.status is ParentStatus.FAILED
    assert result.failure is FailureKind.GAVE_UP
    assert [e["attempt"] for e in h.events("error")] == [1, 2, 3, 4, 5]
    retries = h.events("retry")
    assert [r["attempt"] for r in retries] == [1, 2, 3, 4]
    backoffs = [r["extra_metrics"]["backoff_ms"] for r in retries]
    assert all(50 * 2**i <= b <= 100 * 2**i for i, b in enumerate(backoffs))


def test_margin_rejection_by_the_exchange_is_reported_in_the_risk_bucket() -> None:
    h = harness({"broker": {"paper": {"capital": 100}}})
    (result,) = _run_parents(h, 1, spacing_s=0.1)
    assert result.status is ParentStatus.FAILED
    (reject,) = h.events("reject")
    assert reject["error_bucket"] == "risk"
    assert "Insufficient funds" in reject["error"]


def _seconds(timestamp: str) -> float:
    return datetime.fromisoformat(timestamp.replace("Z", "+00:00")).timestamp()
