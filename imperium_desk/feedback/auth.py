"""Bearer-token check in front of the whole app (a plain ASGI middleware).

It runs before routing and body parsing, so a request without the token learns nothing else (not even whether its
body would have been valid) and costs no parsing. The token is compared in constant time.
"""

from __future__ import annotations

import hmac
from collections.abc import Collection

import orjson
from starlette.types import ASGIApp, Receive, Scope, Send

# What needs no token: the liveness probe, and the API's description (no data, no control) so that the docs page
# loads in a browser, which cannot attach a bearer token to its own requests.
OPEN_PATHS: frozenset[str] = frozenset({"/health", "/openapi.json", "/docs", "/docs/oauth2-redirect"})


class BearerAuth:
    """ASGI middleware that answers 401 (with a `WWW-Authenticate` challenge) to every HTTP request outside
    `open_paths` whose bearer credential is missing or is not `token`; anything else, websockets and lifespan
    included, passes through to `app` untouched."""

    def __init__(self, app: ASGIApp, token: str, open_paths: Collection[str] = OPEN_PATHS) -> None:
        self.app = app
        self._token = token.encode("ascii")
        self._open = frozenset(open_paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self._open:
            await self.app(scope, receive, send)
            return
        problem = self._problem(scope)
        if problem is None:
            await self.app(scope, receive, send)
            return
        challenge = b'Bearer realm="imperium-desk"' if problem == "missing" else \
            b'Bearer realm="imperium-desk", error="invalid_token"'
        detail = ("missing bearer token: send `Authorization: Bearer <token>` (the token is in <home>/feedback.token)"
                  if problem == "missing" else "invalid bearer token")
        body = orjson.dumps({"detail": detail})
        await send({
            "type": "http.response.start",
            "status": 401,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"www-authenticate", challenge),
            ],
        })
        await send({"type": "http.response.body", "body": body})

    def _problem(self, scope: Scope) -> str | None:
        """None if the request carries the token, else "missing" or "invalid"."""
        header = None
        for name, value in scope["headers"]:
            if name == b"authorization":
                header = value
                break
        if header is None:
            return "missing"
        scheme, _, credentials = header.partition(b" ")
        if scheme.lower() != b"bearer":
            return "missing"
        return None if hmac.compare_digest(credentials.strip(), self._token) else "invalid"
