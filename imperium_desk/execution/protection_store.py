"""The protections a desk holds, saved under its home so a restart can restore them (issue 21).

One small JSON file, rewritten whole on every change (`home.replace_private`: a private temporary, fsynced, renamed
over the old one), so the file on disk is always a complete snapshot, the old one or the new one.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

from imperium_desk.home import replace_private

STORE_VERSION = 1


class ProtectionStoreError(ValueError):
    """The saved file cannot be read as protections; the message names the file and what is wrong."""


class ProtectionStore:
    """The file `path` holding the live protections (`ProtectionManager.snapshot()`).

    Threading: `save` blocks (a few kilobytes written and fsynced): the manager calls it off the loop, one at a
    time. Promises: `load` returns what the last completed `save` wrote (an empty list when nothing was ever saved); a
    failed save leaves the previous file as it was."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def save(self, protections: list[dict[str, Any]]) -> None:
        replace_private(self.path, json.dumps({"version": STORE_VERSION, "protections": protections},
                                              sort_keys=True).encode())

    def load(self) -> list[dict[str, Any]]:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return []
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ProtectionStoreError(f"{self.path}: not JSON ({exc})") from None
        if not isinstance(doc, dict) or doc.get("version") != STORE_VERSION or not isinstance(
                doc.get("protections"), list):
            raise ProtectionStoreError(f"{self.path}: not a version {STORE_VERSION} protections file")
        return [p for p in doc["protections"] if isinstance(p, dict)]

    def clear(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
