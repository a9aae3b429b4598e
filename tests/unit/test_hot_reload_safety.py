"""The config watch against files an editor, a crash or a hostile user leaves behind: empty, half-written, binary,
nested past any parser's depth, unreadable. Each is rejected by name and the running models stay; a later valid
save is applied; no reload task ends with an exception nobody retrieves. On the virtual clock (reads run inline)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from imperium_desk.config import Config, ConfigError, load_config
from imperium_desk.desk import Desk, MessageEvent, ModelsChanged
from imperium_desk.desk import models as desk_models
from imperium_desk.desk.models import CONFIG_POLL_S, CONFIG_SETTLE_S
from tests.unit.test_desk import run
from tests.unit.test_desk_models import NORMAL, desk_on_file

LOOK = CONFIG_POLL_S + 2 * CONFIG_SETTLE_S  # long enough for a look, the look that sees it settled, and the read


def config_bytes(mean_ms: float) -> bytes:
    raw = {
        "market": {"underlyings": ["NIFTY"]},
        "latency_model": {"global": {**NORMAL, "mean_ms": mean_ms}},
        "telemetry": {"fsync": False},
    }
    return yaml.safe_dump(raw).encode()


def _nested(depth: int) -> bytes:
    return b"latency_model: " + b"[" * depth + b"]" * depth + b"\n"


def _folder_in_place_of(path: Path) -> None:
    """Unreadable as a file even for root (chmod 000 does not stop root reading)."""
    path.unlink()
    path.mkdir()


def _alias_bomb(levels: int) -> bytes:
    """The "billion laughs": each level an anchored list of ten aliases of the one before."""
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, levels)]
    return ("\n".join(lines) + "\n").encode()


# What an editor, a crash or a hostile user can leave where the config was. Each is applied as a fresh save.
BAD_FILES: dict[str, Callable[[Path], object]] = {
    "empty": lambda p: p.write_bytes(b""),
    "only_comments": lambda p: p.write_bytes(b"# latency_model:\n#   global: {type: constant}\n\n"),
    "partial_yaml": lambda p: p.write_bytes(config_bytes(45)[:-25] + b"{type: normal, mean_ms: 4"),
    "binary": lambda p: p.write_bytes(bytes(range(256)) * 16),
    "deep_nesting": lambda p: p.write_bytes(_nested(5_000)),
    "a_folder_in_its_place": _folder_in_place_of,
    "alias_bomb": lambda p: p.write_bytes(_alias_bomb(10)),
    "not_finite": lambda p: p.write_bytes(b"latency_model: {global: {type: normal, mean_ms: .nan, std_ms: 10}}\n"),
}


def save(path: Path, write: Callable[[Path], Any]) -> None:
    """Write the file as a save would, with an mtime that moves even on a coarse file-system clock."""
    if path.is_dir():
        path.rmdir()
    write(path)
    stamp = path.stat().st_mtime + 10
    os.utime(path, (stamp, stamp))


def global_mean_ms(desk: Desk) -> float:
    return float(desk.models_config()[0].global_.model_dump()["mean_ms"])


def global_mean_ms_of(config: Config) -> float:
    return float(config.latency_model.global_.model_dump()["mean_ms"])


class Watched:
    """A desk on a config file, its events, and every task its loop created (to check how each ended)."""

    def __init__(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.desk, self.clock, self.events, self.path = desk_on_file(tmp_path, NORMAL)
        self.tasks: list[asyncio.Task[Any]] = []
        loop = self.clock.virtual_loop
        create = loop.create_task

        def recording(coro: Coroutine[Any, Any, Any], **kwargs: Any) -> asyncio.Task[Any]:
            task = create(coro, **kwargs)
            self.tasks.append(task)
            return task

        monkeypatch.setattr(loop, "create_task", recording)

    def run(self, *steps: Callable[[], None]) -> None:
        """Start the desk's watch, take each step (a save) and let the watch see it, then stop."""

        async def main() -> None:
            self.desk.start()
            for step in steps:
                step()
                await self.clock.sleep(LOOK)
            await self.desk.stop()

        run(self.clock, main())

    def messages(self) -> list[str]:
        return [e.text for e in self.events if isinstance(e, MessageEvent)]

    def switches(self) -> list[ModelsChanged]:
        return [e for e in self.events if isinstance(e, ModelsChanged)]

    def failed_tasks(self) -> list[BaseException]:
        return [exc for t in self.tasks if t.done() and not t.cancelled() and (exc := t.exception()) is not None]


@pytest.fixture
def watched(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Watched]:
    yield Watched(tmp_path, monkeypatch)


@pytest.mark.parametrize("bad", BAD_FILES)
def test_a_file_that_cannot_be_applied_keeps_the_running_models(watched: Watched, bad: str) -> None:
    watched.run(lambda: save(watched.path, BAD_FILES[bad]))
    assert global_mean_ms(watched.desk) == NORMAL["mean_ms"]
    assert watched.switches() == []


