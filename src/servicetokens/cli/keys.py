"""`servicetokens keys ...`: the gate's signing keys and the key-encryption key."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from servicetokens.cli.at_rest import KeyFileOption, refuse, signing_kek
from servicetokens.cli.output import console, emit
from servicetokens.config import Settings
from servicetokens.domain.clock import format_timestamp, from_micros, system_clock
from servicetokens.domain.signing_keys import SigningKeyRecord
from servicetokens.signing.kek import KekError, KeyEncryptionKey
from servicetokens.signing.kek_source import KEK_ENV, kek_file_beside, read_kek_file
from servicetokens.store.database import Database
from servicetokens.store.engine import normalise_url
from servicetokens.store.files import sqlite_file

__all__ = ["keys_app"]

keys_app = typer.Typer(
    help="The gate's JWT signing keys and the key-encryption key they are stored under.",
    no_args_is_help=True,
)

JsonFlag = Annotated[bool, typer.Option("--json", help="Print one JSON object.")]


def _database(ctx: typer.Context) -> Database:
    from servicetokens.bootstrap import build_service

    settings: Settings = ctx.obj
    return build_service(settings).database


@keys_app.command("generate-kek")
def generate_kek(as_json: JsonFlag = False) -> None:
    """Print a new key-encryption key (32 random bytes, URL-safe base64)."""
    kek = KeyEncryptionKey.generate()
    if as_json:
        print(json.dumps({"key_encryption_key": kek.encoded(), "kek_id": kek.key_id}))
    else:
        print(kek.encoded())


def _state(record: SigningKeyRecord, successor: SigningKeyRecord | None, now: int) -> str:
    from servicetokens.gate.keys import KeySchedule, to_micros_delta

    if record.activates_at > now:
        return "upcoming"
    if successor is None or successor.activates_at > now:
        return "signing"
    overlap = to_micros_delta(KeySchedule().overlap)
    return "published" if now < successor.activates_at + overlap else "retired"


def _stamp(micros: int) -> str:
    return format_timestamp(from_micros(micros))


@keys_app.command("list")
def keys_list(ctx: typer.Context, as_json: JsonFlag = False) -> None:
    """Show the stored signing keys (public facts only; needs no key-encryption key)."""
    from servicetokens.domain.clock import to_micros

    database = _database(ctx)
    with database.read() as tx:
        records = tx.signing_keys.all()
    database.engine.dispose()
    now = to_micros(system_clock())
    rows = [
        {
            "kid": record.kid,
            "state": _state(record, successor, now),
            "activates_at": _stamp(record.activates_at),
            "created_at": _stamp(record.created_at),
            "kek_id": record.kek_id,
        }
        for record, successor in zip(records, [*records[1:], None][: len(records)], strict=True)
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
    from servicetokens.gate.keys import KeyRing, KeySchedule

    kek = signing_kek(ctx.obj, key_file, create=True)
    database = _database(ctx)
    ring = KeyRing(database, schedule=KeySchedule(), kek=kek)
    try:
        added = ring.rotate(discard_existing=discard_existing)
    except KekError as exc:
        refuse(str(exc))
    finally:
        database.engine.dispose()
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
    from servicetokens.gate.keys import rewrap

    settings: Settings = ctx.obj
    old = signing_kek(settings, key_file, create=False)
    try:
        new = read_kek_file(new_key_file, source=f"--new-key-file {new_key_file}")
    except KekError as exc:
        refuse(str(exc))
    database = _database(ctx)
    try:
        count = rewrap(database, old, new)
        _checkpoint(database)
    except KekError as exc:
        refuse(str(exc))
    finally:
        database.engine.dispose()
    result: dict[str, Any] = {"rewrapped": count, "kek_id": new.key_id}
    beside = _default_kek_file(settings)
    # The old key came from the file beside the database: later starts read it from there.
    from_beside = key_file is None and not os.environ.get(KEK_ENV, "").strip()
    if from_beside and beside is not None and beside.exists():
        _replace(beside, new)
        result["key_file"] = str(beside)
    emit(result, as_json=as_json, title="signing keys re-encrypted")


def _default_kek_file(settings: Settings) -> Path | None:
    database = sqlite_file(normalise_url(settings.database_url))
    return None if database is None else kek_file_beside(database)


def _replace(path: Path, kek: KeyEncryptionKey) -> None:
    """Write `kek` into `path` (0600) by an atomic rename over the old file."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.new")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with open(descriptor, "w", encoding="ascii") as handle:
        handle.write(kek.encoded() + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


def _checkpoint(database: Database) -> None:
    """SQLite: move the WAL into the database and empty it, so the replaced ciphertexts
    (zeroed by `secure_delete`) are zeroed in the database file too."""
    if database.engine.dialect.name == "sqlite":
        with database.engine.connect() as connection:
            connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
