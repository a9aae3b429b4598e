"""The desk's data folder (its home) and the files in it: private to the user who runs the desk.

The home holds every fill (the telemetry log and its index), the API token and the webhook store, so only its
owner may read it: the folder is 0700 and every file the desk writes there 0600. Files are created private
(`open_private`: `os.open` with mode 0600, then `fchmod`, since the umask may take bits away but the result must
not depend on it), never created open and narrowed afterwards, which would leave a window in which another user
can open them. A home made by an older desk (0755, files 0644) is fixed when the desk starts (`secure_home`),
with one warning line naming what was tightened.

Stdlib only: the telemetry writers below the desk create their files through this module.
"""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Final

log = logging.getLogger(__name__)

PRIVATE_DIR: Final = 0o700
PRIVATE_FILE: Final = 0o600
_OTHERS: Final = stat.S_IRWXG | stat.S_IRWXO  # the bits a private file or folder must not have
_CREATE_EXCLUSIVE: Final = (os.O_CREAT | os.O_EXCL | os.O_WRONLY | getattr(os, "O_NOFOLLOW", 0)
                            | getattr(os, "O_CLOEXEC", 0))
_NAMED_IN_WARNING: Final = 10  # paths a warning names before it says "and N more"


@dataclass(frozen=True, slots=True)
class Tightened:
    """A file or folder whose group and other permissions were removed (`old` and `new` are permission bits)."""

    path: Path
    old: int
    new: int


@dataclass(frozen=True, slots=True)
class HomeCheck:
    """What `secure_home` changed, and what it could not change (a path it cannot chmod, with the reason)."""

    tightened: list[Tightened]
    failed: list[tuple[Path, str]]


def open_private(path: Path, flags: int) -> int:
    """`os.open(path, flags)` for a file only its owner may read or write (0600 when created). A file that
    already exists with group or other permissions is narrowed to 0600 too; the caller owns the descriptor."""
    fd = os.open(path, flags, PRIVATE_FILE)
    try:
        mode = stat.S_IMODE(os.fstat(fd).st_mode)
        if mode & _OTHERS or mode & PRIVATE_FILE != PRIVATE_FILE:
            # An existing file open to others, or a fresh one that lost bits to the umask (0400 would stop the
            # owner's next open for writing): either way it becomes exactly 0600.
            os.fchmod(fd, PRIVATE_FILE)
    except BaseException:
        os.close(fd)
        raise
    return fd


def replace_private(path: Path, data: bytes) -> None:
    """`data` as the whole of the private file `path`, atomically and durably: written to a temporary beside it
    (0600, created exclusively, never through a symlink, named after this process so two processes cannot share it),
    fsynced, then renamed over `path`. A reader sees the old file or the new one; on failure `path` is unchanged, no
    temporary is left, and the OSError is raised."""
    temp = path.with_name(f".{path.name}.{os.getpid()}.new")
    temp.unlink(missing_ok=True)  # only a crashed process with this pid can have left one: never in use now
    try:
        fd = os.open(temp, _CREATE_EXCLUSIVE, PRIVATE_FILE)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


def create_private(path: Path) -> None:
    """Make sure `path` exists as a private file (0600 when created, narrowed when others can read it), for a file
    another library then opens by name (SQLite, which gives its `-wal` and `-shm` the main file's mode)."""
    os.close(open_private(path, os.O_RDWR | os.O_CREAT))


def narrow(path: Path, *, follow_symlinks: bool = False) -> Tightened | None:
    """Remove group and other permissions from an existing file or folder; what changed, or None. A symlink is left
    alone unless `follow_symlinks` (chmod would change its target, which may be anywhere)."""
    st = os.stat(path, follow_symlinks=follow_symlinks)
    if stat.S_ISLNK(st.st_mode):
        return None
    old = stat.S_IMODE(st.st_mode)
    if not old & _OTHERS:
        return None
    new = old & ~_OTHERS
    os.chmod(path, new)
    return Tightened(path, old, new)


def secure_home(home: Path, *, leave: Collection[Path] = ()) -> HomeCheck:
    """Create the home (0700) if it does not exist; otherwise remove group and other permissions from it and from
    every folder and file in it, with one warning naming what was tightened. Symlinks are not followed.

    `leave`: paths (and everything under them) left as they are: files whose owners check the mode themselves and
    refuse a loose one. A secret that others could read may already have been read: it must be replaced, which
    quietly narrowing it would hide. Blocking I/O proportional to the files under home: call it at start."""
    leave_set = {os.path.abspath(p) for p in leave}
    if not home.exists():
        home.mkdir(parents=True, mode=PRIVATE_DIR)
        os.chmod(home, PRIVATE_DIR)  # mkdir's mode passes through the umask
        return HomeCheck([], [])
    tightened: list[Tightened] = []
    failed: list[tuple[Path, str]] = []

    def visit(path: Path) -> None:
        if os.path.abspath(path) in leave_set:
            return
        try:
            change = narrow(path, follow_symlinks=path == home)  # a home that is a symlink: its target is the home
        except OSError as exc:
            failed.append((path, exc.strerror or str(exc)))
            return
        if change is not None:
            tightened.append(change)

    def unreadable(exc: OSError) -> None:
        failed.append((Path(exc.filename or home), exc.strerror or str(exc)))

    # The home first: once it is 0700 no other user can reach inside it, so nobody can swap a file for a symlink
    # between the look at it and the chmod below (Linux has no chmod that refuses to follow a symlink).
    visit(home)
    for folder, dirs, files in os.walk(home, onerror=unreadable):
        base = Path(folder)
        dirs[:] = [d for d in dirs if os.path.abspath(base / d) not in leave_set]
        for name in (*dirs, *files):
            visit(base / name)
    if tightened:
        log.warning("%s was open to other users: removed their access to %s", home, _describe(home, tightened))
    if failed:
        log.warning("%s: could not make private: %s", home,
                    "; ".join(f"{_relative(home, p)} ({why})" for p, why in failed[:_NAMED_IN_WARNING]))
    return HomeCheck(tightened, failed)


def _describe(home: Path, changes: list[Tightened]) -> str:
    named = ", ".join(f"{_relative(home, c.path)} ({c.old:04o} -> {c.new:04o})" for c in changes[:_NAMED_IN_WARNING])
    more = len(changes) - _NAMED_IN_WARNING
    return named + (f" and {more} more" if more > 0 else "")


def _relative(home: Path, path: Path) -> str:
    return "the folder itself" if path == home else str(path.relative_to(home))
