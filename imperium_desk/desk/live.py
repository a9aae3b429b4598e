"""Connecting a desk to Zerodha Kite (modes paper-live-data and live): the login, the secret store, the day's
instruments, the REST client and the ticker, assembled into the venue `build_engine` uses.
"""

from __future__ import annotations

from enum import StrEnum


class StoreChoice(StrEnum):
    """Where the trader lets the desk keep the API secret and the day's access token."""

    KEYRING = "keyring"  # the OS keyring (a recommended backend only)
    FILE = "file"  # a 0600 file under the desk's home, only after the trader explicitly agrees
    NONE = "none"  # nowhere: asked for at each login


class LoginError(Exception):
    """A login step failed; `message` is for the trader (it never contains a secret)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class LiveConnectError(Exception):
    """The desk could not connect to the broker after the login (instruments, REST or ticker); `message` is for the
    trader."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
