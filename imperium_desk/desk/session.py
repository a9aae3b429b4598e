"""The broker session of a desk in a live mode: the token's life (a warning ahead of 06:00 IST, a refused token
stopping every order), the feed's health for the status bar, and a new login mid-session.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from imperium_desk.clock import Cancellable, VirtualClock, WallClock
from imperium_desk.desk.events import DeskEvent, FeedEvent, SessionEvent, SessionState
from imperium_desk.desk.live import StoreChoice

if TYPE_CHECKING:  # the Kite client loads only in the live modes
    from imperium_desk.broker.kite.factory import KiteVenue
    from imperium_desk.desk.connector import LiveConnector

EXPIRY_CHECK_S = 30.0  # how often the token's expiry is looked at (a timer, not a wall-clock read per order)
FEED_CHECK_S = 1.0  # how often the feed's health is re-sent while it is stale (seconds since the last tick)


class DeskSession:
    """Watches one venue's session and feed for the desk, and logs in again. Called on the loop.

    `expired` is True from a refused token (REST 403 or the ticker's handshake) until `relogin` succeeds: the desk
    refuses new orders meanwhile (the broker would refuse them too). The token's expiry is warned of once,
    `expiry_warning_s` ahead (SessionEvent EXPIRING); at expiry the session counts as expired without waiting for a
    403. Feed health goes out as FeedEvents on every change, and each second while stale.
    """

    def __init__(self, venue: KiteVenue, connector: LiveConnector, *, clock: WallClock | VirtualClock,
                 emit: Callable[[DeskEvent], None], resumed: Callable[[], None]) -> None:
        self.venue = venue
        self.connector = connector
        self._clock = clock
        self._emit = emit
        self._resumed = resumed
        self.expired = False
        self._warned = False
        self._reconnects = 0
        self._was_connected = False
        self._timers: list[Cancellable | None] = [None, None]
        venue.on_session_expired(self._on_expired)
        venue.market.add_stale_listener(lambda _stale: self._feed_changed())
        venue.ticker.add_state_listener(lambda _state: self._feed_changed())

    @property
    def expires_at(self) -> float | None:
        return self.connector.token_expiry

    def start(self) -> None:
        self._timers[0] = self._clock.call_later(0.0, self._check_expiry)
        self._timers[1] = self._clock.call_later(FEED_CHECK_S, self._feed_tick)
        self._feed_changed()

    def stop(self) -> None:
        for timer in self._timers:
            if timer is not None:
                timer.cancel()

    async def relogin(self, request_token: str, api_secret: str | None, remember: StoreChoice) -> None:
        """A new login's token for REST and the ticker; the desk sends orders again. Raises LoginError."""
        token = await self.connector.relogin_token(request_token, api_secret, remember)
        self.venue.set_access_token(token)
        self.expired = False
        self._warned = False
        self._emit(SessionEvent(SessionState.VALID, self.expires_at, "logged in to Kite: orders go out again"))
        if self.venue.broker is not None:
            self._clock.loop.create_task(self.venue.broker.reconcile())  # what changed while logged out
        self._resumed()

    def _on_expired(self) -> None:
        if self.expired:
            return
        self.expired = True
        self._emit(SessionEvent(SessionState.EXPIRED, self.expires_at,
                                "Kite session expired: no order is sent until you log in again"))
        self._resumed()  # the desk's state (orders refused) changed

    def _check_expiry(self) -> None:
        self._timers[0] = self._clock.call_later(EXPIRY_CHECK_S, self._check_expiry)
        expires_at = self.expires_at
        if expires_at is None or self.expired:
            return
        now = self._clock.now()
        if now >= expires_at:
            self._on_expired()
        elif not self._warned and now >= expires_at - self.connector.kite.expiry_warning_s:
            self._warned = True
            minutes = max(int((expires_at - now) // 60), 0)
            self._emit(SessionEvent(SessionState.EXPIRING, expires_at,
                                    f"the Kite session ends at 06:00 IST (in {minutes} min): log in again after it"))

    def _feed_tick(self) -> None:
        self._timers[1] = self._clock.call_later(FEED_CHECK_S, self._feed_tick)
        if self.venue.market.stale:
            self._feed_changed()

    def _feed_changed(self) -> None:
        connected = self.venue.feed_connected
        if connected and not self._was_connected and self.venue.ticker.connections > 1:
            self._reconnects = self.venue.ticker.connections - 1
        self._was_connected = connected
        market = self.venue.market
        since = market.seconds_since_tick
        self._emit(FeedEvent(connected=connected, stale=market.stale, seconds_since_tick=since,
                             reconnects=self._reconnects))
