"""ProtectionManager on a hand-driven feed and the real tracker, on the virtual clock: arming on fills, the
confirmation rule, the trailing rule, one-cancels-other, the exit it sends and how it ends."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Awaitable, Callable
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from imperium_desk.clock import VirtualClock
from imperium_desk.domain.enums import Algo, Mode, OptionRight, OrderStatus, OrderType, Product, Side, Urgency
from imperium_desk.domain.instruments import InstrumentCatalog, OptionContract
from imperium_desk.domain.orders import BrokerOrder, Position
from imperium_desk.domain.protection import ExitReason, ProtectionSpec, ProtectionStatus
from imperium_desk.execution.config import ExecutionConfig
from imperium_desk.execution.protection import ProtectionManager
from imperium_desk.execution.protection_store import ProtectionStore
from imperium_desk.execution.request import ExecutionRequest, RequestMetadata
from imperium_desk.execution.tracker import FillQualityTracker, Record
from imperium_desk.market.port import Quote
from imperium_desk.offload import Offloader

INSTRUMENTS = Path(__file__).resolve().parents[2] / "imperium_desk" / "configs" / "instruments.yaml"
START = 1_795_000_000.0
CONTRACT: OptionContract = InstrumentCatalog.load(INSTRUMENTS).contract(
    "NIFTY", date(2026, 12, 1), 26000, OptionRight.CE)
SYMBOL = CONTRACT.symbol
PROPERTY = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


class FakeFeed:
    """The feed's listener side only: the test decides what ticks."""

    def __init__(self) -> None:
        self.listeners: list[Callable[[list[Quote]], None]] = []

    def add_listener(self, listener: Callable[[list[Quote]], None]) -> None:
        self.listeners.append(listener)


class Harness:
    def __init__(self, *, refuse: bool = False, confirmation: tuple[int, float] | None = None) -> None:
        self.clock = VirtualClock(START)
        self.records: list[Record] = []
        self.tracker = FillQualityTracker(self.clock, mode=Mode.REPLAY, scenario_id=None, sink=self.records.append)
        self.feed = FakeFeed()
        self.sent: list[ExecutionRequest] = []
        self.refuse = refuse
        self.manager = ProtectionManager(clock=self.clock, feed=self.feed, tracker=self.tracker,  # type: ignore[arg-type]
                                         send_exit=self.send,
                                         confirmation=None if confirmation is None else lambda: confirmation)
        self.changes = 0
        self.manager.add_listener(self.changed)

    def changed(self) -> None:
        self.changes += 1

    def send(self, request: ExecutionRequest) -> str | None:
        if self.refuse:
            raise ValueError("refused")
        self.sent.append(request)
        return f"X{len(self.sent)}"

    def watch(self, spec: dict[str, Any], side: Side = Side.BUY, qty: int = 130, pid: str = "P1",
              product: Product | None = Product.NRML) -> None:
        request = ExecutionRequest(symbol=SYMBOL, side=side, quantity=qty, product=product,
                                   protection=ProtectionSpec.model_validate(spec))
        self.manager.watch_entry(pid, request, CONTRACT)

    async def fill(self, qty: int, price: float, pid: str = "P1") -> None:
        self.tracker.external({"event": "partial_fill", "parent_id": pid, "qty": qty, "executed_price": price}, {})
        await asyncio.sleep(0)  # the manager answers a record on the next loop step

    async def parent_end(self, pid: str, qty: int, filled: int, status: str = "complete") -> None:
        self.tracker.external({"event": "parent", "parent_id": pid, "qty": qty, "parent": {
            "status": status, "filled_qty": filled, "average_price": 90.0 if filled else None, "reason": ""}}, {})
        await asyncio.sleep(0)

    def tick(self, bid: float, ask: float | None = None, symbol: str = SYMBOL) -> None:
        ask = round(bid + 0.1, 2) if ask is None else ask
        quote = Quote(symbol, bid, ask, bid, [], [], 0, 0, self.clock.now())
        for listener in self.feed.listeners:
            listener([quote])

    def actions(self) -> list[str]:
        return [r["protection"]["action"] for r in self.records if r["event"] == "protection"]

    def run(self, main: Callable[[], Awaitable[None]]) -> None:
        self.clock.run(main())

    @property
    def status(self) -> ProtectionStatus:
        p = self.manager.get("P1")
        assert p is not None
        return p.status


