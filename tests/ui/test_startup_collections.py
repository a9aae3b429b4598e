"""The window's garbage-collection policy: none while the desk starts, then the startup objects frozen out of
every later collection (a full collection among them stalled the Qt thread for ~100 ms)."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from imperium_desk.ui.app import end_startup_collections, hold_collections_for_startup


@pytest.fixture
def restore_collector() -> Iterator[None]:
    yield
    gc.unfreeze()
    gc.enable()


@pytest.mark.usefixtures("restore_collector")
def test_collection_is_held_while_the_desk_starts() -> None:
    hold_collections_for_startup()
    assert not gc.isenabled()


@pytest.mark.usefixtures("restore_collector")
def test_startup_objects_are_frozen_and_collection_resumes_when_startup_ends() -> None:
    hold_collections_for_startup()
    survivor = [object()]  # a startup object
    end_startup_collections()
    assert gc.isenabled()
    assert gc.get_freeze_count() > 0
    assert not any(o is survivor for o in gc.get_objects())  # no later collection walks it
