"""PostgreSQL connections owned by an event loop, for reads that skip the thread pool.

A read in the thread pool costs a thread hop, the pool's checkout and its ping, and
SQLAlchemy's execution, around statements PostgreSQL answers in well under a millisecond
(docs/performance.md). The hottest reads are therefore sent by the event loop itself, on
psycopg `AsyncConnection`s that belong to the loop (a worker process has one loop; a test
may run several in turn): the version probe (`store.probe`), a token by id
(`store.async_reads`) and cheap searches (`store.async_search`).

`LoopConnections` is the one place such connections are made, lent and replaced: at most
`size` per loop, opened on first use, autocommit (one statement, one snapshot), nothing
prepared on the server and no startup options, so they work unchanged through a pooler in
transaction mode (PgBouncer), where the next statement may reach another server session. A
connection whose statement failed is closed and forgotten, and the next use opens a new one;
the failure reaches the caller as SQLAlchemy's `OperationalError`, as from the pool.

`Batched` shares one connection's statements between callers: a request joins the *next*
statement to be sent, never one already in flight, so what it gets was read after it
arrived (read-your-writes holds); while one statement runs, every request that arrives waits
for the following one, which answers all of them. Under load one round trip serves many.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable, Mapping, Sequence
from typing import Any, Generic, TypeVar

import psycopg
from sqlalchemy.engine import URL
from sqlalchemy.exc import OperationalError

__all__ = ["Batched", "LoopConnections", "PgConnection"]

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")
S = TypeVar("S")

PgConnection = psycopg.AsyncConnection[Any]


class _PerLoop(Generic[S]):
    """A value per event loop, made on first use there, dropped once the loop has closed.

    A server has one loop per worker for its whole life, but a process may run many loops
    one after another (a test client that starts one per request, `asyncio.run` in a CLI):
    a closed loop can never run its connections' close, and left to the cyclic collector
    they would hold a database session each meanwhile. So the loops are held (not weakly:
    a loop freed first would take its value out of reach) until a new loop appears; then
    the values of loops that have closed are handed to `reap` and dropped. At most the
    live loops' connections, and the last closed loop's, stay open."""

    def __init__(self, make: Callable[[], S], *, reap: Callable[[S], None] | None = None) -> None:
        self._make = make
        self._reap = reap
        self._values: dict[asyncio.AbstractEventLoop, S] = {}

    def get(self) -> S:
        loop = asyncio.get_running_loop()
        value = self._values.get(loop)
        if value is None:
            for other, state in list(self._values.items()):
                if other.is_closed():
                    del self._values[other]
                    if self._reap is not None:
                        self._reap(state)
            value = self._values[loop] = self._make()
        return value

    def pop(self) -> S | None:
        return self._values.pop(asyncio.get_running_loop(), None)


class _Connections:
    """One loop's connections: the idle ones, and how many may be lent at once."""

    def __init__(self, size: int) -> None:
        self.idle: list[PgConnection] = []
        self.slots = asyncio.Semaphore(size)
        self.closed = False
        """Closed (the app's shutdown, or its loop ended): a connection given back is closed."""


class LoopConnections:
    """At most `size` PostgreSQL connections per event loop, lent one caller at a time."""

    def __init__(
        self, url: URL, *, size: int = 1, what: str = "read", options: str | None = None
    ) -> None:
        self._conninfo = url.set(drivername="postgresql").render_as_string(hide_password=False)
        self._options: dict[str, Any] = {} if options is None else {"options": options}
        """The pool's startup options (its statement timeout) when connected directly."""
        self._what = what
        self._loops = _PerLoop(lambda: _Connections(size), reap=_finish)

    @contextlib.asynccontextmanager
    async def connection(self) -> AsyncIterator[PgConnection]:
        """A connection of the running loop for the block's statements (waiting while all
        `size` are lent). A `psycopg.Error` in the block closes it and is raised as
        `OperationalError`; any other exception closes it too (it may be mid-statement)."""
        state = self._loops.get()
        async with state.slots:
            connection = state.idle.pop() if state.idle else None
            try:
                if connection is None or connection.closed:
                    connection = await psycopg.AsyncConnection.connect(
                        self._conninfo,
                        autocommit=True,
                        connect_timeout=3,
                        prepare_threshold=None,
                        **self._options,
                    )
                yield connection
            except psycopg.Error as exc:
                await _close(connection)
                raise OperationalError(self._what, None, exc) from exc
            except BaseException:
                await _close(connection)
                raise
            if state.closed:  # lent while the app shut down: nobody will take it again
                await _close(connection)
            else:
                state.idle.append(connection)

    async def close(self) -> None:
        """Close the running loop's idle connections (the app's shutdown)."""
        state = self._loops.pop()
        if state is not None:
            state.closed = True
            for connection in state.idle:
                await _close(connection)
            state.idle.clear()


def _finish(state: _Connections) -> None:
    """Close a closed loop's idle connections without that loop (libpq's close)."""
    state.closed = True
    for connection in state.idle:
        if not connection.closed:
            connection.pgconn.finish()
    state.idle.clear()


async def _close(connection: PgConnection | None) -> None:
    if connection is not None:
        with contextlib.suppress(psycopg.Error, OSError):
            await connection.close()


class _Waiting(Generic[K, V]):
    """One loop's requests waiting for the next statement, and the task sending it."""

    def __init__(self) -> None:
        self.waiting: dict[K, list[asyncio.Future[V]]] = {}
        self.runner: asyncio.Task[None] | None = None


class Batched(Generic[K, V]):
    """Lookups by key sharing statements on one connection of each loop.

    `query(connection, keys)` answers every key in one statement (a key it leaves out is
    answered with `missing`)."""

    def __init__(
        self,
        url: URL,
        query: Callable[[PgConnection, Sequence[K]], Awaitable[Mapping[K, V]]],
        *,
        missing: V,
        what: str,
    ) -> None:
        self._connections = LoopConnections(url, size=1, what=what)
        self._query = query
        self._missing = missing
        self._what = what
        self._loops: _PerLoop[_Waiting[K, V]] = _PerLoop(_Waiting)

    async def get(self, key: K) -> V:
        """The answer for `key`, read by a statement sent after the call began; raises
        `OperationalError` when the database cannot be reached."""
        state = self._loops.get()
        answer: asyncio.Future[V] = asyncio.get_running_loop().create_future()
        state.waiting.setdefault(key, []).append(answer)
        if state.runner is None or state.runner.done():
            state.runner = asyncio.get_running_loop().create_task(self._run(state))
        return await answer

    async def _run(self, state: _Waiting[K, V]) -> None:
        while state.waiting:
            batch, state.waiting = state.waiting, {}
            try:
                async with self._connections.connection() as connection:
                    found = await self._query(connection, list(batch))
            except Exception as exc:  # every waiter gets the failure; the next run reconnects
                error = exc if isinstance(exc, OperationalError) else None
                for waiters in batch.values():
                    for waiter in waiters:
                        if not waiter.done():
                            waiter.set_exception(error or OperationalError(self._what, None, exc))
                continue
            for key, waiters in batch.items():
                result = found.get(key, self._missing)
                for waiter in waiters:
                    if not waiter.done():
                        waiter.set_result(result)

    async def close(self) -> None:
        """Wait for the running loop's statement in flight, then close its connection."""
        state = self._loops.pop()
        if state is not None and state.runner is not None:
            await asyncio.gather(state.runner, return_exceptions=True)
        await self._connections.close()