# -- property tests ------------------------------------------------------------------------------------------------
prices = st.integers(min_value=1880, max_value=1960).map(lambda k: round(k * 0.05, 2))  # 94.00 .. 98.00


@PROPERTY
@given(bids=st.lists(prices, min_size=1, max_size=30), confirm=st.integers(min_value=1, max_value=4))
def test_a_stop_triggers_exactly_when_confirm_ticks_in_a_row_cross_it(bids: list[float], confirm: int) -> None:
    h = Harness()
    sent_at: list[int] = []

    async def main() -> None:
        h.watch({"stop_loss": {"value": 5}, "confirm_ticks": confirm})  # long at 100: stop 95.00
        await h.fill(130, 100.0)
        for i, bid in enumerate(bids):
            before = len(h.sent)
            h.tick(bid)
            if len(h.sent) > before:
                sent_at.append(i)

    h.run(main)
    expected = next((i for i in range(confirm - 1, len(bids)) if all(b <= 95.0 for b in bids[i - confirm + 1:i + 1])),
                    None)
    assert sent_at == ([] if expected is None else [expected])


@PROPERTY
@given(bids=st.lists(prices, min_size=1, max_size=30))
def test_a_stop_never_triggers_on_ticks_that_do_not_cross_it(bids: list[float]) -> None:
    h = Harness()
    above = [b for b in bids if b > 95.0]

    async def main() -> None:
        h.watch({"stop_loss": {"value": 5}})
        await h.fill(130, 100.0)
        for bid in above:
            h.tick(bid)

    h.run(main)
    assert h.sent == [] and "triggered" not in h.actions()


@PROPERTY
@given(side=st.sampled_from([Side.BUY, Side.SELL]),
       walk=st.lists(st.integers(min_value=-40, max_value=40), min_size=1, max_size=40))
def test_a_trailing_stop_never_moves_against_the_position(side: Side, walk: list[int]) -> None:
    h = Harness()
    trail: list[float] = []

    async def main() -> None:
        h.watch({"trailing_stop": {"value": 3}}, side=side)
        await h.fill(130, 100.0)
        price = 100.0
        for step in walk:
            price = max(round(price + step * 0.05, 2), 0.05)
            h.tick(price, price) if side is Side.SELL else h.tick(price)
            p = h.manager.get("P1")
            assert p is not None and p.levels is not None and p.levels.trailing_stop is not None
            trail.append(p.levels.trailing_stop)

    h.run(main)
    pairs = list(itertools.pairwise(trail))
    if side is Side.BUY:
        assert all(b >= a for a, b in pairs)
    else:
        assert all(b <= a for a, b in pairs)


@PROPERTY
@given(walk=st.lists(st.integers(min_value=-80, max_value=80), min_size=1, max_size=60))
def test_one_entry_never_sends_more_than_one_exit(walk: list[int]) -> None:
    h = Harness()

    async def main() -> None:
        h.watch({"stop_loss": {"value": 2}, "target": {"value": 2}, "trailing_stop": {"value": 1}})
        await h.fill(130, 100.0)
        price = 100.0
        for step in walk:
            price = max(round(price + step * 0.05, 2), 0.05)
            h.tick(price)

    h.run(main)
    assert len(h.sent) <= 1
    assert h.actions().count("triggered") <= 1


# -- arming --------------------------------------------------------------------------------------------------------
def test_entry_without_protection_is_not_watched() -> None:
    h = Harness()
    h.manager.watch_entry("P1", ExecutionRequest(symbol=SYMBOL, side=Side.BUY, quantity=65), CONTRACT)
    assert h.manager.get("P1") is None


def test_exit_is_never_watched_even_with_a_protection() -> None:
    h = Harness()
    request = ExecutionRequest(symbol=SYMBOL, side=Side.SELL, quantity=65, metadata=RequestMetadata(is_exit=True),
                               protection=ProtectionSpec.model_validate({"stop_loss": {"value": 5}}))
    h.manager.watch_entry("P1", request, CONTRACT)
    assert h.manager.get("P1") is None


