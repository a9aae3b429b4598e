"""The client tag Kite stores with each order: unique per trading day across restarts and across desks on one account.

Kite's only handle on an order whose placement answer was lost is its `tag` (alphanumeric, at most 20 characters;
no idempotency key), and `orders()` covers the whole day. The stack's own tags (`{id_prefix}P{seq:06d}C{index}`)
restart at `P000001C0` on every start, so sent as they are, reconcile-by-tag after a restart could adopt the
morning's order. A Kite tag is therefore

    desk (3) + session (2) + parent seq (5) + child index (2) + the stack's id prefix (0..8)      <= 20

all upper-case base 36, fixed widths first so the encoding is reversible:
- desk: three characters from the desk id's SHA-256 (or set in the config), so two desks trading one account
  differ even when each counts its sessions from 1;
- session: a per-day counter claimed at desk start by creating `<home>/kite/tag_sessions/<day>-<n>` exclusively
  (O_EXCL: two desks sharing a home cannot claim the same number, and a crash never reuses one). A counter on disk,
  not a seeded draw: a random prefix from the engine's named streams would repeat on the same seed.

Tags from another session (an earlier start today, another desk) decode to None: they are not ours to adopt.
Every tag is validated before it is returned; a tag that breaks Kite's rules raises before anything is sent.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

__all__ = [
    "MAX_TAG_LENGTH",
    "KiteTagError",
    "KiteTags",
    "TagParts",
    "claim_session",
    "desk_code",
    "parse_tag",
    "trading_day",
    "validate_tag",
]

MAX_TAG_LENGTH = 20
IST = timezone(timedelta(hours=5, minutes=30), "IST")
_DIGITS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_DESK_WIDTH, _SESSION_WIDTH, _SEQ_WIDTH, _INDEX_WIDTH = 3, 2, 5, 2
_HEAD = _DESK_WIDTH + _SESSION_WIDTH
_FIXED = _HEAD + _SEQ_WIDTH + _INDEX_WIDTH
MAX_SESSIONS_PER_DAY = 36**_SESSION_WIDTH - 1
MAX_PARENT_SEQ = 36**_SEQ_WIDTH - 1
MAX_CHILD_INDEX = 36**_INDEX_WIDTH - 1
MAX_ID_PREFIX = MAX_TAG_LENGTH - _FIXED
_KITE_TAG = re.compile(r"[A-Za-z0-9]{1,20}")
_STACK_TAG = re.compile(r"(?P<prefix>[A-Z0-9]*)P(?P<seq>\d+)C(?P<index>\d+)")
_DESK_CODE = re.compile(rf"[A-Z0-9]{{{_DESK_WIDTH}}}")


class KiteTagError(ValueError):
    """A tag that Kite would refuse, or a stack tag that cannot be made into one."""


def validate_tag(tag: str) -> str:
    """`tag` if Kite accepts it (1-20 characters, ASCII letters and digits only); raises KiteTagError otherwise."""
    if not _KITE_TAG.fullmatch(tag):
        raise KiteTagError(f"Kite tag {tag!r} must be 1-{MAX_TAG_LENGTH} ASCII letters or digits")
    return tag


def _base36(value: int, width: int) -> str:
    out = ""
    for _ in range(width):
        value, digit = divmod(value, 36)
        out = _DIGITS[digit] + out
    if value:
        raise KiteTagError(f"{value} does not fit in {width} base-36 digits")
    return out


def desk_code(desk_id: str) -> str:
    """Three base-36 characters from the desk id (default_desk_id: host and home), stable across restarts."""
    digest = int.from_bytes(hashlib.sha256(desk_id.encode()).digest()[:8], "big")
    return _base36(digest % 36**_DESK_WIDTH, _DESK_WIDTH)


def trading_day(epoch_s: float) -> date:
    """The Indian trading day of an instant (the order book and the session counter roll over on IST dates)."""
    return datetime.fromtimestamp(epoch_s, UTC).astimezone(IST).date()


@dataclass(frozen=True, slots=True)
class TagParts:
    """A Kite tag in this scheme, taken apart."""

    desk: str
    session: int
    stack_tag: str


@dataclass(frozen=True, slots=True)
class KiteTags:
    """Encodes the stack's tags for Kite and decodes Kite's back, for one desk session (see `claim_session`).
    Immutable: safe to share between the loop and the REST threads."""

    desk: str
    session: int

    def __post_init__(self) -> None:
        if not _DESK_CODE.fullmatch(self.desk):
            raise KiteTagError(f"desk code {self.desk!r} must be {_DESK_WIDTH} characters from A-Z and 0-9")
        if not 1 <= self.session <= MAX_SESSIONS_PER_DAY:
            raise KiteTagError(f"session {self.session} is outside 1..{MAX_SESSIONS_PER_DAY}")

    @property
    def prefix(self) -> str:
        return self.desk + _base36(self.session, _SESSION_WIDTH)

    def encode(self, stack_tag: str) -> str:
        """The Kite tag for a stack tag; raises KiteTagError if the stack tag is not `{prefix}P{seq}C{index}` with
        seq, index and prefix within their widths."""
        match = _STACK_TAG.fullmatch(stack_tag)
        if match is None:
            raise KiteTagError(f"stack tag {stack_tag!r} is not of the form <prefix>P<seq>C<index>")
        seq, index, id_prefix = int(match["seq"]), int(match["index"]), match["prefix"]
        if not 0 <= seq <= MAX_PARENT_SEQ or index > MAX_CHILD_INDEX or len(id_prefix) > MAX_ID_PREFIX:
            raise KiteTagError(
                f"stack tag {stack_tag!r} does not fit a Kite tag (parent seq <= {MAX_PARENT_SEQ}, child index <= "
                f"{MAX_CHILD_INDEX}, id prefix <= {MAX_ID_PREFIX} characters)"
            )
        tag = self.prefix + _base36(seq, _SEQ_WIDTH) + _base36(index, _INDEX_WIDTH) + id_prefix
        if _stack_tag(tag[_HEAD:]) != stack_tag:  # e.g. a zero-padded index: it would come back spelled otherwise
            raise KiteTagError(f"stack tag {stack_tag!r} is not in the stack's canonical spelling")
        return validate_tag(tag)

    def decode(self, kite_tag: str | None) -> str | None:
        """The stack tag behind a Kite tag of THIS session; None for any other tag (another start today, another
        desk, another platform, no tag)."""
        parts = parse_tag(kite_tag)
        if parts is None or parts.desk != self.desk or parts.session != self.session:
            return None
        return parts.stack_tag


def _stack_tag(body: str) -> str | None:
    try:
        seq = int(body[:_SEQ_WIDTH], 36)
        index = int(body[_SEQ_WIDTH : _SEQ_WIDTH + _INDEX_WIDTH], 36)
    except ValueError:
        return None
    return f"{body[_SEQ_WIDTH + _INDEX_WIDTH :]}P{seq:06d}C{index}"


def parse_tag(kite_tag: str | None) -> TagParts | None:
    """A tag in this scheme taken apart, or None if it is not one."""
    if kite_tag is None or not _KITE_TAG.fullmatch(kite_tag) or len(kite_tag) < _FIXED:
        return None
    tag = kite_tag.upper()
    stack = _stack_tag(tag[_HEAD:])
    session = int(tag[_DESK_WIDTH:_HEAD], 36)
    if stack is None or session == 0:
        return None
    return TagParts(desk=tag[:_DESK_WIDTH], session=session, stack_tag=stack)


def claim_session(home: Path, day: date, desk: str) -> KiteTags:
    """Claim the next tag session of `day` for this desk, once per desk start. Each claim creates
    `<home>/kite/tag_sessions/<day>-<n>` with O_EXCL, so the number is never handed out twice (not across restarts,
    not to two desks sharing a home); files of other days are removed."""
    KiteTags(desk=desk, session=1)  # a bad desk code raises before a session number is used up
    directory = home / "kite" / "tag_sessions"
    directory.mkdir(parents=True, exist_ok=True)
    stem = day.isoformat()
    taken = [0]
    for path in directory.iterdir():
        name, _, number = path.name.rpartition("-")
        if name == stem and number.isdigit():
            taken.append(int(number))
        elif name != stem:
            path.unlink(missing_ok=True)  # an earlier day's claims: that order book is gone
    for session in range(max(taken) + 1, MAX_SESSIONS_PER_DAY + 1):
        try:
            fd = os.open(directory / f"{stem}-{session:04d}", os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        except FileExistsError:  # another desk sharing this home claimed it first
            continue
        os.close(fd)
        _sync_directory(directory)
        return KiteTags(desk=desk, session=session)
    raise KiteTagError(f"all {MAX_SESSIONS_PER_DAY} tag sessions of {stem} are used: restart tomorrow")


def _sync_directory(directory: Path) -> None:
    """Make the claim survive a power cut: a session number reused after one could meet its own morning orders."""
    if os.name != "posix":
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
