"""The API's bearer token: created once in `<home>/feedback.token` (mode 0600), reused on every later start.

Creation is atomic and exclusive (written under a temporary name, then hard-linked into place, which fails if the
file exists), so two desks starting on one home agree on one token and nobody ever reads a half-written file.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
from pathlib import Path
from typing import Final

from imperium_desk.feedback.backend import FeedbackStartError

TOKEN_FILE: Final = "feedback.token"
_TOKEN_BYTES: Final = 32  # 256 bits, url-safe base64: 43 characters
_MIN_LENGTH: Final = 16


class TokenFileError(FeedbackStartError):
    """The token file exists but cannot be used (unreadable, empty, or readable by others)."""


def token_path(home: Path) -> Path:
    return home / TOKEN_FILE


def load_or_create_token(path: Path) -> str:
    """The token in `path`, creating it (0600) if there is none. Blocking file I/O: call it off the event loop."""
    try:
        return _load_or_create(path)
    except TokenFileError:
        raise
    except OSError as exc:
        raise TokenFileError(f"{path}: cannot read or create the token file: {exc.strerror or exc}") from None


def _load_or_create(path: Path) -> str:
    try:
        return _read(path)
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    token = secrets.token_urlsafe(_TOKEN_BYTES)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="ascii") as file:
            file.write(token + "\n")
            file.flush()
            os.fsync(file.fileno())
        try:
            os.link(tmp, path)  # fails if another process created the file first: then theirs is the token
        except FileExistsError:
            return _read(path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    return token


def _read(path: Path) -> str:
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise TokenFileError(
            f"{path}: the token file is readable by other users (mode {stat.S_IMODE(mode):o}); "
            "run `chmod 600` on it or delete it to have a new one made"
        )
    try:
        token = path.read_text(encoding="ascii").strip()
    except UnicodeDecodeError:
        token = ""
    if len(token) < _MIN_LENGTH:
        raise TokenFileError(f"{path}: holds no usable token (fewer than {_MIN_LENGTH} characters); delete it to "
                             "have a new one made")
    return token