def test_entry_is_pending_until_it_fills() -> None:
    h = Harness()
    h.watch({"stop_loss": {"value": 5}})
    h.run(lambda: asyncio.sleep(0))
    h.tick(50.0)
    assert h.status is ProtectionStatus.PENDING and h.sent == []


def test_partial_fill_protects_what_filled() -> None:
    h = Harness()

    async def main() -> None:
        h.watch({"stop_loss": {"value": 5}}, qty=130)
        await h.fill(65, 100.0)
        h.tick(94.0)

    h.run(main)
    assert [r.quantity for r in h.sent] == [65]


def test_levels_follow_the_average_fill_price_as_fills_come() -> None:
    h = Harness()

    async def main() -> None:
        h.watch({"stop_loss": {"value": 5}}, qty=130)
        await h.fill(65, 100.0)
        await h.fill(65, 102.0)

    h.run(main)
    p = h.manager.get("P1")
    assert p is not None and p.levels is not None
    assert (p.filled_qty, p.levels.stop_loss) == (130, 96.0)


def test_entry_that_filled_nothing_is_cancelled() -> None:
    h = Harness()

    async def main() -> None:
        h.watch({"stop_loss": {"value": 5}})
        await h.parent_end("P1", 130, 0, status="cancelled")

    h.run(main)
    assert h.status is ProtectionStatus.CANCELLED


def test_stop_wider_than_the_fill_price_fails_to_arm() -> None:
    h = Harness()

    async def main() -> None:
        h.watch({"stop_loss": {"value": 50}})
        await h.fill(130, 40.0)

    h.run(main)
    assert h.status is ProtectionStatus.FAILED and h.actions() == ["failed"]


# -- triggering ---------------------------------------------------------------------------------------------------
def test_long_reads_the_bid_and_short_reads_the_ask() -> None:
    h = Harness()

    async def main() -> None:
        h.watch({"stop_loss": {"value": 5}}, side=Side.SELL)  # short at 100: stop 105
        await h.fill(130, 100.0)
        h.tick(105.0, 104.95)  # the bid is through, the ask is not
        assert h.sent == []
        h.tick(104.9, 105.0)

    h.run(main)
    assert len(h.sent) == 1


def test_exit_is_a_market_immediate_high_urgency_exit_of_the_positions_product() -> None:
    h = Harness()

    async def main() -> None:
        h.watch({"target": {"value": 5}}, product=Product.MIS)
        await h.fill(130, 100.0)
        h.tick(105.0)

    h.run(main)
    (request,) = h.sent
    assert (request.side, request.quantity, request.order_type, request.algo, request.urgency, request.product) == (
        Side.SELL, 130, OrderType.MARKET, Algo.IMMEDIATE, Urgency.HIGH, Product.MIS)
    assert request.metadata.is_exit and request.metadata.exit_reason is ExitReason.TARGET
    assert request.metadata.source == "protection"


def test_confirm_ms_waits_for_the_price_to_stay_through_the_level() -> None:
    h = Harness()

    async def main() -> None:
        h.watch({"stop_loss": {"value": 5}, "confirm_ms": 500})
        await h.fill(130, 100.0)
        h.tick(94.0)
        await h.clock.sleep(0.3)
        h.tick(94.0)
        assert h.sent == []
        await h.clock.sleep(0.3)
        h.tick(94.0)

    h.run(main)
    assert len(h.sent) == 1


def test_a_tick_back_above_the_level_restarts_the_confirmation() -> None:
    h = Harness()

    async def main() -> None:
        h.watch({"stop_loss": {"value": 5}, "confirm_ticks": 2})
        await h.fill(130, 100.0)
        for bid in (94.0, 96.0, 94.0):
            h.tick(bid)

    h.run(main)
    assert h.sent == []


def test_triggered_record_has_the_trigger_price_the_tick_and_the_exit_parent_id() -> None:
    h = Harness()

    async def main() -> None:
        h.watch({"stop_loss": {"value": 5}})
        await h.fill(130, 100.0)
        h.tick(93.0, 93.2)

    h.run(main)
    (triggered,) = [r["protection"] for r in h.records if r["event"] == "protection"
                    and r["protection"]["action"] == "triggered"]
    assert (triggered["level"], triggered["trigger_price"], triggered["exit_parent_id"]) == (95.0, 93.0, "X1")
    assert (triggered["tick"]["bid"], triggered["tick"]["ask"]) == (93.0, 93.2)


