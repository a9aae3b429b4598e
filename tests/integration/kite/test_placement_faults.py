"""Placements through the execution stack and `KiteBroker` against the fake Kite while the venue misbehaves: answers
lost after the order was created (held past the client's read timeout, or the connection dropped), 429s, HTML 502s
before and after acting, 5xx. Nothing may be placed twice, every parent must end (filled, cancelled, or failed with
a reason), and with the exchange's default limits the client must stay within 10 order writes a second."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from pathlib import Path

from imperium_desk.broker.kite.config import KiteLimits
from imperium_desk.domain.enums import ParentStatus
from imperium_desk.execution.request import FailureKind, ParentResult
from tests.fake_kite.faults import FaultKind, Route
from tests.fake_kite.server import FakeKite
from tests.fake_kite.state import FakeKiteConfig, WriteOutcome
from tests.integration.kite.stack_support import FAST_RETRY, FAULT_CYCLE, KiteRig, kite_rig, market_order, run

PARENTS = 500
# Failures that leave a parent ended for a reason it names; none of them may hide an order the stack never adopted.
ENDED_WITH_A_REASON = {ParentStatus.FAILED, ParentStatus.CANCELLED, ParentStatus.PARTIALLY_FILLED}


def _arm(kite: FakeKite, faults: int) -> int:
    """Arm `faults` faults on order placements, cycling through `FAULT_CYCLE`; returns how many were armed."""
    for fault, gap in itertools.islice(itertools.cycle(FAULT_CYCLE), faults):
        kite.faults.inject(Route.PLACE, fault, skip=gap)
    return faults


async def _execute_all(rig: KiteRig, parents: int, contracts: int) -> list[ParentResult]:
    pool = rig.contracts(contracts)
    tasks = [rig.stack.execute(market_order(pool[i % len(pool)])) for i in range(parents)]
    return list(await asyncio.gather(*tasks))


def _assert_every_parent_ended(results: list[ParentResult]) -> None:
    for result in results:
        if result.status is ParentStatus.COMPLETE:
            assert result.filled_qty == result.quantity and result.failure is None
        else:
            assert result.status in ENDED_WITH_A_REASON
            assert isinstance(result.failure, FailureKind) and result.reason


def test_lost_answers_429s_and_502s_leave_no_duplicate_and_every_parent_ends(
    make_fake_kite: Callable[[FakeKiteConfig], FakeKite], tmp_path: Path
) -> None:
    kite = make_fake_kite(FakeKiteConfig(orders_per_s=None))
    armed = _arm(kite, 60)
    limits = KiteLimits(orders_per_second=400, orders_per_minute=100_000, orders_per_day=100_000,
                        reads_per_second=1_000)

    async def main() -> tuple[list[ParentResult], list[str], list[str]]:
        rig = await kite_rig(kite, tmp_path, limits=limits, read_timeout_s=0.25, poll_interval_s=0.1,
                             retry=FAST_RETRY)
        try:
            results = await _execute_all(rig, PARENTS, contracts=8)
            return results, rig.stack.duplicate_orders, [o["tag"] for o in rig.our_orders()]
        finally:
            await rig.close()

    results, duplicates, tags = run(main(), timeout_s=120.0)
    hits = kite.faults.hits()
    assert len(hits) == armed  # every fault met a placement
    assert {h.fault.kind for h in hits} == {FaultKind.DELAY, FaultKind.ERROR, FaultKind.HTML, FaultKind.DROP}
    assert len(results) == PARENTS
    assert kite.duplicate_tags() == {} and duplicates == [] and len(tags) == len(set(tags))
    _assert_every_parent_ended(results)
    # Every order at the venue is a child the stack adopted, and every unit it filled is a unit the stack counted.
    adopted = [order_id for r in results for order_id in r.child_order_ids]
    assert sorted(adopted) == sorted(o["order_id"] for o in kite.orders())
    assert sum(o["filled_quantity"] for o in kite.orders()) == sum(r.filled_qty for r in results)


def test_with_the_exchange_defaults_the_client_never_exceeds_ten_order_writes_a_second(
    fake_kite: FakeKite, tmp_path: Path
) -> None:
    _arm(fake_kite, 4)

    async def main() -> list[ParentResult]:
        rig = await kite_rig(fake_kite, tmp_path, read_timeout_s=0.25, poll_interval_s=0.1, retry=FAST_RETRY)
        try:
            return await _execute_all(rig, 35, contracts=4)
        finally:
            await rig.close()

    results = run(main(), timeout_s=60.0)
    assert fake_kite.max_writes_in_window(None) <= 10
    # The only 429s are the injected ones: the venue's own limit never had to refuse a write.
    throttled = [w for w in fake_kite.order_writes() if w.outcome is WriteOutcome.THROTTLED]
    assert len(throttled) == sum(h.fault.status == 429 for h in fake_kite.faults.hits())
    assert fake_kite.duplicate_tags() == {}
    _assert_every_parent_ended(results)
