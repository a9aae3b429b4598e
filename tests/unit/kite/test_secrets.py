"""The Kite secret stores: only a recommended keyring, a private file written atomically, nothing kept for `ask`, and
an access token never returned past its expiry. No test touches a real keyring: each sets an in-memory backend
defined here and puts the previous one back."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import keyring
import keyring.backend
import keyring.backends.chainer
import keyring.backends.fail
import keyring.backends.null
import keyring.errors
import pytest
from keyring.backends import SecretService

from imperium_desk.broker.kite.secrets import (
    KEYRING_SERVICE,
    AccessToken,
    ApiSecret,
    FileProblem,
    FileStore,
    KeyringRefusal,
    KeyringStore,
    KeyringUnusable,
    NoStore,
    SecretStoreUnavailable,
    UnsafeSecretFile,
    choose_store,
    refusal_of,
    secrets_path,
)

API_KEY = "kitekey1"
SECRET = "s3cretvalueNEVERshown"
TOKEN = "accessTOKENneverSHOWN42"
NOW = 1_800_000_000.0


class MemoryKeyring(keyring.backend.KeyringBackend):
    """A recommended-priority backend that keeps passwords in a dict. `viable = False` keeps it out of keyring's
    own backend discovery (every subclass is registered globally), so it is used only where a test sets it."""

    priority: float = 5
    viable = False

    def __init__(self) -> None:
        super().__init__()
        self.values: dict[tuple[str, str], str] = {}
        self.locked = False

    def get_password(self, service: str, username: str) -> str | None:
        if self.locked:
            raise keyring.errors.KeyringLocked("Failed to unlock the collection!")
        return self.values.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        if self.locked:
            raise keyring.errors.KeyringLocked("Failed to unlock the collection!")
        self.values[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        if (service, username) not in self.values:
            raise keyring.errors.PasswordDeleteError("not there")
        del self.values[(service, username)]


# keyrings.alt is not installed here: a class that lives (by module name) in it stands in for its PlaintextKeyring,
# with a high priority so that only its origin can be why it is refused.
PlaintextLike = type(
    "PlaintextKeyring",
    (MemoryKeyring,),
    {"__module__": "keyrings.alt.file", "priority": 5, "viable": False},
)


class LowPriorityKeyring(MemoryKeyring):
    priority = 0.5
    viable = False


class EmptyChain(keyring.backends.chainer.ChainerBackend):
    viable = False
    backends: list[keyring.backend.KeyringBackend] = []  # noqa: RUF012 - shadows the chainer's discovery


class ChainWithPlaintext(keyring.backends.chainer.ChainerBackend):
    viable = False
    backends: list[keyring.backend.KeyringBackend] = [MemoryKeyring(), PlaintextLike()]  # noqa: RUF012


class ChainOfRecommended(keyring.backends.chainer.ChainerBackend):
    viable = False
    backends: list[keyring.backend.KeyringBackend] = [MemoryKeyring()]  # noqa: RUF012


@pytest.fixture
def use_keyring() -> Iterator[list[keyring.backend.KeyringBackend]]:
    """Set a keyring for the test (append to the list), and restore the one in place before it afterwards."""
    previous = keyring.get_keyring()
    chosen: list[keyring.backend.KeyringBackend] = []
    yield chosen
    keyring.set_keyring(previous)


@pytest.fixture
def memory(use_keyring: list[keyring.backend.KeyringBackend]) -> MemoryKeyring:
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    use_keyring.append(backend)
    return backend


def file_mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# -- keyring ---------------------------------------------------------------------------------------------------------


def test_keyring_store_keeps_the_secret_and_the_token_in_the_configured_keyring(memory: MemoryKeyring) -> None:
    store = KeyringStore(API_KEY)
    store.save_api_secret(ApiSecret(SECRET))
    store.save_access_token(AccessToken(TOKEN, NOW + 60))

    again = KeyringStore(API_KEY)
    assert again.api_secret() == ApiSecret(SECRET)
    assert again.access_token(NOW) == AccessToken(TOKEN, NOW + 60)
    assert {service for service, _user in memory.values} == {KEYRING_SERVICE}


def test_keyring_store_deletes_an_expired_token_and_never_returns_it(memory: MemoryKeyring) -> None:
    store = KeyringStore(API_KEY)
    store.save_access_token(AccessToken(TOKEN, NOW))

    assert store.access_token(NOW) is None
    assert (KEYRING_SERVICE, f"{API_KEY}/access_token") not in memory.values


def test_keyring_store_forgets_the_token_but_keeps_the_secret(memory: MemoryKeyring) -> None:
    store = KeyringStore(API_KEY)
    store.save_api_secret(ApiSecret(SECRET))
    store.save_access_token(AccessToken(TOKEN, NOW + 60))

    store.forget_access_token()

    assert store.access_token(NOW) is None
    assert store.api_secret() == ApiSecret(SECRET)


def test_keyring_store_forgetting_what_is_not_there_is_not_an_error(memory: MemoryKeyring) -> None:
    KeyringStore(API_KEY).forget()
    assert memory.values == {}


def test_a_locked_keyring_is_unavailable_without_naming_the_secret(memory: MemoryKeyring) -> None:
    store = KeyringStore(API_KEY)
    memory.locked = True

    with pytest.raises(SecretStoreUnavailable) as raised:
        store.save_api_secret(ApiSecret(SECRET))
    assert SECRET not in str(raised.value)


def test_the_fail_backend_is_refused(use_keyring: list[keyring.backend.KeyringBackend]) -> None:
    keyring.set_keyring(keyring.backends.fail.Keyring())

    with pytest.raises(KeyringUnusable) as raised:
        KeyringStore(API_KEY)
    assert raised.value.reason is KeyringRefusal.NO_BACKEND


def test_a_keyrings_alt_backend_is_refused_whatever_its_priority(
    use_keyring: list[keyring.backend.KeyringBackend],
) -> None:
    keyring.set_keyring(PlaintextLike())

    with pytest.raises(KeyringUnusable) as raised:
        KeyringStore(API_KEY)
    assert raised.value.reason is KeyringRefusal.PLAINTEXT


def test_the_null_backend_is_refused() -> None:
    assert refusal_of(keyring.backends.null.Keyring()) is KeyringRefusal.DISCARDS


def test_a_backend_below_the_recommended_priority_is_refused() -> None:
    assert refusal_of(LowPriorityKeyring()) is KeyringRefusal.NOT_RECOMMENDED


def test_a_chainer_with_nothing_to_chain_is_refused() -> None:
    assert refusal_of(EmptyChain()) is KeyringRefusal.EMPTY_CHAIN


def test_a_chainer_with_a_plaintext_link_is_refused() -> None:
    assert refusal_of(ChainWithPlaintext()) is KeyringRefusal.PLAINTEXT


def test_a_chainer_of_recommended_backends_is_accepted() -> None:
    assert refusal_of(ChainOfRecommended()) is None


def test_secret_service_without_a_dbus_session_cannot_start(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DBUS_SESSION_BUS_ADDRESS", raising=False)
    assert refusal_of(SecretService.Keyring()) is KeyringRefusal.CANNOT_START


# -- the file ----------------------------------------------------------------------------------------------------


def test_file_store_creates_a_0600_file_in_a_0700_folder(tmp_path: Path) -> None:
    store = FileStore(tmp_path, API_KEY)
    store.save_api_secret(ApiSecret(SECRET))

    assert file_mode(store.path) == 0o600
    assert file_mode(store.path.parent) == 0o700


def test_file_store_file_is_private_even_with_an_open_umask(tmp_path: Path) -> None:
    previous = os.umask(0)
    try:
        store = FileStore(tmp_path, API_KEY)
        store.save_api_secret(ApiSecret(SECRET))
    finally:
        os.umask(previous)

    assert file_mode(store.path) == 0o600
    assert file_mode(store.path.parent) == 0o700


def test_file_store_keeps_the_secret_and_the_token(tmp_path: Path) -> None:
    FileStore(tmp_path, API_KEY).save_api_secret(ApiSecret(SECRET))
    FileStore(tmp_path, API_KEY).save_access_token(AccessToken(TOKEN, NOW + 60))

    store = FileStore(tmp_path, API_KEY)
    assert store.api_secret() == ApiSecret(SECRET)
    assert store.access_token(NOW) == AccessToken(TOKEN, NOW + 60)


def test_file_store_keeps_two_apps_apart(tmp_path: Path) -> None:
    FileStore(tmp_path, API_KEY).save_api_secret(ApiSecret(SECRET))
    FileStore(tmp_path, "otherapp").save_api_secret(ApiSecret("othersecret"))

    assert FileStore(tmp_path, API_KEY).api_secret() == ApiSecret(SECRET)
    assert FileStore(tmp_path, "otherapp").api_secret() == ApiSecret("othersecret")


def test_file_store_deletes_an_expired_token_and_never_returns_it(tmp_path: Path) -> None:
    store = FileStore(tmp_path, API_KEY)
    store.save_api_secret(ApiSecret(SECRET))
    store.save_access_token(AccessToken(TOKEN, NOW))

    assert store.access_token(NOW) is None
    assert TOKEN not in store.path.read_text()
    assert store.api_secret() == ApiSecret(SECRET)


def test_file_store_reads_nothing_when_there_is_no_file(tmp_path: Path) -> None:
    store = FileStore(tmp_path, API_KEY)
    assert store.api_secret() is None
    assert store.access_token(NOW) is None
    assert not store.path.parent.exists()


def test_file_store_forget_removes_both(tmp_path: Path) -> None:
    store = FileStore(tmp_path, API_KEY)
    store.save_api_secret(ApiSecret(SECRET))
    store.save_access_token(AccessToken(TOKEN, NOW + 60))

    store.forget()

    assert store.api_secret() is None
    assert store.access_token(NOW) is None
    assert SECRET not in store.path.read_text()


def test_a_world_readable_secrets_file_is_refused(tmp_path: Path) -> None:
    store = FileStore(tmp_path, API_KEY)
    store.save_api_secret(ApiSecret(SECRET))
    store.path.chmod(0o644)

    with pytest.raises(UnsafeSecretFile) as raised:
        store.api_secret()
    assert raised.value.problem is FileProblem.TOO_OPEN


def test_a_world_readable_file_is_not_written_over(tmp_path: Path) -> None:
    store = FileStore(tmp_path, API_KEY)
    store.save_api_secret(ApiSecret(SECRET))
    store.path.chmod(0o644)

    with pytest.raises(UnsafeSecretFile):
        store.save_access_token(AccessToken(TOKEN, NOW + 60))
    assert TOKEN not in store.path.read_text()


def test_an_open_secrets_folder_is_refused(tmp_path: Path) -> None:
    store = FileStore(tmp_path, API_KEY)
    store.save_api_secret(ApiSecret(SECRET))
    store.path.parent.chmod(0o755)

    with pytest.raises(UnsafeSecretFile) as raised:
        store.api_secret()
    assert raised.value.problem is FileProblem.TOO_OPEN


def test_a_symlinked_secrets_file_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere.json"
    target.write_text(json.dumps({"version": 1, "apps": {API_KEY: {"api_secret": SECRET}}}))
    target.chmod(0o600)
    path = secrets_path(tmp_path)
    path.parent.mkdir(parents=True, mode=0o700)
    path.symlink_to(target)

    with pytest.raises(UnsafeSecretFile) as raised:
        FileStore(tmp_path, API_KEY).api_secret()
    assert raised.value.problem is FileProblem.NOT_REGULAR


@pytest.mark.skipif(os.geteuid() != 0, reason="handing a file to another user needs root")
def test_a_secrets_file_owned_by_another_user_is_refused(tmp_path: Path) -> None:
    store = FileStore(tmp_path, API_KEY)
    store.save_api_secret(ApiSecret(SECRET))
    os.chown(store.path, 65534, 65534)

    with pytest.raises(UnsafeSecretFile) as raised:
        store.api_secret()
    assert raised.value.problem is FileProblem.NOT_OWNED


def test_a_malformed_file_is_refused_without_quoting_it(tmp_path: Path) -> None:
    path = secrets_path(tmp_path)
    path.parent.mkdir(parents=True, mode=0o700)
    fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    os.write(fd, json.dumps({"version": 1, "apps": {API_KEY: {"api_secret": SECRET, "note": SECRET}}}).encode())
    os.close(fd)

    with pytest.raises(UnsafeSecretFile) as raised:
        FileStore(tmp_path, API_KEY).api_secret()
    assert raised.value.problem is FileProblem.MALFORMED
    assert SECRET not in str(raised.value)


def test_a_save_replaces_the_file_and_leaves_no_temporary(tmp_path: Path) -> None:
    store = FileStore(tmp_path, API_KEY)
    store.save_api_secret(ApiSecret(SECRET))
    first = store.path.stat().st_ino
    store.save_access_token(AccessToken(TOKEN, NOW + 60))

    assert store.path.stat().st_ino != first  # a new file renamed over the old one, not rewritten in place
    assert [p.name for p in store.path.parent.iterdir()] == [store.path.name]


def test_a_failed_save_leaves_the_old_file_intact_and_no_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = FileStore(tmp_path, API_KEY)
    store.save_api_secret(ApiSecret(SECRET))
    before = store.path.read_bytes()

    def disk_full(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(SecretStoreUnavailable):
        store.save_access_token(AccessToken(TOKEN, NOW + 60))
    monkeypatch.undo()

    assert store.path.read_bytes() == before
    assert [p.name for p in store.path.parent.iterdir()] == [store.path.name]


def test_a_temporary_left_by_a_crash_does_not_block_the_next_save(tmp_path: Path) -> None:
    store = FileStore(tmp_path, API_KEY)
    store.save_api_secret(ApiSecret(SECRET))
    stale = store.path.with_name(f".{store.path.name}.{os.getpid()}.new")
    stale.write_text("half")

    store.save_access_token(AccessToken(TOKEN, NOW + 60))

    assert store.access_token(NOW) == AccessToken(TOKEN, NOW + 60)
    assert not stale.exists()


# -- nowhere, and choosing ---------------------------------------------------------------------------------------


def test_no_store_keeps_nothing() -> None:
    store = NoStore()
    store.save_api_secret(ApiSecret(SECRET))
    store.save_access_token(AccessToken(TOKEN, NOW + 60))

    assert store.api_secret() is None
    assert store.access_token(NOW) is None


def test_choose_ask_keeps_nothing(tmp_path: Path) -> None:
    assert isinstance(choose_store("ask", tmp_path, api_key=API_KEY, allow_file=False), NoStore)


def test_choose_file_is_the_configured_opt_in(tmp_path: Path) -> None:
    assert isinstance(choose_store("file", tmp_path, api_key=API_KEY, allow_file=False), FileStore)


def test_choose_keyring_uses_a_recommended_keyring(memory: MemoryKeyring, tmp_path: Path) -> None:
    assert isinstance(choose_store("keyring", tmp_path, api_key=API_KEY, allow_file=False), KeyringStore)


def test_choose_keyring_without_a_usable_keyring_asks_before_using_the_file(
    use_keyring: list[keyring.backend.KeyringBackend], tmp_path: Path
) -> None:
    keyring.set_keyring(keyring.backends.fail.Keyring())

    with pytest.raises(KeyringUnusable):
        choose_store("keyring", tmp_path, api_key=API_KEY, allow_file=False)
    assert isinstance(choose_store("keyring", tmp_path, api_key=API_KEY, allow_file=True), FileStore)


# -- nothing shows a secret --------------------------------------------------------------------------------------


def test_secret_values_are_masked_in_repr_str_and_format() -> None:
    for value in (ApiSecret(SECRET), AccessToken(TOKEN, NOW)):
        shown = " ".join((repr(value), str(value), f"{value}", f"{value!r}", repr([value])))
        assert SECRET not in shown
        assert TOKEN not in shown


def test_a_store_repr_shows_no_secret(memory: MemoryKeyring, tmp_path: Path) -> None:
    keyring_store = KeyringStore(API_KEY)
    keyring_store.save_api_secret(ApiSecret(SECRET))
    file_store = FileStore(tmp_path, API_KEY)
    file_store.save_api_secret(ApiSecret(SECRET))

    for store in (keyring_store, file_store):
        assert SECRET not in repr(store)
        assert SECRET not in store.where
