"""Smoke test of the live path on a REAL Kite account: opt-in, never run by CI or the test suite.

It logs in the way `serve` does (the day's token from the OS keyring or the secrets file, else
IMPERIUM_KITE_ACCESS_TOKEN), builds the desk's own Kite broker, and with one order of one lot:
  1. places a BUY LIMIT far below the market (at the minimum tick, so it cannot fill) with a desk tag,
  2. finds it by that tag in the day's order book,
  3. modifies its price (still far below the market),
  4. cancels it,
printing what Kite answered at each step. It needs --yes (real orders, even if they cannot fill) and a config with
`broker: {kind: kite, kite: {api_key: ...}}`. Run: ./scripts/kite-smoke --config my-kite.yaml --yes
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from imperium_desk.broker.kite.broker import KiteBroker
from imperium_desk.cli import home_dir
from imperium_desk.clock import WallClock
from imperium_desk.config import ConfigError, load_config
from imperium_desk.desk.connector import LiveConnector, connect_headless
from imperium_desk.desk.live import LiveConnectError, LoginError
from imperium_desk.domain.enums import Mode, OptionRight, OrderType, Product, Side
from imperium_desk.domain.orders import BrokerOrder


def _show(step: str, order: BrokerOrder | None) -> None:
    if order is None:
        print(f"{step}: not found")
        return
    print(f"{step}: order {order.order_id} tag {order.tag!r} {order.side.value} {order.quantity} {order.symbol} "
          f"{order.order_type.value} @ {order.price} status {order.status.value} filled {order.filled_quantity}")


async def smoke(config_path: Path, home: Path, underlying: str) -> int:
    config = load_config(config_path)
    connector = LiveConnector(config, home=home, mode=Mode.LIVE, clock=WallClock())
    venue = await connect_headless(connector)
    try:
        broker = venue.broker
        assert isinstance(broker, KiteBroker)
        catalog = venue.catalog
        expiry = catalog.expiries(underlying, WallClock().now_datetime(), 1)[0]
        # Far out of the money: a put ten strikes below ATM, bid at the minimum tick.
        strike = catalog.strike_offset(underlying, venue.market.spot(underlying), -10)
        contract = catalog.contract(underlying, expiry, strike, OptionRight.PE)
        tag = "SMOKEP000001C0"
        order_id = await broker.place_order(symbol=contract.symbol, side=Side.BUY, quantity=contract.lot_size,
                                            order_type=OrderType.LIMIT, product=Product.NRML, tag=tag,
                                            price=contract.tick_size)
        print(f"placed: order id {order_id} ({contract.symbol}, tag {broker.tags.encode(tag)} at Kite)")
        found = await broker.orders_by_tag(tag)
        _show("found by tag", found[0] if found else None)
        await broker.modify_order(order_id, price=2 * contract.tick_size)
        _show("modified", await broker.order(order_id))
        await broker.cancel_order(order_id)
        _show("cancelled", await broker.order(order_id))
    finally:
        await venue.aclose()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", type=Path, required=True, help="desk config with a broker.kite section")
    parser.add_argument("--home", help="data folder (default $IMPERIUM_HOME or ~/.imperium_desk)")
    parser.add_argument("--underlying", default="NIFTY")
    parser.add_argument("--yes", action="store_true", help="confirm: this sends real orders to your Kite account")
    args = parser.parse_args(argv)
    if not args.yes:
        print("kite-smoke sends real (unfillable) orders to your Kite account: add --yes to go ahead", file=sys.stderr)
        return 2
    try:
        return asyncio.run(smoke(args.config, home_dir(args.home), args.underlying))
    except ConfigError as exc:
        print("\n".join(f"error: {line}" for line in exc.errors), file=sys.stderr)
        return 2
    except (LoginError, LiveConnectError) as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
