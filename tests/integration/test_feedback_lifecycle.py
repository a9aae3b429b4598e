"""The feedback API's life with the desk's: a stop that begins while the API starts leaves no server behind."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from imperium_desk.clock import WallClock
from imperium_desk.config import ConfigError
from imperium_desk.desk import Desk
from tests.integration.feedback_desk import FAST, run
from tests.support import config


def test_a_desk_stopped_while_its_api_starts_stops_the_api_too(tmp_path: Path) -> None:
    async def main() -> None:
        desk = Desk(config(FAST), home=tmp_path, clock=WallClock())
        desk.start()
        starting = asyncio.ensure_future(desk.start_feedback())
        await asyncio.sleep(0)  # the start is under way (its imports and token run off the loop)
        await desk.stop()
        with pytest.raises(ConfigError, match="stopped while the feedback API was starting"):
            await starting
        assert desk.feedback_address is None and desk.feedback_backend is None
        others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task() and not t.done()]
        assert others == []

    run(main)
