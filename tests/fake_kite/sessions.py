"""The fake Kite's logins: request tokens, access tokens and their 06:00 IST death (kite-notes §1.2).

Thread-safe: the server checks tokens on its loop while tests mint, expire and invalidate them from their own
thread. Expiry is judged on `wall_time` (the config's; inject one to move "now" past 06:00 IST in a test).
"""

from __future__ import annotations

import hashlib
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass

from tests.fake_kite.state import BAD_TOKEN, KiteApiError, next_token_expiry


@dataclass(slots=True)
class _Token:
    expires_at: float
    revoked: bool = False


class Sessions:
    """Every token one api_key has been given. A request token is single-use; an access token works until it is
    invalidated (`DELETE /session/token`), expired by a test, or its 06:00 IST comes."""

    def __init__(self, api_key: str, api_secret: str, wall_time: Callable[[], float]) -> None:
        self.api_key = api_key
        self._api_secret = api_secret
        self._wall_time = wall_time
        self._lock = threading.Lock()
        self._request_tokens: set[str] = set()
        self._tokens: dict[str, _Token] = {}

    def new_request_token(self) -> str:
        """What the login redirect would carry (`?request_token=...`)."""
        token = secrets.token_hex(16)
        with self._lock:
            self._request_tokens.add(token)
        return token

    def issue(self) -> str:
        """A fresh access token, valid until the next 06:00 IST (as a completed login would give)."""
        token = secrets.token_hex(16)
        with self._lock:
            self._tokens[token] = _Token(next_token_expiry(self._wall_time()))
        return token

    def exchange(self, api_key: str, request_token: str, checksum: str) -> str:
        """`POST /session/token`: a valid checksum and an unused request token give an access token."""
        if api_key != self.api_key:
            raise KiteApiError(403, "TokenException", "Invalid `api_key`.")
        expected = hashlib.sha256((api_key + request_token + self._api_secret).encode()).hexdigest()
        if not secrets.compare_digest(checksum, expected):
            raise KiteApiError(403, "TokenException", "Invalid `checksum`.")
        with self._lock:
            if request_token not in self._request_tokens:
                raise KiteApiError(403, "TokenException", "Token is invalid or has expired.")
            self._request_tokens.discard(request_token)
        return self.issue()

    def valid(self, api_key: str | None, access_token: str | None) -> bool:
        if api_key != self.api_key or access_token is None:
            return False
        with self._lock:
            token = self._tokens.get(access_token)
            return token is not None and not token.revoked and self._wall_time() < token.expires_at

    def check_header(self, authorization: str | None) -> str:
        """The access token of a valid `Authorization: token api_key:access_token` header, else 403
        TokenException."""
        scheme, _, credentials = (authorization or "").partition(" ")
        api_key, _, access_token = credentials.partition(":")
        if scheme != "token" or not self.valid(api_key, access_token):
            raise KiteApiError(403, "TokenException", BAD_TOKEN)
        return access_token

    def revoke(self, access_token: str | None = None) -> None:
        """Kill one access token (None: every one), as an invalidation, a master logout or 06:00 would."""
        with self._lock:
            for key, token in self._tokens.items():
                if access_token is None or key == access_token:
                    token.revoked = True

    def expires_at(self, access_token: str) -> float:
        with self._lock:
            return self._tokens[access_token].expires_at
