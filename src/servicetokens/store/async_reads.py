"""`GET` of one token on PostgreSQL, read on the event loop: one connection per loop, shared.

A token the API has not memoised yet (`api.page_memo`) was read in the thread pool: a thread
hop, the pool's checkout and its ping, and SQLAlchemy's execution, around a primary-key
lookup that takes PostgreSQL ~0.05 ms. Under load that overhead, not the lookup, was what a
miss cost (docs/performance.md, issue 13). Here the loop sends the lookup itself, on a
connection of its own (the version probe's connection is kept for the probe), and requests
that arrive while one lookup is in flight share the next one (`id = ANY(...)`), as the
probe's do (`store.probe`).

The lookup runs after the caller's version probe answered, so what it reads is at least as
new as that version (read-your-writes holds as for the list).
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from typing import Any

import psycopg
from sqlalchemy.engine import URL
from sqlalchemy.exc import OperationalError

from servicetokens.domain.permissions import Container
from servicetokens.domain.tokens import ServiceToken
from servicetokens.store.probe import reap_closed_loops
from servicetokens.store.token_rows import token_from_row

__all__ = ["AsyncTokenReads"]

_COLUMNS = (
    "id, container_kind, container_id, account_id, name, search_key, client_id, "
    "secret_digest, client_secret_version, previous_secret_digest, "
    "previous_client_secret_expires_at, duration, expires_at, enabled, created_at, "
    "updated_at, last_seen_at"
)
_BY_IDS = f"SELECT {_COLUMNS} FROM service_tokens WHERE id = ANY(%s::text[])"  # noqa: S608


class _LoopState:
    """One event loop's connection and the lookups waiting for the next query."""

    def __init__(self) -> None:
        self.connection: psycopg.AsyncConnection[Any] | None = None
        self.waiting: dict[str, list[asyncio.Future[tuple[Any, ...] | None]]] = {}
        self.runner: asyncio.Task[None] | None = None


class AsyncTokenReads:
    """Tokens by id, awaited on the event loop (PostgreSQL)."""

    def __init__(self, url: URL) -> None:
        self._conninfo = url.set(drivername="postgresql").render_as_string(hide_password=False)
        self._loops: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopState] = (
            weakref.WeakKeyDictionary()
        )

    async def token(self, container: Container, token_id: str) -> ServiceToken | None:
        """The container's token with that id, read after the call began; None when the
        container holds no such token. Raises SQLAlchemy's `OperationalError` when the
        database cannot be reached."""
        loop = asyncio.get_running_loop()
        state = self._loops.get(loop)
        if state is None:
            reap_closed_loops(self._loops)
            state = self._loops[loop] = _LoopState()
        answer: asyncio.Future[tuple[Any, ...] | None] = loop.create_future()
        state.waiting.setdefault(token_id, []).append(answer)
        if state.runner is None or state.runner.done():
            state.runner = loop.create_task(self._run(state))
        row = await answer
        # The id is unique across containers; a token of another container is not found.
        if row is None or row[1] != container.kind.value or row[2] != container.id:
            return None
        return token_from_row(row)  # type: ignore[arg-type]

    async def _run(self, state: _LoopState) -> None:
        while state.waiting:
            batch, state.waiting = state.waiting, {}
            try:
                found = await self._query(state, list(batch))
            except Exception as exc:  # every waiter gets the failure; the next run reconnects
                await self._drop(state)
                error = OperationalError("token read", None, exc)
                for waiters in batch.values():
                    for waiter in waiters:
                        if not waiter.done():
                            waiter.set_exception(error)
                continue
            for token_id, waiters in batch.items():
                for waiter in waiters:
                    if not waiter.done():
                        waiter.set_result(found.get(token_id))

    async def _query(self, state: _LoopState, ids: list[str]) -> dict[str, tuple[Any, ...]]:
        if state.connection is None or state.connection.closed:
            # As the probe's: nothing prepared on the server, autocommit (one statement,
            # one snapshot), so it works unchanged through PgBouncer in transaction mode.
            state.connection = await psycopg.AsyncConnection.connect(
                self._conninfo, autocommit=True, connect_timeout=3, prepare_threshold=None
            )
        rows = await (await state.connection.execute(_BY_IDS, (ids,))).fetchall()
        return {row[0]: row for row in rows}

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