def test_trailing_stop_moves_up_then_triggers_on_the_pullback() -> None:
    h = Harness()

    async def main() -> None:
        h.watch({"trailing_stop": {"value": 3}})
        await h.fill(130, 100.0)
        for bid in (101.0, 104.0, 108.0, 106.0, 104.9):
            h.tick(bid)

    h.run(main)
    assert h.actions()[-1] == "triggered" and "moved" in h.actions()
    assert h.sent[0].metadata.exit_reason is ExitReason.TRAILING_STOP


# -- how it ends --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("filled", "status"), [(130, ProtectionStatus.EXITED), (0, ProtectionStatus.FAILED)])
def test_exit_parent_record_decides_exited_or_failed(filled: int, status: ProtectionStatus) -> None:
    h = Harness()

    async def main() -> None:
        h.watch({"stop_loss": {"value": 5}})
        await h.fill(130, 100.0)
        h.tick(94.0)
        await h.parent_end("X1", 130, filled, status="complete" if filled else "failed")

    h.run(main)
    assert h.status is status


def test_refused_exit_is_failed() -> None:
    h = Harness(refuse=True)

    async def main() -> None:
        h.watch({"stop_loss": {"value": 5}})
        await h.fill(130, 100.0)
        h.tick(94.0)

    h.run(main)
    assert h.status is ProtectionStatus.FAILED and h.status.unprotected


def test_manual_exit_cancels_the_positions_protections() -> None:
    h = Harness()

    async def main() -> None:
        h.watch({"stop_loss": {"value": 5}})
        await h.fill(130, 100.0)
        assert h.manager.cancel_position(SYMBOL, Product.NRML) == ["P1"]
        h.tick(90.0)

    h.run(main)
    assert h.status is ProtectionStatus.CANCELLED and h.sent == []


def test_manual_exit_of_another_product_leaves_the_protection_armed() -> None:
    h = Harness()

    async def main() -> None:
        h.watch({"stop_loss": {"value": 5}}, product=Product.MIS)
        await h.fill(130, 100.0)
        h.manager.cancel_position(SYMBOL, Product.NRML)

    h.run(main)
    assert h.status is ProtectionStatus.ARMED


def test_every_change_is_told_to_the_listeners() -> None:
    h = Harness()

    async def main() -> None:
        h.watch({"stop_loss": {"value": 5}})
        await h.fill(130, 100.0)
        h.tick(94.0)

    h.run(main)
    assert h.changes == 3  # watched, armed, triggered


def test_ticks_of_other_symbols_are_ignored() -> None:
    h = Harness()

    async def main() -> None:
        h.watch({"stop_loss": {"value": 5}})
        await h.fill(130, 100.0)
        h.tick(1.0, symbol="OTHER")

    h.run(main)
    assert h.sent == [] and h.status is ProtectionStatus.ARMED


# -- saved and restored across a restart --------------------------------------------------------------------------
class FakeBroker:
    """Positions and the order book by tag, as a restarted desk finds them at the broker."""

    def __init__(self, held: int, orders: dict[str, list[BrokerOrder]] | None = None, lookup_fails: bool = False,
                 untagged: list[BrokerOrder] | None = None):
        self.held = held
        self.by_tag = orders or {}
        self.untagged = untagged or []  # in the day's book under a tag this session does not spell (Kite's sessions)
        self.lookup_fails = lookup_fails
        self.lookups: list[str] = []

    async def positions(self) -> list[Position]:
        return [Position(SYMBOL, quantity=self.held, product=Product.NRML)]

    async def orders_by_tag(self, tag: str) -> list[BrokerOrder]:
        self.lookups.append(tag)
        if self.lookup_fails:
            raise ConnectionError("broker unreachable")
        return self.by_tag.get(tag, [])

    async def orders(self) -> list[BrokerOrder]:
        return [o for found in self.by_tag.values() for o in found] + self.untagged


def exit_order(tag: str, filled: int, status: OrderStatus = OrderStatus.COMPLETE) -> BrokerOrder:
    return BrokerOrder("O1", tag, SYMBOL, Side.SELL, 130, OrderType.MARKET, Product.NRML, None, status, START,
                       filled_quantity=filled)


