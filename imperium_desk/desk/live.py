"""The live modes' vocabulary, light enough for the window to import in paper mode too (nothing here loads the Kite
client): the mode a config and `--mode` ask for, where a login may be kept, and the errors a login or connection
raises for the trader. The connection itself is `desk/connector.py`.
"""

from __future__ import annotations

from enum import StrEnum

from imperium_desk.config import Config, ConfigError
from imperium_desk.domain.enums import Mode

# `serve` takes the day's access token from here when the secret store has none (it never opens a browser).
ACCESS_TOKEN_ENV = "IMPERIUM_KITE_ACCESS_TOKEN"


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


def live_mode_of(config: Config, asked: Mode | None) -> Mode:
    """The mode a desk runs in: the one asked for (`--mode`), else live for `broker.kind: kite`, else paper.
    Raises ConfigError when a Kite mode is asked for without a `broker.kite` section."""
    mode = asked if asked is not None else (Mode.LIVE if config.broker.kind == "kite" else Mode.PAPER)
    if mode is Mode.REPLAY:
        raise ConfigError(["--mode: replay is the replay command's, not the desk's"])
    if mode in (Mode.LIVE, Mode.PAPER_LIVE_DATA) and config.broker.kite is None:
        raise ConfigError([f"broker.kite: mode {mode.value} needs the Kite Connect app: "
                           "broker: {kind: kite, kite: {api_key: <your app's api_key>}}"])
    return mode
