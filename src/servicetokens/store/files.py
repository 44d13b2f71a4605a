"""SQLite files at rest: created private (0600), and refused when others can read them.

The database holds every token's record; whoever reads it (or its `-wal`/`-shm`, which
hold recent pages) learns what the database knows. SQLite creates `-wal` and `-shm` with
the mode of the database file, so creating the database 0600 makes all three private.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from sqlalchemy.engine import URL

__all__ = [
    "ReadableDatabase",
    "check_private",
    "create_private",
    "exposed_files",
    "sqlite_file",
]

_EXPOSED = 0o066
"""Group or other read or write bits (execute alone exposes nothing)."""


class ReadableDatabase(Exception):
    """A database file others can read: the message names the file and the fix."""


def sqlite_file(url: URL) -> Path | None:
    """The database file of an SQLite URL; None for PostgreSQL and in-memory SQLite."""
    if url.get_backend_name() != "sqlite":
        return None
    database = url.database or ""
    if not database or database == ":memory:" or database.startswith("file::memory:"):
        return None
    return Path(database)


def create_private(path: Path) -> None:
    """Create `path` empty with mode 0600 unless it exists (an empty file is an empty
    SQLite database), so SQLite never creates it, or its `-wal`/`-shm`, with the umask."""
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    os.close(descriptor)


def exposed_files(database: Path) -> list[tuple[Path, int]]:
    """(file, mode) for each existing file of the database (`-wal` and `-shm` too) that
    group or others may read or write."""
    exposed = []
    for path in (database, Path(f"{database}-wal"), Path(f"{database}-shm")):
        try:
            mode = stat.S_IMODE(path.stat().st_mode)
        except FileNotFoundError:
            continue
        if mode & _EXPOSED:
            exposed.append((path, mode))
    return exposed


def check_private(database: Path) -> None:
    """Raise `ReadableDatabase` naming the first exposed file of `database` and the fix."""
    exposed = exposed_files(database)
    if not exposed:
        return
    names = " ".join(str(path) for path, _ in exposed)
    path, mode = exposed[0]
    raise ReadableDatabase(
        f"the database file {path} is readable by group or others (mode {mode:04o}): anyone "
        "who can read it can read every token's record. Fix: "
        f"`chmod 600 {names}`, or pass --allow-readable-database to start anyway"
    )