def saved_run(tmp_path: Path, *, trigger: bool) -> ProtectionStore:
    """A first run that armed (and, with `trigger`, triggered) a stop on 130 units bought at 100, then stopped."""
    store = ProtectionStore(tmp_path / "protections.json")
    h = Harness()
    h.manager.persist_to(store, Offloader(h.clock))

    async def main() -> None:
        h.watch({"stop_loss": {"value": 5}})
        await h.fill(130, 100.0)
        if trigger:
            h.tick(94.0)
        for _ in range(4):  # the saves of the last changes: the trigger's, then (written) the sent exit's
            await asyncio.sleep(0)
            await h.manager.saved()

    h.run(main)
    return store


def restart(store: ProtectionStore, broker: FakeBroker, *bids: float) -> Harness:
    h = Harness()

    async def main() -> None:
        await h.manager.restore(store.load(), broker)  # type: ignore[arg-type]
        for bid in bids:
            h.tick(bid)

    h.run(main)
    return h


def restored_status(h: Harness) -> ProtectionStatus:
    (p,) = h.manager.protections()
    return p.status


def test_armed_protection_is_restored_on_a_position_still_held(tmp_path: Path) -> None:
    h = restart(saved_run(tmp_path, trigger=False), FakeBroker(held=130))
    assert restored_status(h) is ProtectionStatus.ARMED


def test_restored_protection_triggers_like_before_the_restart(tmp_path: Path) -> None:
    h = restart(saved_run(tmp_path, trigger=False), FakeBroker(held=130), 94.0, 93.0)
    assert [r.quantity for r in h.sent] == [130]


def test_protection_of_a_smaller_position_is_unrestored(tmp_path: Path) -> None:
    h = restart(saved_run(tmp_path, trigger=False), FakeBroker(held=65), 90.0)
    assert restored_status(h) is ProtectionStatus.UNRESTORED and h.sent == []


def test_exit_found_filled_at_the_broker_is_not_sent_again(tmp_path: Path) -> None:
    broker = FakeBroker(held=0, orders={"X1C0": [exit_order("X1C0", 130)]})
    h = restart(saved_run(tmp_path, trigger=True), broker, 90.0)
    assert restored_status(h) is ProtectionStatus.EXITED and h.sent == []


def test_exit_still_working_at_the_broker_is_flagged_not_sent_again(tmp_path: Path) -> None:
    broker = FakeBroker(held=130, orders={"X1C0": [exit_order("X1C0", 0, OrderStatus.OPEN)]})
    h = restart(saved_run(tmp_path, trigger=True), broker, 90.0)
    assert restored_status(h) is ProtectionStatus.UNRESTORED and h.sent == []


def test_exit_whose_lookup_fails_is_flagged_not_sent_again(tmp_path: Path) -> None:
    h = restart(saved_run(tmp_path, trigger=True), FakeBroker(held=130, lookup_fails=True), 90.0)
    assert restored_status(h) is ProtectionStatus.UNRESTORED and h.sent == []


def test_exit_working_under_an_earlier_sessions_tag_is_flagged_not_sent_again(tmp_path: Path) -> None:
    broker = FakeBroker(held=130, untagged=[exit_order("ABC01000010", 0, OrderStatus.OPEN)])
    h = restart(saved_run(tmp_path, trigger=True), broker, 90.0, 89.0)
    assert restored_status(h) is ProtectionStatus.UNRESTORED and h.sent == []


def test_exit_not_found_on_a_flat_position_ends_exited_and_is_not_sent_again(tmp_path: Path) -> None:
    h = restart(saved_run(tmp_path, trigger=True), FakeBroker(held=0), 90.0, 89.0)
    assert restored_status(h) is ProtectionStatus.EXITED and h.sent == []


def test_exit_the_broker_never_got_is_sent_once_after_the_restart(tmp_path: Path) -> None:
    broker = FakeBroker(held=130)  # the first run's exit never reached the broker
    h = restart(saved_run(tmp_path, trigger=True), broker, 90.0, 89.0, 88.0)
    assert broker.lookups[0] == "X1C0"
    assert [r.quantity for r in h.sent] == [130]


def test_saved_file_is_private(tmp_path: Path) -> None:
    store = saved_run(tmp_path, trigger=False)
    assert store.path.stat().st_mode & 0o777 == 0o600
    assert [p["status"] for p in store.load()] == [ProtectionStatus.ARMED.value]