@pytest.mark.parametrize("bad", BAD_FILES)
def test_a_rejected_file_is_named_in_a_message_to_the_trader(watched: Watched, bad: str) -> None:
    watched.run(lambda: save(watched.path, BAD_FILES[bad]))
    named = [m for m in watched.messages() if str(watched.path) in m]
    assert len(named) == 1  # said once: the same bad file is not read again until it changes
    assert "\n" not in named[0]


@pytest.mark.parametrize("bad", BAD_FILES)
def test_no_reload_task_ends_with_an_exception_nobody_retrieves(watched: Watched, bad: str) -> None:
    watched.run(lambda: save(watched.path, BAD_FILES[bad]))
    assert watched.failed_tasks() == []
    assert watched.clock.virtual_loop.unhandled_exceptions == []


@pytest.mark.parametrize("bad", BAD_FILES)
def test_a_valid_save_after_a_rejected_file_is_applied(watched: Watched, bad: str) -> None:
    watched.run(
        lambda: save(watched.path, BAD_FILES[bad]),
        lambda: save(watched.path, lambda p: p.write_bytes(config_bytes(61))),
    )
    assert global_mean_ms(watched.desk) == 61
    assert len(watched.switches()) == 1


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads a file whatever its mode: the folder case stands in for it")
def test_an_unreadable_file_keeps_the_models_and_is_read_again_once_readable(watched: Watched) -> None:
    def unreadable() -> None:
        save(watched.path, lambda p: p.write_bytes(config_bytes(33)))
        watched.path.chmod(0)

    watched.run(unreadable, lambda: watched.path.chmod(0o600))
    assert [m for m in watched.messages() if str(watched.path) in m]
    assert global_mean_ms(watched.desk) == 33  # the chmod is a change: the file is read again


def test_a_file_still_being_written_is_read_only_once_it_settles(watched: Watched) -> None:
    """An editor truncates and writes: a look that sees the file changing waits for the next look to agree."""
    first_look = CONFIG_POLL_S + CONFIG_SETTLE_S / 2  # after the look that saw the half, before the settling look

    async def main() -> None:
        watched.desk.start()
        save(watched.path, lambda p: p.write_bytes(config_bytes(70)[:-10]))  # a half that happens to parse
        await watched.clock.sleep(first_look)
        save(watched.path, lambda p: p.write_bytes(config_bytes(90)))
        await watched.clock.sleep(LOOK)
        await watched.desk.stop()

    run(watched.clock, main())
    assert global_mean_ms(watched.desk) == 90
    assert len(watched.switches()) == 1


def test_a_file_changed_while_it_is_read_is_not_applied_and_is_read_again(
    watched: Watched, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_load = load_config
    reads: list[float] = []

    def load_while_a_save_lands(path: Path | None) -> Config:
        config = real_load(path)
        reads.append(global_mean_ms_of(config))
        if len(reads) == 1:  # the save lands between the read and the check
            save(watched.path, lambda p: p.write_bytes(config_bytes(52)))
        return config

    monkeypatch.setattr(desk_models, "load_config", load_while_a_save_lands)
    watched.run(lambda: save(watched.path, lambda p: p.write_bytes(config_bytes(41))), lambda: None)
    assert reads == [41, 52]
    assert global_mean_ms(watched.desk) == 52
    assert len(watched.switches()) == 1


def test_a_fault_of_the_desk_during_a_reload_is_said_and_logged_not_left_in_the_task(
    watched: Watched, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(*_args: Any, **_kwargs: Any) -> Any:
        raise RuntimeError("resolver bug")

    monkeypatch.setattr(watched.desk.engine, "replace_models", broken)
    watched.run(lambda: save(watched.path, lambda p: p.write_bytes(config_bytes(12))))
    assert watched.failed_tasks() == []
    assert global_mean_ms(watched.desk) == NORMAL["mean_ms"]
    assert [r.exc_info[0] for r in caplog.records if r.name == desk_models.__name__ and r.exc_info] == [RuntimeError]
    assert len(watched.messages()) == 1


@pytest.mark.parametrize("bad", BAD_FILES)
def test_a_reload_asked_for_raises_config_error_and_keeps_the_models(tmp_path: Path, bad: str) -> None:
    desk, clock, _, path = desk_on_file(tmp_path, NORMAL)
    save(path, BAD_FILES[bad])
    with pytest.raises(ConfigError):
        run(clock, desk.reload_config())
    assert global_mean_ms(desk) == NORMAL["mean_ms"]
    run(clock, desk.stop())


def test_the_watch_reads_a_rejected_file_once_until_it_changes(
    watched: Watched, monkeypatch: pytest.MonkeyPatch
) -> None:
    reads: list[Path] = []
    real = desk_models._read_config

    def counting(path: Path) -> Any:
        reads.append(path)
        return real(path)

    monkeypatch.setattr(desk_models, "_read_config", counting)
    watched.run(lambda: save(watched.path, BAD_FILES["empty"]), lambda: None, lambda: None)
    assert reads == [watched.path]
