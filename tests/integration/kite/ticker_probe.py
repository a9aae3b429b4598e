"""Run the official `KiteTicker` against a fake Kite and print what it receives, one JSON object a line.

KiteTicker runs Twisted's process-global reactor, which cannot be restarted and must not run inside pytest's
process, so tests start this module as a child process and read its output:

    python -m tests.integration.kite.ticker_probe API_KEY ACCESS_TOKEN WS_ROOT MODE TOKEN [TOKEN ...]

Lines: `{"event": "connect"}` (after it subscribed the tokens in MODE), `{"event": "ticks", "ticks": [...]}`,
`{"event": "order_update", "data": {...}}`, `{"event": "error", "code": ..., "reason": ...}` and
`{"event": "close", ...}`. It never reconnects; it exits when the connection closes or its stdin reaches EOF.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

from kiteconnect import KiteTicker  # type: ignore[import-untyped]
from twisted.internet import reactor


def _emit(event: str, **fields: Any) -> None:
    sys.stdout.write(json.dumps({"event": event, **fields}, default=str) + "\n")
    sys.stdout.flush()


def main(argv: list[str]) -> None:
    api_key, access_token, ws_root, mode, *raw_tokens = argv
    tokens = [int(t) for t in raw_tokens]
    ticker = KiteTicker(api_key, access_token, root=ws_root, reconnect=False, connect_timeout=10)

    def on_connect(ws: KiteTicker, response: Any) -> None:
        ws.subscribe(tokens)
        ws.set_mode(mode, tokens)
        _emit("connect")

    def on_ticks(ws: KiteTicker, ticks: list[dict[str, Any]]) -> None:
        _emit("ticks", ticks=ticks)

    def on_order_update(ws: KiteTicker, data: dict[str, Any]) -> None:
        _emit("order_update", data=data)

    def on_error(ws: KiteTicker, code: Any, reason: Any) -> None:
        _emit("error", code=code, reason=reason)

    def on_close(ws: KiteTicker, code: Any, reason: Any) -> None:
        _emit("close", code=code, reason=reason)
        os._exit(0)  # the reactor thread cannot be joined cleanly; nothing is left to flush

    ticker.on_connect = on_connect
    ticker.on_ticks = on_ticks
    ticker.on_order_update = on_order_update
    ticker.on_error = on_error
    ticker.on_close = on_close
    ticker.connect(threaded=True)
    sys.stdin.read()  # the parent closes our stdin when it has seen enough
    reactor.callFromThread(reactor.stop)  # type: ignore[misc]
    os._exit(0)


if __name__ == "__main__":
    main(sys.argv[1:])
