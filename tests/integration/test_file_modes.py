"""The desk's home and files are its user's alone: the home 0700, every file the desk writes there 0600, whatever
the umask; a home an older desk left open (0755, files 0644) is narrowed at start with one warning naming what
changed. Secrets that refuse a loose mode themselves (the API token) are left for them to refuse."""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from imperium_desk import home as home_module
from imperium_desk.feedback.token import TokenFileError, load_or_create_token, token_path
from imperium_desk.home import secure_home
from imperium_desk.telemetry.jsonl import JsonlWriter
from imperium_desk.telemetry.sqlite_index import SqliteIndex
from tests.integration.feedback_desk import record, run, running_desk, wait_indexed


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def files_under(home: Path) -> list[Path]:
    return sorted(p for p in home.rglob("*") if p.is_file())


@pytest.fixture
def open_umask() -> Iterator[None]:
    """The most permissive umask: a file that comes out 0600 under it was created private, not narrowed by luck."""
    previous = os.umask(0)
    try:
        yield
    finally:
        os.umask(previous)


def modes_under(home: Path) -> dict[str, int]:
    return {str(p.relative_to(home)): mode(p) for p in files_under(home)}


def start_desk_and_write(home: Path) -> dict[str, int]:
    """Start the desk as `serve` does (home secured first), post a record and wait until it is indexed; the mode of
    each file under home while the desk runs (SQLite's -wal and -shm exist only while it is open)."""
    secure_home(home, leave=[token_path(home)])

    async def main() -> dict[str, int]:
        async with running_desk(home) as desk:
            answer = await desk.client.post("/feedback/metrics", json=record(latency_ms=3.0))
            assert answer.status_code == 202
            await wait_indexed(desk.client, answer.json()["last_seq"])
            return modes_under(home)

    return run(main)


@pytest.mark.usefixtures("open_umask")
def test_a_fresh_home_is_created_0700(tmp_path: Path) -> None:
    home = tmp_path / "home"
    check = secure_home(home)
    assert mode(home) == 0o700
    assert check.tightened == []


@pytest.mark.usefixtures("open_umask")
def test_every_file_the_desk_writes_in_a_fresh_home_is_0600(tmp_path: Path) -> None:
    home = tmp_path / "home"
    written = start_desk_and_write(home)
    assert {"execution_quality_paper.jsonl", "execution_quality_paper.sqlite", "execution_quality_paper.sqlite-wal",
            "feedback.token", "webhooks.sqlite"} <= written.keys()
    assert written == dict.fromkeys(written, 0o600)
    assert mode(home) == 0o700


@pytest.mark.parametrize("umask", [0o000, 0o022, 0o277], ids=["open", "usual", "owner_read_only"])
def test_rotated_segments_and_a_new_index_are_0600_whatever_the_umask(tmp_path: Path, umask: int) -> None:
    previous = os.umask(umask)
    try:
        written = write_a_rotated_log_and_its_index(tmp_path)
    finally:
        os.umask(previous)
    assert len([name for name in written if name.startswith("log.0")]) > 1  # it did rotate
    assert {"log.jsonl", "log.sqlite", "log.sqlite-wal", "log.sqlite-shm"} <= written.keys()
    assert written == dict.fromkeys(written, 0o600)


def write_a_rotated_log_and_its_index(tmp_path: Path) -> dict[str, int]:
    active = tmp_path / "log.jsonl"
    writer = JsonlWriter(active, fsync=False, rotate_max_bytes=200, flush_records=1)
    for seq in range(1, 40):
        writer.write({"seq": seq, "event": "ack", "pad": "x" * 40})
    writer.close()
    index = SqliteIndex(tmp_path / "log.sqlite")
    index.open()
    index.write([{"seq": 1, "event": "ack"}], [b'{"seq":1,"event":"ack"}'])
    written = modes_under(tmp_path)  # while it is open: its -wal and -shm exist
    index.close()
    return written


def make_old(home: Path) -> list[Path]:
    """What an older desk left: the home and its folders 0755, its files 0644 (the token was always 0600)."""
    home.chmod(0o755)
    loosened = [home]
    for path in home.rglob("*"):
        if path == token_path(home):
            continue
        path.chmod(0o755 if path.is_dir() else 0o644)
        loosened.append(path)
    return loosened


def test_an_old_home_is_narrowed_at_start(tmp_path: Path) -> None:
    home = tmp_path / "home"
    start_desk_and_write(home)
    loosened = make_old(home)
    check = secure_home(home, leave=[token_path(home)])
    assert sorted(c.path for c in check.tightened) == sorted(loosened)
    assert mode(home) == 0o700
    assert modes_under(home) == dict.fromkeys(modes_under(home), 0o600)


def test_narrowing_an_old_home_is_one_warning_naming_each_path(tmp_path: Path, caplog: pytest.LogCaptureFixture
                                                              ) -> None:
    home = tmp_path / "home"
    start_desk_and_write(home)
    loosened = make_old(home)
    with caplog.at_level(logging.WARNING, logger=home_module.__name__):
        secure_home(home, leave=[token_path(home)])
    warnings = [r for r in caplog.records if r.name == home_module.__name__]
    assert [r.levelno for r in warnings] == [logging.WARNING]
    assert all(p.name in warnings[0].getMessage() for p in loosened if p != home)


def test_a_desk_restarted_on_a_narrowed_home_keeps_every_file_0600(tmp_path: Path) -> None:
    home = tmp_path / "home"
    start_desk_and_write(home)
    make_old(home)
    written = start_desk_and_write(home)
    assert written == dict.fromkeys(written, 0o600)


def test_a_home_already_private_is_left_without_a_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    home = tmp_path / "home"
    start_desk_and_write(home)
    with caplog.at_level(logging.WARNING, logger=home_module.__name__):
        check = secure_home(home, leave=[token_path(home)])
    assert check.tightened == []
    assert [r for r in caplog.records if r.name == home_module.__name__] == []


def test_a_token_others_could_read_is_left_for_the_token_file_to_refuse(tmp_path: Path) -> None:
    home = tmp_path / "home"
    start_desk_and_write(home)
    token_path(home).chmod(0o644)
    secure_home(home, leave=[token_path(home)])
    assert mode(token_path(home)) == 0o644
    with pytest.raises(TokenFileError):
        load_or_create_token(token_path(home))


def test_a_symlink_under_home_is_not_followed(tmp_path: Path) -> None:
    outside = tmp_path / "shared.csv"
    outside.write_text("a,b\n")
    outside.chmod(0o644)
    home = tmp_path / "home"
    secure_home(home)
    (home / "data.csv").symlink_to(outside)
    secure_home(home)
    assert mode(outside) == 0o644


def test_a_replaced_private_file_is_0600_whatever_the_umask_and_leaves_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "state.json"
    old = os.umask(0)
    try:
        home_module.replace_private(target, b"one")
        home_module.replace_private(target, b"two")
    finally:
        os.umask(old)
    assert target.read_bytes() == b"two"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]


def test_a_replace_that_cannot_write_raises_and_leaves_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "state.json"
    home_module.replace_private(target, b"old")
    target.with_name(f".{target.name}.{os.getpid()}.new").mkdir()  # the temporary's name is taken by a folder
    with pytest.raises(OSError):
        home_module.replace_private(target, b"new")
    assert target.read_bytes() == b"old"
