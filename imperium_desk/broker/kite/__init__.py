"""Zerodha Kite Connect: the live adapter behind the `Broker` port (broker/port.py), for NSE (NFO) and BSE (BFO)
index options.

This package is the only place in the project that imports `kiteconnect` (or its Twisted/autobahn dependencies);
the import-linter contract "Only broker/kite/ imports the Kite client" enforces it. Everything outside sees our
own types: `broker/errors.py` exceptions, `domain` orders and contracts.

Public so far (pure modules, no network I/O):
- `config.KiteConfig`: the `broker.kite` config section (no secrets: those live in the OS keyring or a token file).
- `errors.translate`: Kite and `requests` failures -> `broker/errors.py` classes, one table.
- `mapping`: Kite <-> our enums (side, order type, product, validity, every status), `KiteOrder` -> `BrokerOrder`,
  and `new_fills` from successive order snapshots.
- `tags.KiteTags` / `tags.claim_session`: per-day-unique 20-character client tags, reversible for this session.
- `instruments.KiteInstruments` / `instruments.cached_dump`: the daily instruments CSV -> contracts, token map and
  catalog, cached under the desk's home once a day.
- `packets`: the decoder for the ticker's binary frames.

The REST wrapper, ticker client, `KiteBroker`, `KiteMarketData` and `build_kite` come next (STYLE.md §3).
"""
