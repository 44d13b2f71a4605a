"""What differs between SQLite and PostgreSQL, in one small object.

The aggregate stores write portable SQLAlchemy Core; where the engines really differ
(upserts, row locks, NOTIFY, advisory locks, secure deletion, parallel scans, the
placeholder style of the one hand-written query) they ask their `Dialect`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, Table, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection

__all__ = ["Dialect", "Session"]


@dataclass(frozen=True, slots=True)
class Dialect:
    """The engine a connection speaks to, and how to say engine-specific things to it."""

    name: str
    """`sqlite` or `postgresql`."""

    @classmethod
    def of(cls, connection: Connection) -> Dialect:
        return _POSTGRES if connection.dialect.name == "postgresql" else _SQLITE

    @property
    def postgres(self) -> bool:
        return self.name == "postgresql"

    def upsert(self, table: Table) -> Any:
        """`INSERT … ON CONFLICT` for `table` (both engines spell it the same way)."""
        return (pg_insert if self.postgres else sqlite_insert)(table)

    def for_update(self, statement: Select[Any]) -> Select[Any]:
        """Lock the rows read until the transaction ends. SQLite needs nothing: its write
        transactions start with BEGIN IMMEDIATE and hold the database lock."""
        return statement.with_for_update() if self.postgres else statement

    def notify(self, connection: Connection, channel: str, payload: str) -> None:
        """PostgreSQL `NOTIFY` on commit; SQLite readers poll `data_version` instead."""
        if self.postgres:
            connection.execute(select(func.pg_notify(channel, payload)))

    def advisory_lock(self, connection: Connection, key: int) -> None:
        """Serialise with other processes until this transaction ends (PostgreSQL); an
        SQLite write transaction already holds the database lock."""
        if self.postgres:
            connection.execute(select(func.pg_advisory_xact_lock(key)))

    def try_advisory_lock(self, connection: Connection, key: int) -> bool:
        """Whether this transaction now holds the lock `key` (PostgreSQL; taken without
        waiting, released at its end). An SQLite write transaction holds the database lock
        already: True."""
        if not self.postgres:
            return True
        return bool(connection.execute(select(func.pg_try_advisory_xact_lock(key))).scalar())

    def serial_scan(self, connection: Connection) -> None:
        """Keep the scan that follows to one backend: parallel workers would take every
        core for a walk that is one caller's own cost."""
        if self.postgres:
            connection.exec_driver_sql("SET LOCAL max_parallel_workers_per_gather = 0")

    def placeholders(self, sql: str, *names: str) -> str:
        """Hand-written SQL with `{name}` slots in this driver's parameter style."""
        style = {n: (f"%({n})s" if self.postgres else "?") for n in names}
        return sql.format(**style)

    @contextmanager
    def erasing(self, connection: Connection) -> Iterator[None]:
        """SQLite: content deleted or replaced inside the block is overwritten with zeros
        (`secure_delete`), so replaced key material does not linger in free pages.
        PostgreSQL keeps dead rows until VACUUM (see docs/gate.md)."""
        if self.postgres:
            yield
            return
        connection.exec_driver_sql("PRAGMA secure_delete=ON")
        try:
            yield
        finally:
            connection.exec_driver_sql("PRAGMA secure_delete=OFF")


_SQLITE = Dialect("sqlite")
_POSTGRES = Dialect("postgresql")


class Session:
    """What every aggregate store holds: the open transaction's connection and dialect."""

    __slots__ = ("_conn", "_dialect")

    def __init__(self, connection: Connection, dialect: Dialect) -> None:
        self._conn = connection
        self._dialect = dialect
