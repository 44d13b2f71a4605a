"""Database URLs and engines: SQLite tuned for durable WAL commits, PostgreSQL via psycopg 3."""

from __future__ import annotations

from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url

from servicetokens.store.files import create_private, sqlite_file

__all__ = ["SNAPSHOT_INTENT", "WRITE_INTENT", "make_engine", "normalise_url", "startup_options"]

WRITE_INTENT = "servicetokens.write"
"""Connection-info flag: the next transaction writes (SQLite then takes the lock up front)."""

SNAPSHOT_INTENT = "servicetokens.snapshot"
"""Connection-info flag: the next transaction reads one snapshot (SQLite then begins one)."""


def normalise_url(url: str) -> URL:
    """Accept plain `postgresql://` / `postgres://` and `sqlite:///path`, pick our drivers."""
    parsed = make_url(url.replace("postgres://", "postgresql://", 1))
    if parsed.get_backend_name() == "postgresql":
        return parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() == "sqlite":
        return parsed.set(drivername="sqlite+pysqlite")
    raise ValueError(f"unsupported database URL {url!r}: use sqlite:///PATH or postgresql://...")


_SQLITE_POOL = 4


def _tune_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Transactions are begun by us (below), not by the driver's own heuristics.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")  # a 2xx means the write survives power loss
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        # Writers take the write lock at BEGIN, so read-modify-write cannot lose an update
        # and never fails half-way with SQLITE_BUSY on lock upgrade.
        # Reads run without BEGIN: each statement sees the latest commit, as under
        # PostgreSQL's READ COMMITTED, and a hot read costs one statement, not three.
        if connection.info.pop(WRITE_INTENT, False):
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        elif connection.info.pop(SNAPSHOT_INTENT, False):
            # A deferred BEGIN: the first read fixes the WAL snapshot every later one sees.
            connection.exec_driver_sql("BEGIN")


_STATEMENT_TIMEOUT_MS = 10_000
"""The longest a statement may run on PostgreSQL before the server cancels it."""


def make_engine(url: str, *, pool_size: int = 10, transaction_pooler: bool = False) -> Engine:
    """An engine for `url` with the settings servicetokens relies on.

    `transaction_pooler`: PostgreSQL is reached through a pooler in transaction mode
    (PgBouncer's `pool_mode = transaction`), which hands each transaction to any server
    session. Then psycopg prepares no statements on the server (a prepared statement lives
    in one session: the next transaction may find it missing, or a twin already there),
    and no `options` startup parameter is sent (PgBouncer refuses it): the statement
    timeout must then come from the server side (docs/reliability.md, *PgBouncer*).
    Without it psycopg prepares a statement on its fifth execution on a connection, which
    saves the server's parse and plan (tens of microseconds) on every hot query."""
    parsed = normalise_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = sqlite_file(parsed)
        if database is not None:
            database.parent.mkdir(parents=True, exist_ok=True)
            create_private(database)  # 0600: SQLite gives -wal and -shm the same mode
        # One writer at a time and microsecond reads: a few connections serve any load, and
        # each holds its own page cache, so more would only cost memory.
        connections = min(pool_size, _SQLITE_POOL)
        engine = create_engine(
            parsed,
            pool_size=connections,
            max_overflow=connections,
            connect_args={"check_same_thread": False, "timeout": 10},
        )
        _tune_sqlite(engine)
        return engine
    connect_args: dict[str, Any] = {"connect_timeout": 3}
    if transaction_pooler:
        connect_args["prepare_threshold"] = None
    else:
        connect_args["options"] = f"-c statement_timeout={_STATEMENT_TIMEOUT_MS}"
    engine = create_engine(
        parsed,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=True,
        pool_timeout=5,
        connect_args=connect_args,
    )
    if "options" in connect_args:
        _STARTUP_OPTIONS[engine] = connect_args["options"]
    return engine


_STARTUP_OPTIONS: WeakKeyDictionary[Engine, str] = WeakKeyDictionary()


def startup_options(engine: Engine) -> str | None:
    """The `options` startup parameter `make_engine` gave `engine`'s connections (the
    statement timeout; None behind a transaction pooler, or for an engine made elsewhere),
    for the connections made beside its pool (`store.loop_connections`) to send too."""
    return _STARTUP_OPTIONS.get(engine)
