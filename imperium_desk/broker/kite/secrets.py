"""Where the Kite api_secret and the day's access token are kept between logins (kite-notes §4).

Three stores behind one port, chosen by `KiteConfig.token_store`:

- `KeyringStore`: the OS keyring, and only through a RECOMMENDED backend (Secret Service, macOS Keychain, Windows
  Credential Locker). Refused: keyring's `fail` backend (what a headless Linux session gets: without
  DBUS_SESSION_BUS_ADDRESS Secret Service cannot start and `fail` becomes the default), its `null` backend, a
  chainer with nothing usable to chain, anything below keyring's own "recommended" priority of 1, and every class
  from `keyrings.alt`: merely installing that package makes its PlaintextKeyring the silent default, writing
  secrets in clear text under ~/.local/share/python_keyring/.
- `FileStore`: an explicit, user-consented fallback, a JSON file under the desk's home in a 0700 directory. Every
  write creates a new file with `os.open(O_CREAT|O_EXCL|O_WRONLY, 0o600)` (born private: no window between create
  and chmod), fsyncs it and renames it over the old one, so a crash leaves the old file or the new one, never half
  of either. A file that is wider than 0600, not the user's own, or not a regular file is refused, not read.
- `NoStore`: keeps nothing; the secret is asked for at every login.

What is kept: the api_secret (long-term) and the access token with its expiry (the next 06:00 IST after it was
issued). Nothing else. A token past its expiry is never returned and is deleted when found.

Nothing here logs a secret or puts one in an exception message or a repr: the value types mask themselves, keyring
and file errors are re-raised with their class and the store's location only, and a malformed file is reported by
field path without its contents.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import stat
import sys
import threading
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Literal, Protocol

import keyring
import keyring.backend
import keyring.backends.chainer
import keyring.backends.fail
import keyring.backends.null
import keyring.errors
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from imperium_desk.home import replace_private

__all__ = [
    "KEYRING_SERVICE",
    "AccessToken",
    "ApiSecret",
    "FileProblem",
    "FileStore",
    "KeyringRefusal",
    "KeyringStore",
    "KeyringUnusable",
    "NoStore",
    "SecretStore",
    "SecretStoreError",
    "SecretStoreUnavailable",
    "UnsafeSecretFile",
    "choose_store",
    "refusal_of",
    "secrets_path",
]

log = logging.getLogger(__name__)

KEYRING_SERVICE = "imperium-desk/kite"
_MASK = "****"


# -- the values ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, repr=False)
class ApiSecret:
    """The Kite Connect app's api_secret. Its repr and str are masked, so it can pass through log calls and
    tracebacks without showing; only `.value` reveals it (for the checksum)."""

    value: str

    def __post_init__(self) -> None:
        if not self.value:
            raise ValueError("an api_secret cannot be empty")

    def __repr__(self) -> str:
        return f"ApiSecret({_MASK})"


@dataclass(frozen=True, slots=True, repr=False)
class AccessToken:
    """The day's Kite access token and when it dies (`expires_at`, epoch seconds: the next 06:00 IST after it was
    issued). Its repr and str show the expiry only."""

    value: str
    expires_at: float

    def __post_init__(self) -> None:
        if not self.value:
            raise ValueError("an access token cannot be empty")

    def __repr__(self) -> str:
        return f"AccessToken({_MASK}, expires_at={self.expires_at})"

    def expired(self, now: float) -> bool:
        """True from `expires_at` on (epoch seconds)."""
        return now >= self.expires_at


# -- errors --------------------------------------------------------------------------------------------------------


class SecretStoreError(Exception):
    """A secret could not be kept or read. The message names the store and what to do; it never holds a secret."""


class KeyringRefusal(StrEnum):
    """Why a keyring backend is not trusted with the secrets."""

    NO_BACKEND = "no_backend"  # keyring's `fail` backend: no recommended backend could start (headless, no D-Bus)
    DISCARDS = "discards"  # keyring's `null` backend: accepts and forgets
    EMPTY_CHAIN = "empty_chain"  # a chainer with no backend to chain
    PLAINTEXT = "plaintext"  # a `keyrings.alt` class: a file in clear text or with a terminal-prompted password
    CANNOT_START = "cannot_start"  # the backend says it cannot run here (Secret Service without a D-Bus session)
    NOT_RECOMMENDED = "not_recommended"  # priority below 1 (keyring's own bar for "recommended")


class KeyringUnusable(SecretStoreError):
    """The configured keyring backend is not a recommended one (`reason` says which way). Nothing was stored. The
    caller may ask the user whether to keep the secrets in the 0600 file under home instead (then
    `choose_store(..., allow_file=True)`), or not at all (`token_store: ask`)."""

    def __init__(self, reason: KeyringRefusal, backend: str) -> None:
        super().__init__(
            f"the OS keyring cannot be used ({backend}: {_REFUSAL_TEXT[reason]}). Unlock or start the desktop "
            f"keyring (GNOME Keyring / KWallet through Secret Service, macOS Keychain, Windows Credential Locker), "
            f"or set kite.token_store to 'file' (a 0600 file under the desk's home) or 'ask' (nothing kept)"
        )
        self.reason = reason
        self.backend = backend


_REFUSAL_TEXT = {
    KeyringRefusal.NO_BACKEND: "no recommended backend is available; on Linux this usually means no D-Bus session "
    "(DBUS_SESSION_BUS_ADDRESS unset) or no Secret Service running",
    KeyringRefusal.DISCARDS: "the null backend keeps nothing",
    KeyringRefusal.EMPTY_CHAIN: "the chainer has no usable backend to chain",
    KeyringRefusal.PLAINTEXT: "a keyrings.alt backend writes secrets to a plain or weakly protected file; it is "
    "never used",
    KeyringRefusal.CANNOT_START: "it cannot run here; on Linux this usually means no D-Bus session",
    KeyringRefusal.NOT_RECOMMENDED: "its priority is below keyring's recommended level",
}


class SecretStoreUnavailable(SecretStoreError):
    """The store exists but could not be used just now (keyring locked or its D-Bus call failed, the file could not
    be read or written). Nothing was changed unless the message says so; retry or log in without it."""


class FileProblem(StrEnum):
    """What is wrong with the secrets file or its directory."""

    TOO_OPEN = "too_open"  # readable or writable by group/others
    NOT_OWNED = "not_owned"  # owned by another user
    NOT_REGULAR = "not_regular"  # a symlink, a directory, a device...
    MALFORMED = "malformed"  # not the JSON this store writes


class UnsafeSecretFile(SecretStoreError):
    """The secrets file (or its directory) is not safe or not ours to read: `problem` says why, the message names the
    path and the fix. Nothing was read from it or written to it."""

    def __init__(self, path: Path, problem: FileProblem, detail: str) -> None:
        super().__init__(f"{path}: {detail}")
        self.path = path
        self.problem = problem


# -- the port ------------------------------------------------------------------------------------------------------


class SecretStore(Protocol):
    """Keeps one Kite app's api_secret (long-term) and the day's access token with its expiry. Nothing else.

    Threading: every method BLOCKS (keyring talks D-Bus or the OS keychain, the file store does file I/O and
    fsync), so callers on the event loop run them through `Offloader.thread`. Each store is safe to call from more
    than one thread; two desks sharing a store see each other's last write.

    Promises:
    - `api_secret()` is the secret last saved for this api_key, or None.
    - `access_token(now)` is the token last saved, or None; a token whose expiry is at or before `now` (epoch
      seconds) is never returned, and is deleted.
    - `save_*` replace the previous value; `forget_access_token()` drops the token (a 403 mid-session: the token
      was invalidated); `forget()` drops both. None of them raises for a value that is not there.
    - Failures raise `SecretStoreError` subclasses whose messages never contain a secret.
    - `where` says in words where the secrets are kept, for the Connect dialog to show.
    """

    @property
    def where(self) -> str: ...

    def api_secret(self) -> ApiSecret | None: ...

    def save_api_secret(self, secret: ApiSecret) -> None: ...

    def access_token(self, now: float) -> AccessToken | None: ...

    def save_access_token(self, token: AccessToken) -> None: ...

    def forget_access_token(self) -> None: ...

    def forget(self) -> None: ...


# -- keyring -------------------------------------------------------------------------------------------------------


def _backend_name(backend: keyring.backend.KeyringBackend) -> str:
    cls = type(backend)
    return f"{cls.__module__}.{cls.__qualname__}"


def _priority(backend: keyring.backend.KeyringBackend) -> float | None:
    """The backend's priority, or None when asking raises (Secret Service's does when it cannot start)."""
    try:
        return float(type(backend).priority)
    except Exception:
        return None


def refusal_of(backend: keyring.backend.KeyringBackend) -> KeyringRefusal | None:
    """Why `backend` is not trusted with the secrets, or None when it is a recommended one."""
    if type(backend).__module__.startswith("keyrings.alt"):
        return KeyringRefusal.PLAINTEXT
    if isinstance(backend, keyring.backends.fail.Keyring):
        return KeyringRefusal.NO_BACKEND
    if isinstance(backend, keyring.backends.null.Keyring):
        return KeyringRefusal.DISCARDS
    if isinstance(backend, keyring.backends.chainer.ChainerBackend):
        chained: list[keyring.backend.KeyringBackend] = list(backend.backends)
        if not chained:
            return KeyringRefusal.EMPTY_CHAIN
        # Every link must pass: a write goes to the first link that takes it, a read to the first that answers,
        # so one plaintext link can receive or serve the secret.
        for link in chained:
            refusal = refusal_of(link)
            if refusal is not None:
                return refusal
        return None
    priority = _priority(backend)
    if priority is None:
        return KeyringRefusal.CANNOT_START
    if priority < 1:
        return KeyringRefusal.NOT_RECOMMENDED
    return None


class KeyringStore:
    """The secrets in the OS keyring under service `imperium-desk/kite`, user `<api_key>/api_secret` and
    `<api_key>/access_token` (the token with its expiry as JSON). Built only on a recommended backend (see
    `refusal_of`): construction raises `KeyringUnusable` otherwise. Contract: `SecretStore`."""

    def __init__(self, api_key: str, backend: keyring.backend.KeyringBackend | None = None) -> None:
        chosen = backend if backend is not None else keyring.get_keyring()
        refusal = refusal_of(chosen)
        if refusal is not None:
            raise KeyringUnusable(refusal, _backend_name(chosen))
        self._backend = chosen
        self._api_key = api_key

    @property
    def where(self) -> str:
        return f"the OS keyring ({_backend_name(self._backend)})"

    def _user(self, what: str) -> str:
        return f"{self._api_key}/{what}"

    def _get(self, what: str) -> str | None:
        try:
            return self._backend.get_password(KEYRING_SERVICE, self._user(what))
        except Exception as exc:  # a backend's D-Bus or OS error may not be a KeyringError
            raise SecretStoreUnavailable(_keyring_failure("read", exc)) from None

    def _set(self, what: str, value: str) -> None:
        try:
            self._backend.set_password(KEYRING_SERVICE, self._user(what), value)
        except Exception as exc:
            raise SecretStoreUnavailable(_keyring_failure("save", exc)) from None

    def _delete(self, what: str) -> None:
        try:
            self._backend.delete_password(KEYRING_SERVICE, self._user(what))
        except keyring.errors.PasswordDeleteError:
            return  # not there: nothing to forget
        except Exception as exc:
            raise SecretStoreUnavailable(_keyring_failure("delete", exc)) from None

    def api_secret(self) -> ApiSecret | None:
        value = self._get("api_secret")
        return ApiSecret(value) if value else None

    def save_api_secret(self, secret: ApiSecret) -> None:
        self._set("api_secret", secret.value)

    def access_token(self, now: float) -> AccessToken | None:
        raw = self._get("access_token")
        if raw is None:
            return None
        token = _token_from_json(raw)
        if token is None:
            log.warning("the access token kept in the OS keyring was unreadable and was deleted")
            self._delete("access_token")
            return None
        if token.expired(now):
            self._delete("access_token")
            return None
        return token

    def save_access_token(self, token: AccessToken) -> None:
        self._set("access_token", json.dumps({"value": token.value, "expires_at": token.expires_at}))

    def forget_access_token(self) -> None:
        self._delete("access_token")

    def forget(self) -> None:
        self._delete("access_token")
        self._delete("api_secret")


def _keyring_failure(action: str, exc: Exception) -> str:
    # The class says enough (KeyringLocked, InitError, PasswordSetError...); keyring's messages can quote what
    # was passed to it, so they are not repeated.
    return f"the OS keyring could not {action} the Kite secret ({type(exc).__name__}); unlock the keyring and retry"


def _token_from_json(raw: str) -> AccessToken | None:
    try:
        data = json.loads(raw)
        return AccessToken(str(data["value"]), float(data["expires_at"]))
    except (ValueError, TypeError, KeyError):
        return None


# -- the file ------------------------------------------------------------------------------------------------------


class _StoredToken(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    value: str = Field(min_length=1)
    expires_at: float


class _StoredApp(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    api_secret: str | None = Field(default=None, min_length=1)
    access_token: _StoredToken | None = None


class _SecretsFile(BaseModel):
    """The file's shape: one entry per api_key, so a second Kite app never reads the first one's secret."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: Literal[1] = 1
    apps: dict[str, _StoredApp] = Field(default_factory=dict)


