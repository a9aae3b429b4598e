"""Connecting a desk to Zerodha Kite (modes paper-live-data and live): the login, the secret store, the day's
instruments, the REST client and the ticker, assembled into the venue `build_engine` uses.

The window drives a `LiveConnector` through its start-up dialogs (confirmation, Connect) and `serve` through
`connect_headless`; both end with `connect()`, which builds the `KiteVenue`. Everything here runs on the loop: the
secret store (which may talk D-Bus) and the token exchange run off it. No secret reaches a log line or an error
message: errors carry the trader-facing text of the failure's kind. Importing this module loads the Kite client
(~0.3 s): only the live modes do.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from imperium_desk.broker.errors import BrokerError, BrokerSessionExpired, BrokerUnreachable
from imperium_desk.broker.kite.config import KiteConfig
from imperium_desk.broker.kite.factory import KiteVenue, build_kite_venue
from imperium_desk.broker.kite.secrets import (
    AccessToken,
    ApiSecret,
    FileStore,
    KeyringStore,
    KeyringUnusable,
    NoStore,
    SecretStore,
    SecretStoreError,
)
from imperium_desk.broker.kite.session import (
    KiteLogin,
    LoginFailed,
    LoginTimedOut,
    RedirectCatcher,
    RequestToken,
    parse_redirect_url,
    token_expiry,
)
from imperium_desk.broker.kite.session import LoginError as KiteLoginError
from imperium_desk.clock import VirtualClock, WallClock
from imperium_desk.config import Config, ConfigError
from imperium_desk.desk.live import ACCESS_TOKEN_ENV, LiveConnectError, LoginError, StoreChoice
from imperium_desk.domain.enums import Mode
from imperium_desk.domain.instruments import InstrumentError
from imperium_desk.offload import Offloader
from imperium_desk.rng import RandomStreams
from imperium_desk.scenarios.prepare import load_catalog
from imperium_desk.telemetry.factory import default_desk_id

__all__ = ["KiteVenue", "LiveConnector", "connect_headless"]

log = logging.getLogger(__name__)


class LiveConnector:
    """One desk's way to Kite: its stored login, a new login, and the connection. Called on the loop.

    `saved_login()` looks in the keyring and the secrets file for a live access token and the API secret;
    `login()` exchanges a request token (from `catch_redirect()` or a pasted URL) and keeps what the trader allowed;
    `connect()` builds the venue. The same object serves a new login mid-session (`Desk.relogin`).
    """

    def __init__(self, config: Config, *, home: Path, mode: Mode, clock: WallClock | VirtualClock) -> None:
        kite = config.broker.kite
        if kite is None or mode not in (Mode.LIVE, Mode.PAPER_LIVE_DATA):
            raise ConfigError([f"broker.kite: mode {mode.value} does not connect to Kite"])
        self.config = config
        self.kite: KiteConfig = kite
        self.home = home
        self.mode = mode
        self._clock = clock
        self._offload = Offloader(clock)
        self._login = KiteLogin(kite, self._offload, clock)
        self._token: AccessToken | None = None
        self._has_secret = False
        self._keyring_usable: bool | None = None
        self.user_id: str | None = None

    # -- what the dialogs show -----------------------------------------------------------------------------------
    @property
    def account_hint(self) -> str:
        who = f"user {self.user_id}, " if self.user_id else ""
        return f"Kite Connect app {self.kite.api_key} ({who}{self.mode.value})"

    @property
    def login_url(self) -> str:
        return self._login.login_url()

    @property
    def redirect_url(self) -> str:
        return f"http://127.0.0.1:{self.kite.redirect_port}{self.kite.redirect_path}"

    @property
    def needs_api_secret(self) -> bool:
        return not self._has_secret

    @property
    def store_choices(self) -> list[StoreChoice]:
        choices = [StoreChoice.KEYRING] if self._keyring_usable else []
        return [*choices, StoreChoice.FILE, StoreChoice.NONE]

    @property
    def token_expiry(self) -> float | None:
        return self._token.expires_at if self._token is not None else None

    @property
    def access_token(self) -> AccessToken | None:
        return self._token

    # -- the stored login ----------------------------------------------------------------------------------------
    async def saved_login(self) -> bool:
        """True when a live access token and the API secret are stored (no login needed). Also learns whether
        the OS keyring is usable (`store_choices`)."""
        now = self._clock.now()
        api_key, home = self.kite.api_key, self.home

        def look() -> tuple[bool, AccessToken | None, bool]:
            stores: list[SecretStore] = []
            keyring_ok = True
            try:
                stores.append(KeyringStore(api_key))
            except KeyringUnusable:
                keyring_ok = False
            stores.append(FileStore(home, api_key))
            token: AccessToken | None = None
            secret = False
            for store in stores:
                try:
                    token = token or store.access_token(now)
                    secret = secret or store.api_secret() is not None
                except SecretStoreError as exc:
                    log.warning("secret store %s unusable: %s", store.where, type(exc).__name__)
            return keyring_ok, token, secret

        self._keyring_usable, self._token, self._has_secret = await self._offload.thread(look, "kite-secrets")
        return self._token is not None and self._has_secret

    def use_token(self, token: str) -> None:
        """A token handed over from outside (`serve`: the environment), valid until the next 06:00 IST."""
        if not token.isascii() or not token.isalnum():
            raise LoginError("the access token must be letters and digits")
        self._token = AccessToken(token, token_expiry(self._clock.now()))

    # -- a new login ---------------------------------------------------------------------------------------------
    async def catch_redirect(self) -> str:
        """Listen on the loopback redirect URL until the browser brings the request token (cancel to stop)."""
        try:
            async with RedirectCatcher(self.kite.redirect_port, path=self.kite.redirect_path) as catcher:
                return (await catcher.wait(self.kite.login_timeout_s)).value
        except LoginTimedOut:
            raise LoginError("no login came back from the browser in time: paste the address it ended on") from None
        except KiteLoginError as exc:
            raise LoginError(_login_text(exc)) from None

    def parse_redirect(self, text: str) -> str:
        """The request token in a pasted redirect address; LoginError says what is wrong with it."""
        try:
            return parse_redirect_url(text).value
        except KiteLoginError as exc:
            raise LoginError(_login_text(exc)) from None

    async def login(self, request_token: str, api_secret: str | None, remember: StoreChoice) -> None:
        """Exchange the request token for the day's access token; keep the secret and the token as allowed."""
        secret = await self._secret(api_secret)
        try:
            session = await self._login.exchange(RequestToken(request_token), secret)
        except BrokerSessionExpired:
            raise LoginError("Kite refused the login: the API secret is wrong, or the request token was used or "
                             "is older than a few minutes; log in again") from None
        except BrokerUnreachable:
            raise LoginError(f"Kite could not be reached at {self.kite.rest_url}") from None
        except (BrokerError, KiteLoginError) as exc:
            raise LoginError(f"the login failed ({type(exc).__name__})") from None
        except ValueError:
            raise LoginError("the request token must be letters and digits") from None
        self._token, self.user_id = session.access_token, session.user_id
        self._has_secret = True
        await self._keep(remember, secret, session.access_token)

    async def _secret(self, given: str | None) -> ApiSecret:
        if given:
            try:
                return ApiSecret(given)
            except ValueError:
                raise LoginError("the API secret must be letters and digits") from None
        api_key, home = self.kite.api_key, self.home

        def stored() -> ApiSecret | None:
            for make in (lambda: KeyringStore(api_key), lambda: FileStore(home, api_key)):
                try:
                    secret = make().api_secret()
                except SecretStoreError:
                    continue
                if secret is not None:
                    return secret
            return None

        found = await self._offload.thread(stored, "kite-secrets")
        if found is None:
            raise LoginError("the API secret is needed (it is not stored)")
        return found

    async def _keep(self, remember: StoreChoice, secret: ApiSecret, token: AccessToken) -> None:
        api_key, home = self.kite.api_key, self.home

        def keep() -> None:
            store: SecretStore
            if remember is StoreChoice.KEYRING:
                store = KeyringStore(api_key)
            elif remember is StoreChoice.FILE:
                store = FileStore(home, api_key)
            else:
                store = NoStore()
            store.save_api_secret(secret)
            store.save_access_token(token)

        try:
            await self._offload.thread(keep, "kite-secrets")
        except SecretStoreError as exc:
            # The login stands (the token is in memory); the trader is asked again next time.
            log.warning("could not keep the Kite login in %s: %s", remember.value, type(exc).__name__)

    # -- the connection ------------------------------------------------------------------------------------------
    async def connect(self, streams: RandomStreams | None = None) -> KiteVenue:
        """Instruments, REST, ticker (and, live, the broker), started: the venue the desk's engine runs on."""
        if self._token is None:
            raise LiveConnectError("not logged in to Kite")
        config = self.config
        try:
            spec = (await self._offload.thread(lambda: load_catalog(config), "instruments")).spec
            venue = await build_kite_venue(
                self.kite, clock=self._clock, offload=self._offload, home=self.home,
                access_token=self._token.value, spec=spec, underlyings=list(config.market.underlyings),
                desk_id=config.telemetry.desk_id or default_desk_id(self.home / "execution_quality_live.jsonl"),
                live=self.mode is Mode.LIVE,
                jitter=(streams or RandomStreams(config.market.seed)).stream("kite", "ticker-reconnect"),
            )
        except (BrokerError, InstrumentError, ConfigError) as exc:
            raise LiveConnectError(_connect_text(exc)) from None
        try:
            ready = await venue.start(self.kite.ready_timeout_s)
        except BaseException:
            await venue.aclose()
            raise
        if not ready:
            log.warning("Kite: no index tick within %.0f s; the desk starts with its feed not ready",
                        self.kite.ready_timeout_s)
        return venue

    async def relogin_token(self, request_token: str, api_secret: str | None, remember: StoreChoice) -> str:
        """`login`, then the new access token's value (for the venue's REST client and ticker)."""
        await self.login(request_token, api_secret, remember)
        assert self._token is not None
        return self._token.value


async def connect_headless(connector: LiveConnector) -> KiteVenue:
    """`serve`'s connection: the stored login, else the environment's token; never a browser. Raises LoginError
    saying how to provide one."""
    token = os.environ.get(ACCESS_TOKEN_ENV)
    if not await connector.saved_login():
        if not token:
            raise LoginError(
                f"no Kite login for today: log in once from the window (./scripts/desk --mode "
                f"{connector.mode.value}), which keeps the day's token in the OS keyring or the secrets file, or set "
                f"{ACCESS_TOKEN_ENV}")
        connector.use_token(token)
    return await connector.connect()


def _login_text(exc: KiteLoginError) -> str:
    if isinstance(exc, LoginFailed):
        return "Kite reported the login as failed: log in again"
    return str(exc) or type(exc).__name__


def _connect_text(exc: Exception) -> str:
    if isinstance(exc, BrokerSessionExpired):
        return "Kite refused the access token: log in again"
    if isinstance(exc, BrokerUnreachable):
        return "Kite could not be reached"
    if isinstance(exc, ConfigError):
        return exc.errors[0]
    return f"{type(exc).__name__}: {exc}"
