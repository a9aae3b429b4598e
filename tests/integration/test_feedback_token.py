"""The API token file: created once with mode 0600, reused, refused when others can read it."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from imperium_desk.config import ConfigError
from imperium_desk.feedback.token import TokenFileError, load_or_create_token
from tests.integration.feedback_desk import run, running_desk


def test_token_is_created_private_and_reused(tmp_path: Path) -> None:
    path = tmp_path / "home" / "feedback.token"
    token = load_or_create_token(path)
    assert path.stat().st_mode & 0o777 == 0o600
    assert len(token) >= 40
    assert load_or_create_token(path) == token


def test_simultaneous_first_starts_agree_on_one_token(tmp_path: Path) -> None:
    path = tmp_path / "feedback.token"
    with ThreadPoolExecutor(8) as pool:
        tokens = set(pool.map(lambda _: load_or_create_token(path), range(16)))
    assert tokens == {path.read_text().strip()}
    assert [p.name for p in tmp_path.iterdir()] == ["feedback.token"]  # no temporary file left behind


def test_a_token_file_others_can_read_is_refused_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "feedback.token"
    path.write_text("x" * 43)
    path.chmod(0o644)
    with pytest.raises(TokenFileError, match="readable by other users"):
        load_or_create_token(path)


def test_the_desk_does_not_start_its_api_with_an_unusable_token_file(tmp_path: Path) -> None:
    (tmp_path / "feedback.token").write_text("short")
    (tmp_path / "feedback.token").chmod(0o600)

    async def main() -> None:
        async with running_desk(tmp_path):
            pass

    with pytest.raises(ConfigError, match="no usable token"):
        run(main)
