"""`servicetokens keys ...`: the gate's signing keys and the key-encryption key."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from servicetokens.cli.at_rest import KeyFileOption, refuse, signing_kek
from servicetokens.cli.common import service_for
from servicetokens.cli.output import console, emit
from servicetokens.config import Settings
from servicetokens.domain.clock import format_timestamp, from_micros
from servicetokens.signing.kek import KekError, KeyEncryptionKey
from servicetokens.signing.kek_source import KEK_ENV, read_kek_file
from servicetokens.usecases.database_files import default_kek_file

__all__ = ["keys_app"]

keys_app = typer.Typer(
    help="The gate's JWT signing keys and the key-encryption key they are stored under.",
    no_args_is_help=True,
)

JsonFlag = Annotated[bool, typer.Option("--json", help="Print one JSON object.")]


@keys_app.command("generate-kek")
def generate_kek(as_json: JsonFlag = False) -> None:
    """Print a new key-encryption key (32 random bytes, URL-safe base64)."""
    kek = KeyEncryptionKey.generate()
    if as_json:
        print(json.dumps({"key_encryption_key": kek.encoded(), "kek_id": kek.key_id}))
    else:
        print(kek.encoded())


def _stamp(micros: int) -> str:
    return format_timestamp(from_micros(micros))


@keys_app.command("list")
def keys_list(ctx: typer.Context, as_json: JsonFlag = False) -> None:
    """Show the stored signing keys (public facts only; needs no key-encryption key)."""
    from servicetokens.usecases.signing_keys import stored_keys

    database = service_for(ctx).database
    try:
        stored = stored_keys(database)
    finally:
        database.dispose()
    rows = [
        {
            "kid": record.kid,
            "state": state,
            "activates_at": _stamp(record.activates_at),
            "created_at": _stamp(record.created_at),
            "kek_id": record.kek_id,
        }
        for record, state in stored
    ]
    if as_json:
        print(json.dumps({"keys": rows}))
        return
    table = Table(title="signing keys")
    for column in ("kid", "state", "activates_at", "created_at", "kek_id"):
        table.add_column(column)
    for row in rows:
        table.add_row(
            *(str(row[c]) for c in ("kid", "state", "activates_at", "created_at", "kek_id"))
        )
    console.print(table)


@keys_app.command("rotate")
def keys_rotate(
    ctx: typer.Context,
    key_file: KeyFileOption = None,
    discard_existing: Annotated[
        bool,
        typer.Option(
            "--discard-existing",
            help="Delete every key and sign with a new one at once (for a leaked or lost "
            "key; JWTs signed so far stop validating).",
        ),
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Add a successor signing key now: published at once, signing 10 minutes later."""
    from servicetokens.domain.signing_keys import KeySchedule
    from servicetokens.usecases.signing_keys import KeyRing

    kek = signing_kek(ctx.obj, key_file, create=True)
    database = service_for(ctx).database
    ring = KeyRing(database, schedule=KeySchedule(), kek=kek)
    try:
        added = ring.rotate(discard_existing=discard_existing)
    except KekError as exc:
        refuse(str(exc))
    finally:
        database.dispose()
    result: dict[str, Any] = {
        "added": None if added is None else added.kid,
        "activates_at": None if added is None else _stamp(added.activates_at),
    }
    if added is None:
        result["note"] = "a successor is already waiting to sign"
    emit(result, as_json=as_json, title="signing key rotation")


@keys_app.command("rewrap")
def keys_rewrap(
    ctx: typer.Context,
    new_key_file: Annotated[
        Path,
        typer.Option(
            "--new-key-file", help="File holding the new key-encryption key.", dir_okay=False
        ),
    ],
    key_file: KeyFileOption = None,
    as_json: JsonFlag = False,
) -> None:
    """Re-encrypt every signing key under a new key-encryption key, in one transaction.

    The current key is found as for `gate` (it is never generated here). When it is the
    file beside an SQLite database, that file then holds the new key."""
    from servicetokens.usecases.signing_keys import rewrap

    settings: Settings = ctx.obj
    old = signing_kek(settings, key_file, create=False)
    try:
        new = read_kek_file(new_key_file, source=f"--new-key-file {new_key_file}")
    except KekError as exc:
        refuse(str(exc))
    database = service_for(ctx).database
    try:
        count = rewrap(database, old, new)
    except KekError as exc:
        refuse(str(exc))
    finally:
        database.dispose()
    result: dict[str, Any] = {"rewrapped": count, "kek_id": new.key_id}
    beside = default_kek_file(settings.database_url)
    # The old key came from the file beside the database: later starts read it from there.
    from_beside = key_file is None and not os.environ.get(KEK_ENV, "").strip()
    if from_beside and beside is not None and beside.exists():
        _replace(beside, new)
        result["key_file"] = str(beside)
    emit(result, as_json=as_json, title="signing keys re-encrypted")


def _replace(path: Path, kek: KeyEncryptionKey) -> None:
    """Write `kek` into `path` (0600) by an atomic rename over the old file."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.new")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with open(descriptor, "w", encoding="ascii") as handle:
        handle.write(kek.encoded() + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)
