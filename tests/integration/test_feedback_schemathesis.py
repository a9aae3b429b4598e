"""schemathesis against the live `/openapi.json` of a real desk, as an outside fuzzer runs it: `schemathesis run`
with every check (`--checks all`), positive and negative data, every phase but stateful, and a fresh random seed on
each run, printed (and named in a failure) so that a failure can be replayed with `--seed`. Bounded: `EXAMPLES` per
operation keeps the run well under a minute on two cores; SCHEMATHESIS_EXPLORE=1 widens it (SCHEMATHESIS_EXAMPLES
sets the count) to hunt for what a short run misses; SCHEMATHESIS_SEED=<n> replays a run.

The desk and its server run on a loop of their own in a thread; the fuzzer is its own process. `/feedback/stream` is
left out: an event stream never ends by design, so a call would wait for its timeout every time (its events are
checked against the published schema in test_feedback_hostile.py)."""

from __future__ import annotations

import asyncio
import os
import secrets
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from imperium_desk.clock import WallClock
from imperium_desk.config import deep_merge
from imperium_desk.desk import Desk
from tests.integration.feedback_desk import FAST
from tests.support import config

EXPLORE = bool(os.environ.get("SCHEMATHESIS_EXPLORE"))
EXAMPLES = int(os.environ.get("SCHEMATHESIS_EXAMPLES", "60" if EXPLORE else "12"))  # per operation and phase
TIME_LIMIT_S = 600 if EXPLORE else 120  # a hung run fails rather than stalls the suite
# Two settings beside the defaults of `--checks all`. A body over the size limit is refused with 413, before any
# route reads it (a list of records past maxItems may be that large): a rejection like 422. And a model config is
# valid only by meaning the document cannot carry (the engine's model types and their parameters, a scope naming an
# asset the desk trades, an override that exists to be removed), so a request that fits the schema of
# `PUT /feedback/models` or `POST /feedback/proposals` may rightly get 422 with its field's path.
CONFIG = """
[checks.negative_data_rejection]
expected-statuses = ["400", "401", "403", "404", "405", "406", "409", "413", "415", "422", "428", "429", "5xx"]

[[operations]]
include-path-regex = "^/feedback/(models|proposals)$"
include-method-regex = "^(PUT|POST)$"
checks.positive_data_acceptance.expected-statuses = ["2xx", "3xx", "401", "403", "404", "409", "422", "429", "5xx"]
"""


class ThreadedDesk:
    """A desk with its feedback API on an asyncio loop in a background thread."""

    def __init__(self, home: Path) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="desk-loop", daemon=True)
        self._thread.start()
        self.desk: Desk | None = None
        self.address = asyncio.run_coroutine_threadsafe(self._start(home), self.loop).result(30)
        self.token = (home / "feedback.token").read_text().strip()

    async def _start(self, home: Path) -> str:
        self.desk = Desk(config(deep_merge(FAST, {})), home=home, clock=WallClock())
        self.desk.start()
        return await self.desk.start_feedback()

    def close(self) -> None:
        if self.desk is not None:
            asyncio.run_coroutine_threadsafe(self.desk.stop(), self.loop).result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ThreadedDesk]:
    desk = ThreadedDesk(tmp_path_factory.mktemp("feedback-schemathesis"))
    try:
        yield desk
    finally:
        desk.close()


def test_fuzzer_with_every_check_and_a_fresh_seed_finds_no_failure(
    served: ThreadedDesk, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    seed = int(os.environ.get("SCHEMATHESIS_SEED") or secrets.randbelow(2**31))
    with capsys.disabled():  # on the terminal whatever the outcome: a failure elsewhere may need this run replayed
        print(f"\nschemathesis seed: {seed} (replay: SCHEMATHESIS_SEED={seed})")
    config_file = tmp_path / "schemathesis.toml"
    config_file.write_text(CONFIG)
    command = [
        str(Path(sys.executable).with_name("schemathesis")), "--config-file", str(config_file),
        "run", f"{served.address}/openapi.json",
        "--checks", "all", "--mode", "all", "--phases", "examples,coverage,fuzzing",
        "--max-examples", str(EXAMPLES), "--seed", str(seed), "--workers", "1",
        "--exclude-path", "/feedback/stream",
        "--header", f"Authorization: Bearer {served.token}",
        "--request-timeout", "10", "--no-color", "--generation-database", "none",
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=TIME_LIMIT_S, cwd=tmp_path, check=False)
    assert done.returncode == 0, f"seed {seed}\n{done.stdout[-20_000:]}\n{done.stderr[-5_000:]}"
