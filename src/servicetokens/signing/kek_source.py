"""Where a process finds its key-encryption key.

In order: `--key-file PATH`; else `SERVICETOKENS_KEY_ENCRYPTION_KEY`; else, on an SQLite
file, `<database>.kek` beside it, generated (0600) on first use. PostgreSQL has no such
default: all of a deployment's gates must share one KEK, which a file beside one process
cannot promise, so a signing process without one refuses to start and names the setting.

Which file a database URL names is the store's to tell: `usecases/database_files.py` asks
it and calls `load_kek` with the answer.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from servicetokens.signing.kek import KekError, KeyEncryptionKey

__all__ = ["KEK_ENV", "ResolvedKek", "kek_file_beside", "load_kek", "read_kek_file"]

KEK_ENV = "SERVICETOKENS_KEY_ENCRYPTION_KEY"


@dataclass(frozen=True, slots=True)
class ResolvedKek:
    """A KEK and where it came from (for messages; never the key itself)."""

    kek: KeyEncryptionKey
    source: str
    generated: Path | None = None
    """The file it was just generated into, if it was."""


def kek_file_beside(database: Path) -> Path:
    """The default KEK file of an SQLite database: `<database>.kek`."""
    return Path(f"{database}.kek")


def read_kek_file(path: Path, *, source: str) -> KeyEncryptionKey:
    """The KEK written in the file `path`; `source` names it in errors.

    Refused when others may read or write it, or when another user owns it (someone who
    could plant a KEK of their own in a shared directory before the first start)."""
    try:
        status = path.stat()
    except FileNotFoundError:
        raise KekError(f"{source}: no such file") from None
    except OSError as exc:
        raise KekError(f"{source}: cannot read it ({exc.strerror})") from None
    if status.st_mode & 0o077:
        raise KekError(
            f"{source}: {path} can be read or written by others "
            f"(mode {status.st_mode & 0o777:o}); fix: chmod 600 {path}"
        )
    if hasattr(os, "getuid") and status.st_uid != os.getuid():
        raise KekError(
            f"{source}: {path} belongs to user {status.st_uid}, not to this process's user; "
            "a key-encryption key must be the service user's own"
        )
    try:
        text = path.read_text(encoding="ascii", errors="replace")
    except FileNotFoundError:
        raise KekError(f"{source}: no such file") from None
    except OSError as exc:
        raise KekError(f"{source}: cannot read it ({exc.strerror})") from None
    return KeyEncryptionKey.parse(text, source=source)


def load_kek(
    database: Path | None,
    *,
    shared: bool,
    key_file: Path | None = None,
    environ: Mapping[str, str] = os.environ,
    create: bool = True,
) -> ResolvedKek:
    """The KEK for a process on the SQLite file `database` (None: in memory), or on a
    database server that processes of several hosts share (`shared`: PostgreSQL), found as
    the module docstring says.

    `create=False` never generates one (for commands that only read what exists).
    Raises `KekError` with the fix when there is none."""
    if key_file is not None:
        source = f"--key-file {key_file}"
        return ResolvedKek(read_kek_file(key_file, source=source), source)
    text = environ.get(KEK_ENV, "")
    if text.strip():
        return ResolvedKek(KeyEncryptionKey.parse(text, source=f"${KEK_ENV}"), f"${KEK_ENV}")
    if shared:
        raise KekError(
            "on PostgreSQL every process that signs (the gates, `keys rotate`) needs the "
            f"deployment's key-encryption key: set {KEK_ENV} or pass --key-file PATH "
            "(`servicetokens keys generate-kek` makes one; all gates of a deployment must "
            "share it)"
        )
    if database is None:
        # An in-memory database dies with the process, and so may its KEK.
        return ResolvedKek(KeyEncryptionKey.generate(), "a key for the in-memory database")
    path = kek_file_beside(database)
    if path.exists() or not create:
        source = f"{path} (beside the database)"
        if not path.exists():
            raise KekError(
                f"no key-encryption key: {path} does not exist; set {KEK_ENV} or pass "
                "--key-file PATH"
            )
        return ResolvedKek(read_kek_file(path, source=source), source)
    kek, generated = _create_beside(path)
    return ResolvedKek(kek, f"{path} (beside the database)", generated)


def _create_beside(path: Path) -> tuple[KeyEncryptionKey, Path | None]:
    """Generate a KEK into `path` (0600), atomically: written whole to a temporary name,
    then linked into place only if `path` does not exist yet. When another process won
    the race, its KEK is read instead (and None returned as the generated path)."""
    kek = KeyEncryptionKey.generate()
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{os.urandom(4).hex()}")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with open(descriptor, "w", encoding="ascii") as handle:
            handle.write(kek.encoded() + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(temporary, path)
        except FileExistsError:
            return read_kek_file(path, source=f"{path} (beside the database)"), None
        directory = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)  # the KEK must outlive a crash as surely as what it wraps
        finally:
            os.close(directory)
    finally:
        temporary.unlink(missing_ok=True)
    return kek, path
