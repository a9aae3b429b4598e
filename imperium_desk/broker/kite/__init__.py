"""Zerodha Kite Connect: the live adapter behind the `Broker` and `MarketData` ports, for NSE (NFO) and BSE (BFO)
index options.

This package is the only place in the project that imports `kiteconnect` (or its Twisted/autobahn dependencies);
the import-linter contract "Only broker/kite/ imports the Kite client" enforces it. Everything outside sees our
own types: `broker/errors.py` exceptions, `domain` orders and contracts. This `__init__` imports nothing, so the
config (`config.KiteConfig`) loads without the client; only the live modes import the rest (~0.3 s).

- `config.KiteConfig`: the `broker.kite` config section (no secrets: those live in the OS keyring or a token file).
- `errors.translate`: Kite and `requests` failures -> `broker/errors.py` classes, one table.
- `mapping`: Kite <-> our enums (side, order type, product, validity, every status), `KiteOrder` -> `BrokerOrder`,
  and `new_fills` from successive order snapshots.
- `tags.KiteTags` / `tags.claim_session`: per-day-unique 20-character client tags, reversible for this session.
- `instruments.KiteInstruments` / `instruments.cached_dump`: the daily instruments CSV -> contracts, token map and a
  listed catalog, cached under the desk's home once a day.
- `limits.KiteRateLimits`: the client-side request limits (rate windows).
- `rest.KiteRest`: the official client on a write thread and a read thread, as coroutines on the loop.
- `broker.KiteBroker`: the `Broker` port on a Kite account (tagged placements, lookup by tag, updates from the
  ticker and an order-book poll, reconciliation).
- `packets`: the decoder for the ticker's binary frames; `ticker.KiteTickerClient`: our asyncio websocket client.
- `market.KiteMarketData`: live quotes behind `MarketData` (and what the desk reads of a market).
- `secrets`: the `SecretStore` port (keyring, 0600 file, nothing); `session`: the login (redirect catcher, token
  exchange, 06:00 IST expiry).
- `factory.build_kite_venue`: one account's parts for one desk (called only by the composition root).
"""