def secrets_path(home: Path) -> Path:
    """The file store's path under the desk's home. Its directory is the store's alone (0700); `<home>/kite` itself
    also holds the instruments cache and tag counters, which are not secret."""
    return home / "kite" / "secrets" / "secrets.json"


_READ_FLAGS = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
_PRIVATE_DIR = 0o700


class FileStore:
    """The secrets in a JSON file (`secrets_path(home)`) that only the user can read, the fallback the user agreed
    to. Every save writes a whole new file created 0600 with O_EXCL next to the old one, fsyncs it and renames it
    over the old one (then fsyncs the directory): a failure at any step leaves the old file as it was and no
    temporary behind. Reads open the file without following a symlink and check the open file itself (owner, mode
    0600 or narrower, a regular file) before reading a byte. Contract: `SecretStore`."""

    def __init__(self, home: Path, api_key: str) -> None:
        if sys.platform == "win32":  # pragma: no cover - POSIX modes and owners are what make the file private
            raise SecretStoreUnavailable("the secrets file needs POSIX file permissions; use the keyring on Windows")
        self.path = secrets_path(home)
        self._api_key = api_key
        self._lock = threading.Lock()  # one read-modify-write at a time within this process

    @property
    def where(self) -> str:
        return f"the file {self.path} (readable by this user only)"

    # reads

    def _check_dir(self, create: bool) -> bool:
        """True when the directory exists and is private; creates it (0700) when `create`."""
        directory = self.path.parent
        if create:
            try:
                directory.parent.mkdir(parents=True, exist_ok=True)
                with contextlib.suppress(FileExistsError):
                    directory.mkdir(mode=_PRIVATE_DIR)
            except OSError as exc:
                raise SecretStoreUnavailable(
                    f"{directory}: cannot create the secrets folder ({exc.strerror})"
                ) from None
        try:
            info = directory.lstat()
        except FileNotFoundError:
            return False
        except OSError as exc:
            raise SecretStoreUnavailable(f"{directory}: cannot read the secrets folder ({exc.strerror})") from None
        if not stat.S_ISDIR(info.st_mode):
            raise UnsafeSecretFile(directory, FileProblem.NOT_REGULAR, "is not a plain directory (a symlink?)")
        if info.st_uid != os.getuid():
            raise UnsafeSecretFile(directory, FileProblem.NOT_OWNED, "belongs to another user; remove it")
        if info.st_mode & 0o077:
            raise UnsafeSecretFile(
                directory, FileProblem.TOO_OPEN,
                f"is open to other users (mode {stat.S_IMODE(info.st_mode):04o}); run chmod 700 on it",
            )
        return True

    def _read(self) -> _SecretsFile:
        if not self._check_dir(create=False):
            return _SecretsFile()
        try:
            fd = os.open(self.path, _READ_FLAGS)
        except FileNotFoundError:
            return _SecretsFile()
        except OSError as exc:
            if os.path.islink(self.path):
                raise UnsafeSecretFile(self.path, FileProblem.NOT_REGULAR, "is a symlink; remove it") from None
            raise SecretStoreUnavailable(f"{self.path}: cannot open ({exc.strerror})") from None
        with os.fdopen(fd, "rb") as handle:
            info = os.fstat(handle.fileno())
            if not stat.S_ISREG(info.st_mode):
                raise UnsafeSecretFile(self.path, FileProblem.NOT_REGULAR, "is not a regular file; remove it")
            if info.st_uid != os.getuid():
                raise UnsafeSecretFile(self.path, FileProblem.NOT_OWNED, "belongs to another user; remove it")
            if info.st_mode & 0o077:
                raise UnsafeSecretFile(
                    self.path, FileProblem.TOO_OPEN,
                    f"is open to other users (mode {stat.S_IMODE(info.st_mode):04o}); its secrets may be known: "
                    f"delete it, change the api_secret on developers.kite.trade and log in again",
                )
            data = handle.read()
        try:
            return _SecretsFile.model_validate_json(data)
        except ValidationError as exc:
            # Field paths only: pydantic's own message quotes the input, which is the secret.
            where = ", ".join(".".join(map(str, e["loc"])) or "<file>" for e in exc.errors(include_input=False))
            raise UnsafeSecretFile(
                self.path, FileProblem.MALFORMED, f"is not a secrets file this desk wrote (at {where}); delete it"
            ) from None

    # writes

    def _write(self, content: _SecretsFile) -> None:
        self._check_dir(create=True)
        try:
            replace_private(self.path, content.model_dump_json().encode())
        except OSError as exc:
            raise SecretStoreUnavailable(f"{self.path}: cannot write the secrets ({exc.strerror}); the old file is "
                                         f"unchanged") from None
        self._sync_dir()

    def _sync_dir(self) -> None:
        # The rename is durable only once the directory entry is; a failure here leaves a complete file either way.
        try:
            fd = os.open(self.path.parent, os.O_RDONLY)
        except OSError:
            return
        try:
            os.fsync(fd)
        except OSError:
            log.warning("could not fsync %s after saving the Kite secrets", self.path.parent)
        finally:
            os.close(fd)

    def _app(self, content: _SecretsFile) -> _StoredApp:
        return content.apps.get(self._api_key, _StoredApp())

    def _update(self, content: _SecretsFile, app: _StoredApp) -> None:
        apps = dict(content.apps)
        if app.api_secret is None and app.access_token is None:
            apps.pop(self._api_key, None)
        else:
            apps[self._api_key] = app
        self._write(_SecretsFile(apps=apps))

    def api_secret(self) -> ApiSecret | None:
        with self._lock:
            stored = self._app(self._read()).api_secret
        return ApiSecret(stored) if stored else None

    def save_api_secret(self, secret: ApiSecret) -> None:
        with self._lock:
            content = self._read()
            self._update(content, self._app(content).model_copy(update={"api_secret": secret.value}))

    def access_token(self, now: float) -> AccessToken | None:
        with self._lock:
            content = self._read()
            app = self._app(content)
            if app.access_token is None:
                return None
            token = AccessToken(app.access_token.value, app.access_token.expires_at)
            if token.expired(now):
                self._update(content, app.model_copy(update={"access_token": None}))
                return None
            return token

    def save_access_token(self, token: AccessToken) -> None:
        stored = _StoredToken(value=token.value, expires_at=token.expires_at)
        with self._lock:
            content = self._read()
            self._update(content, self._app(content).model_copy(update={"access_token": stored}))

    def forget_access_token(self) -> None:
        with self._lock:
            content = self._read()
            app = self._app(content)
            if app.access_token is not None:
                self._update(content, app.model_copy(update={"access_token": None}))

    def forget(self) -> None:
        with self._lock:
            content = self._read()
            if self._api_key in content.apps:
                self._update(content, _StoredApp())


