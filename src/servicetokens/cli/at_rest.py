"""What the commands check and find before they start: private database files, the KEK."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, NoReturn

import typer

from servicetokens.config import Settings
from servicetokens.signing.kek import KekError, KeyEncryptionKey
from servicetokens.signing.kek_source import KEK_ENV
from servicetokens.usecases.database_files import find_kek, readable_database

__all__ = [
    "AllowReadableFlag",
    "KeyFileOption",
    "refuse",
    "refuse_readable_database",
    "signing_kek",
]

KeyFileOption = Annotated[
    Path | None,
    typer.Option(
        "--key-file",
        help=(
            f"File holding the key-encryption key (default: ${KEK_ENV}; on SQLite, "
            "<database>.kek beside the database, made on first use)."
        ),
        dir_okay=False,
    ),
]
AllowReadableFlag = Annotated[
    bool,
    typer.Option(
        "--allow-readable-database",
        help="Start even if group or others can read the SQLite database file.",
    ),
]


def refuse(message: str) -> NoReturn:
    """End the command with `error: message` on stderr and exit code 1.

    Printed as is: not through Rich, which would wrap the paths and commands these messages
    name at 80 columns and read brackets in them as markup."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(1)


def refuse_readable_database(settings: Settings, *, allow: bool) -> None:
    """End the command (exit 1) when others can read the SQLite database, unless `allow`."""
    problem = readable_database(settings.database_url)
    if problem is not None and not allow:
        refuse(problem)


def signing_kek(settings: Settings, key_file: Path | None, *, create: bool) -> KeyEncryptionKey:
    """The key-encryption key of a command that signs or unwraps; ends the command (exit 1)
    with the fix when there is none. Says so on stderr when it generated one."""
    try:
        found = find_kek(settings.database_url, key_file=key_file, create=create)
    except KekError as exc:
        refuse(str(exc))
    if found.generated is not None:
        typer.echo(
            f"generated a key-encryption key in {found.generated} (mode 0600): signing keys "
            "are stored encrypted under it; back it up apart from the database",
            err=True,
        )
    return found.kek
