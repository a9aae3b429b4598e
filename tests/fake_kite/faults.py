"""Faults the fake Kite injects, per route and per call (kite-notes §1.5, §3.3).

A route is named as `KiteConnect._routes` names it (`Route.PLACE` is "order.place", and so on), so a test reads
like the client call it breaks. A `Fault` says what goes wrong and whether it happens BEFORE the request is acted
on (nothing was done: an error answer) or AFTER (the order exists, the client just never hears a good answer):

    Fault.error(400, "InputException", "...")        # a Kite error envelope with that status and error_type
    Fault.throttle()                                 # 429 NetworkException "Too many requests"
    Fault.html(502)                                  # a non-JSON HTML page (the client raises DataException)
    Fault.html(502, after=True)                      # ... after the order was created
    Fault.delay(2.0)                                 # act, then answer only after 2 s (client: ReadTimeout)
    Fault.drop()                                     # act, then drop the connection without an answer

`FaultPlan.inject(route, fault, times=1, skip=0)` arms a fault for the route's calls number skip+1 .. skip+times
(counted from now); `storm(route, count)` is `times=count` of `throttle()`. Thread-safe: tests arm faults from
their own thread while the server takes them on its loop. Websocket faults (drop, stall, refuse) and token
expiry are the server's methods, not faults here.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from enum import StrEnum


class Route(StrEnum):
    """The REST routes the fake serves, named as in `KiteConnect._routes`."""

    SESSION = "api.token"
    SESSION_INVALIDATE = "api.token.invalidate"
    PROFILE = "user.profile"
    MARGINS = "user.margins"
    MARGINS_SEGMENT = "user.margins.segment"
    ORDERS = "orders"
    TRADES = "trades"
    ORDER_INFO = "order.info"
    PLACE = "order.place"
    MODIFY = "order.modify"
    CANCEL = "order.cancel"
    ORDER_TRADES = "order.trades"
    POSITIONS = "portfolio.positions"
    INSTRUMENTS_ALL = "market.instruments.all"
    INSTRUMENTS = "market.instruments"
    QUOTE = "market.quote"
    LTP = "market.quote.ltp"


ORDER_WRITES = frozenset({Route.PLACE, Route.MODIFY, Route.CANCEL})


class FaultKind(StrEnum):
    ERROR = "error"  # a JSON error envelope
    HTML = "html"  # a non-JSON body with a text/html content type
    DELAY = "delay"  # the normal answer, late
    DROP = "drop"  # no answer: the connection is closed


class Phase(StrEnum):
    BEFORE = "before"  # the request is not acted on
    AFTER = "after"  # the request is acted on (an order is created, modified or cancelled) first


@dataclass(frozen=True, slots=True)
class Fault:
    """One injected misbehaviour; build it with the class methods."""

    kind: FaultKind
    phase: Phase
    status: int = 500
    error_type: str = "GeneralException"
    message: str = ""
    delay_s: float = 0.0

    @classmethod
    def error(cls, status: int, error_type: str, message: str, *, after: bool = False) -> Fault:
        return cls(FaultKind.ERROR, Phase.AFTER if after else Phase.BEFORE, status, error_type, message)

    @classmethod
    def throttle(cls) -> Fault:
        return cls.error(429, "NetworkException", "Too many requests")

    @classmethod
    def html(cls, status: int = 502, *, after: bool = False) -> Fault:
        return cls(FaultKind.HTML, Phase.AFTER if after else Phase.BEFORE, status)

    @classmethod
    def delay(cls, seconds: float) -> Fault:
        """Act on the request, then hold the answer `seconds` (longer than the client's timeout: ReadTimeout with
        the order in the book)."""
        return cls(FaultKind.DELAY, Phase.AFTER, 200, delay_s=seconds)

    @classmethod
    def drop(cls, *, after: bool = True) -> Fault:
        """Close the connection without an answer (after acting on the request unless `after=False`)."""
        return cls(FaultKind.DROP, Phase.AFTER if after else Phase.BEFORE)


@dataclass(slots=True)
class _Armed:
    fault: Fault
    skip: int
    times: int


@dataclass(frozen=True, slots=True)
class FaultHit:
    """A fault the server applied: which route, which call of that route (1-based, counted since the server
    started) and what."""

    route: Route
    call: int
    fault: Fault


class FaultPlan:
    """The armed faults of one server, consumed call by call (first armed, first served)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._armed: dict[Route, list[_Armed]] = {}
        self._calls: dict[Route, int] = {}
        self._hits: list[FaultHit] = []

    def inject(self, route: Route, fault: Fault, *, times: int = 1, skip: int = 0) -> None:
        """Apply `fault` to `times` calls of `route`, after letting the next `skip` calls through."""
        if times < 1 or skip < 0:
            raise ValueError(f"times must be >= 1 and skip >= 0, got times={times} skip={skip}")
        with self._lock:
            self._armed.setdefault(route, []).append(_Armed(fault, skip, times))

    def storm(self, route: Route, count: int) -> None:
        """The next `count` calls of `route` are refused with 429 NetworkException."""
        self.inject(route, Fault.throttle(), times=count)

    def clear(self) -> None:
        with self._lock:
            self._armed.clear()

    def take(self, route: Route) -> Fault | None:
        """The fault for this call of `route`, if one is armed (called by the server once per request)."""
        with self._lock:
            call = self._calls[route] = self._calls.get(route, 0) + 1
            queue = self._armed.get(route)
            if not queue:
                return None
            head = queue[0]
            if head.skip > 0:
                head.skip -= 1
                return None
            head.times -= 1
            if head.times == 0:
                queue.pop(0)
            self._hits.append(FaultHit(route, call, head.fault))
            return head.fault

    def hits(self) -> list[FaultHit]:
        """Every fault applied so far, in order."""
        with self._lock:
            return list(self._hits)

    def pending(self, route: Route) -> int:
        """How many calls of `route` armed faults are still waiting for (skips included)."""
        with self._lock:
            return sum(a.skip + a.times for a in self._armed.get(route, ()))