# -- nowhere -------------------------------------------------------------------------------------------------------


class NoStore:
    """Keeps nothing: every login asks for the api_secret, and a restart asks for a new login. Contract:
    `SecretStore` (its methods return at once)."""

    @property
    def where(self) -> str:
        return "nowhere (asked for at every login)"

    def api_secret(self) -> ApiSecret | None:
        return None

    def save_api_secret(self, secret: ApiSecret) -> None:
        return None

    def access_token(self, now: float) -> AccessToken | None:
        return None

    def save_access_token(self, token: AccessToken) -> None:
        return None

    def forget_access_token(self) -> None:
        return None

    def forget(self) -> None:
        return None


# -- choosing ------------------------------------------------------------------------------------------------------


def choose_store(
    token_store: Literal["keyring", "file", "ask"], home: Path, *, api_key: str, allow_file: bool
) -> SecretStore:
    """The store `token_store` (KiteConfig.token_store) names, for one api_key.

    `keyring` with no recommended backend raises `KeyringUnusable` unless `allow_file` (the user agreed to the file
    when asked), which gives the `FileStore` instead. `file` is the config's own opt-in; `ask` keeps nothing.
    BLOCKS (probing the keyring may start a D-Bus connection): call it off the loop.
    """
    if token_store == "ask":
        return NoStore()
    if token_store == "file":
        return FileStore(home, api_key)
    try:
        return KeyringStore(api_key)
    except KeyringUnusable as refused:
        if not allow_file:
            raise
        log.warning("the OS keyring is not usable (%s); keeping the Kite secrets in %s as agreed",
                    refused.reason, secrets_path(home))
        return FileStore(home, api_key)
