"""The version probe of PostgreSQL, on the event loop: one connection per loop, shared.

The list and get routes ask, for every request, which version a container and the API
credentials are at (read-your-writes across processes: a write acknowledged anywhere is seen
by the next request to any process). A pooled connection in the thread pool costs a thread
hop, the pool's checkout and its ping for each request; here the loop itself sends the query
on a connection of its own, and concurrent requests share it.

Sharing keeps the promise: a request joins the *next* query to be sent, never one already in
flight, so the version it gets was read after the request arrived. While one query runs,
every request that arrives waits for the following one, which answers all of them (their
containers in one statement): under load one round trip serves many requests.
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from collections.abc import Sequence
from typing import Any

import psycopg
from sqlalchemy.engine import URL
from sqlalchemy.exc import OperationalError

from servicetokens.store.versions import fold_versions

__all__ = ["AsyncVersionProbe", "reap_closed_loops"]

_Key = tuple[str, str]
_ONE = (
    "SELECT container_kind, container_id, version, token_count FROM container_versions "
    "WHERE (container_kind = %s AND container_id = %s) "
    "OR (container_kind = 'credentials' AND container_id = 'all')"
)
_MANY = (
    "SELECT v.container_kind, v.container_id, v.version, v.token_count "
    "FROM container_versions v JOIN unnest(%s::text[], %s::text[]) AS k(kind, id) "
    "ON v.container_kind = k.kind AND v.container_id = k.id "
    "UNION ALL SELECT container_kind, container_id, version, token_count "
    "FROM container_versions WHERE container_kind = 'credentials' AND container_id = 'all'"
)


class _LoopState:
    """One event loop's connection and the requests waiting for the next query."""

    def __init__(self) -> None:
        self.connection: psycopg.AsyncConnection[Any] | None = None
        self.waiting: dict[_Key, list[asyncio.Future[tuple[int, int, int]]]] = {}
        self.runner: asyncio.Task[None] | None = None


def reap_closed_loops(states: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Any]) -> None:
    """Close the connections of event loops that have closed, and forget them.

    A server has one loop per worker for its whole life, but a process may run many loops
    one after another (a test client that starts one per request, `asyncio.run` in a CLI):
    a closed loop can never run its connection's close, and the loop and its connection
    wait for the cyclic collector, holding a database session each meanwhile. Called when a
    new loop appears, so at most one connection per live loop stays open."""
    for loop, state in list(states.items()):
        if loop.is_closed():
            del states[loop]
            connection, state.connection = state.connection, None
            if connection is not None and not connection.closed:
                connection.pgconn.finish()  # libpq's close: synchronous, needs no loop


class AsyncVersionProbe:
    """`VersionStore.versions` for PostgreSQL, awaited on the event loop."""

    def __init__(self, url: URL) -> None:
        self._conninfo = url.set(drivername="postgresql").render_as_string(hide_password=False)
        self._loops: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopState] = (
            weakref.WeakKeyDictionary()
        )

    async def versions(self, kind: str, container_id: str) -> tuple[int, int, int]:
        """(container version, its token count, credentials version), read after the call
        began; raises SQLAlchemy's `OperationalError` when the database cannot be reached."""
        loop = asyncio.get_running_loop()
        state = self._loops.get(loop)
        if state is None:
            reap_closed_loops(self._loops)
            state = self._loops[loop] = _LoopState()
        answer: asyncio.Future[tuple[int, int, int]] = loop.create_future()
        state.waiting.setdefault((kind, container_id), []).append(answer)
        if state.runner is None or state.runner.done():
            state.runner = loop.create_task(self._run(state))
        return await answer

    async def _run(self, state: _LoopState) -> None:
        while state.waiting:
            batch, state.waiting = state.waiting, {}
            try:
                found = await self._query(state, list(batch))
            except Exception as exc:  # every waiter gets the failure; the next run reconnects
                await self._drop(state)
                error = OperationalError("version probe", None, exc)
                for waiters in batch.values():
                    for waiter in waiters:
                        if not waiter.done():
                            waiter.set_exception(error)
                continue
            for key, waiters in batch.items():
                result = found[key]
                for waiter in waiters:
                    if not waiter.done():
                        waiter.set_result(result)

    async def _query(
        self, state: _LoopState, keys: Sequence[_Key]
    ) -> dict[_Key, tuple[int, int, int]]:
        if state.connection is None or state.connection.closed:
            # Nothing prepared on the server and no startup options: the connection works
            # unchanged through a pooler in transaction mode (PgBouncer), where the next
            # statement may reach another server session. The probe is one primary-key
            # lookup, so it needs no statement timeout of its own.
            state.connection = await psycopg.AsyncConnection.connect(
                self._conninfo, autocommit=True, connect_timeout=3, prepare_threshold=None
            )
        if len(keys) == 1:
            rows = await (await state.connection.execute(_ONE, keys[0])).fetchall()
        else:
            kinds, ids = [k for k, _ in keys], [i for _, i in keys]
            rows = await (await state.connection.execute(_MANY, (kinds, ids))).fetchall()
        credentials = [
            (kind, version, count) for kind, _, version, count in rows if kind == "credentials"
        ]
        return {
            key: fold_versions([*credentials, *((k, v, c) for k, i, v, c in rows if (k, i) == key)])
            for key in keys
        }

    async def _drop(self, state: _LoopState) -> None:
        connection, state.connection = state.connection, None
        if connection is not None:
            with contextlib.suppress(psycopg.Error):
                await connection.close()

    async def close(self) -> None:
        """Close the connection of the running loop (the app's shutdown)."""
        state = self._loops.pop(asyncio.get_running_loop(), None)
        if state is not None:
            if state.runner is not None:
                await asyncio.gather(state.runner, return_exceptions=True)
            await self._drop(state)
