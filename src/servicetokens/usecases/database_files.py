"""What a command checks and finds from its database URL before it opens the database: whether
the SQLite file is private, and the key-encryption key (which may live beside that file).

Reading a database URL (which file an SQLite URL names, whether it is a server) is the
store's (`store/engine.py`, `store/files.py`); entrypoints ask here instead.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from servicetokens.signing.kek_source import ResolvedKek, kek_file_beside, load_kek
from servicetokens.store.engine import normalise_url
from servicetokens.store.files import ReadableDatabase, check_private, sqlite_file

__all__ = ["database_file", "default_kek_file", "find_kek", "readable_database"]


def database_file(database_url: str) -> Path | None:
    """The SQLite file `database_url` names; None for PostgreSQL and in-memory SQLite.
    Raises ValueError for a URL of no supported engine."""
    return sqlite_file(normalise_url(database_url))


def readable_database(database_url: str) -> str | None:
    """Why the database must not be used as it is (group or others can read its file, or
    its `-wal`/`-shm`), naming the file and the fix; None when it is private or not a file."""
    database = database_file(database_url)
    if database is None:
        return None
    try:
        check_private(database)
    except ReadableDatabase as exc:
        return str(exc)
    return None


def find_kek(
    database_url: str,
    *,
    key_file: Path | None = None,
    environ: Mapping[str, str] = os.environ,
    create: bool = True,
) -> ResolvedKek:
    """The key-encryption key of a process on `database_url`, found as
    `signing.kek_source.load_kek` says (generated beside an SQLite file on first use,
    unless `create` is False). Raises `KekError` with the fix when there is none."""
    url = normalise_url(database_url)
    return load_kek(
        sqlite_file(url),
        shared=url.get_backend_name() == "postgresql",
        key_file=key_file,
        environ=environ,
        create=create,
    )


def default_kek_file(database_url: str) -> Path | None:
    """The KEK file beside an SQLite database (`<database>.kek`), whether or not it exists;
    None for PostgreSQL and in-memory SQLite."""
    database = database_file(database_url)
    return None if database is None else kek_file_beside(database)