class WatchingStore(ProtectionStore):
    """A store that notes, at each save, the statuses saved and how many exits had been sent by then."""

    def __init__(self, path: Path, harness: Harness) -> None:
        super().__init__(path)
        self.harness = harness
        self.saves: list[tuple[list[str], int]] = []

    def save(self, protections: list[dict[str, Any]]) -> None:
        self.saves.append(([p["status"] for p in protections], len(self.harness.sent)))
        super().save(protections)


def test_a_triggered_stop_is_on_disk_before_its_exit_is_sent(tmp_path: Path) -> None:
    h = Harness()
    store = WatchingStore(tmp_path / "protections.json", h)
    h.manager.persist_to(store, Offloader(h.clock))

    async def main() -> None:
        h.watch({"stop_loss": {"value": 5}})
        await h.fill(130, 100.0)
        h.tick(94.0)
        for _ in range(4):
            await asyncio.sleep(0)
            await h.manager.saved()

    h.run(main)
    first_triggered = next(sent for statuses, sent in store.saves if ProtectionStatus.TRIGGERED.value in statuses)
    assert first_triggered == 0 and len(h.sent) == 1


def saved_triggered_before_sending(tmp_path: Path) -> ProtectionStore:
    """What a desk that died between the trigger's save and the exit's send leaves: TRIGGERED, no exit id."""
    store = saved_run(tmp_path, trigger=False)
    (item,) = store.load()
    store.save([{**item, "status": ProtectionStatus.TRIGGERED.value, "exit_reason": ExitReason.STOP_LOSS.value,
                 "trigger_price": 94.0}])
    return store


def test_an_exit_that_may_have_left_before_the_desk_died_is_flagged_not_sent(tmp_path: Path) -> None:
    h = restart(saved_triggered_before_sending(tmp_path), FakeBroker(held=130), 90.0, 89.0)
    assert restored_status(h) is ProtectionStatus.UNRESTORED and h.sent == []


def test_an_exit_that_may_have_left_on_a_flat_position_ends_exited(tmp_path: Path) -> None:
    h = restart(saved_triggered_before_sending(tmp_path), FakeBroker(held=0), 90.0)
    assert restored_status(h) is ProtectionStatus.EXITED and h.sent == []


def test_a_protection_without_its_own_confirmation_waits_as_the_desk_config_says() -> None:
    h = Harness(confirmation=(2, 0.0))  # execution.protection_confirm_ticks: 2

    async def main() -> None:
        h.watch({"stop_loss": {"value": 5}})  # long at 100: stop 95.00, no confirmation of its own
        await h.fill(130, 100.0)
        h.tick(94.0)
        assert h.sent == []
        h.tick(94.0)

    h.run(main)
    assert len(h.sent) == 1


def test_a_protections_own_confirmation_wins_over_the_desk_config() -> None:
    h = Harness(confirmation=(3, 0.0))

    async def main() -> None:
        h.watch({"stop_loss": {"value": 5}, "confirm_ticks": 1})
        await h.fill(130, 100.0)
        h.tick(94.0)

    h.run(main)
    assert len(h.sent) == 1


def test_the_confirmation_at_its_defaults_leaves_the_config_dump_unchanged() -> None:
    assert "protection_confirm_ticks" not in ExecutionConfig().model_dump()
    assert ExecutionConfig(protection_confirm_ticks=2).model_dump()["protection_confirm_ticks"] == 2


def test_an_exit_waiting_for_its_save_is_not_sent_after_a_manual_exit(tmp_path: Path) -> None:
    h = Harness()
    h.manager.persist_to(ProtectionStore(tmp_path / "protections.json"), Offloader(h.clock))

    async def main() -> None:
        h.watch({"stop_loss": {"value": 5}})
        await h.fill(130, 100.0)
        h.tick(94.0)  # triggered: its exit waits for the save
        h.manager.cancel_position(SYMBOL, Product.NRML)  # the trader's EXIT ALL, in the same instant
        for _ in range(4):
            await asyncio.sleep(0)
            await h.manager.saved()

    h.run(main)
    assert h.status is ProtectionStatus.CANCELLED and h.sent == []
