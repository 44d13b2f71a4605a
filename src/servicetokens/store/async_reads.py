"""`GET` of one token on PostgreSQL, read on the event loop: one connection per loop, shared.

A token the API has not memoised yet (`api.page_memo`) was read in the thread pool: a thread
hop, the pool's checkout and its ping, and SQLAlchemy's execution, around a primary-key
lookup that takes PostgreSQL ~0.05 ms. Under load that overhead, not the lookup, was what a
miss cost (docs/performance.md, issue 13). Here the loop sends the lookup itself, on a
connection of its own (the version probe's connection is kept for the probe), and requests
that arrive while one lookup is in flight share the next one (`id = ANY(...)`;
`store.loop_connections.Batched`).

The lookup runs after the caller's version probe answered, so what it reads is at least as
new as that version (read-your-writes holds as for the list).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.engine import URL

from servicetokens.domain.permissions import Container
from servicetokens.domain.tokens import ServiceToken
from servicetokens.store.loop_connections import Batched, PgConnection
from servicetokens.store.token_rows import token_from_row

__all__ = ["TOKEN_COLUMNS", "AsyncTokenReads"]

TOKEN_COLUMNS = (
    "id, container_kind, container_id, account_id, name, search_key, client_id, "
    "secret_digest, client_secret_version, previous_secret_digest, "
    "previous_client_secret_expires_at, duration, expires_at, enabled, created_at, "
    "updated_at, last_seen_at"
)
"""`service_tokens`' columns in the table's order (what `token_from_row` reads)."""
_BY_IDS = f"SELECT {TOKEN_COLUMNS} FROM service_tokens WHERE id = ANY(%s::text[])"  # noqa: S608

_Row = tuple[Any, ...]


async def _by_ids(connection: PgConnection, ids: Sequence[str]) -> dict[str, _Row | None]:
    rows = await (await connection.execute(_BY_IDS, (list(ids),))).fetchall()
    return {row[0]: row for row in rows}


class AsyncTokenReads:
    """Tokens by id, awaited on the event loop (PostgreSQL)."""

    def __init__(self, url: URL) -> None:
        self._batched: Batched[str, _Row | None] = Batched(
            url, _by_ids, missing=None, what="token read"
        )

    async def token(self, container: Container, token_id: str) -> ServiceToken | None:
        """The container's token with that id, read after the call began; None when the
        container holds no such token. Raises SQLAlchemy's `OperationalError` when the
        database cannot be reached."""
        row = await self._batched.get(token_id)
        # The id is unique across containers; a token of another container is not found.
        if row is None or row[1] != container.kind.value or row[2] != container.id:
            return None
        return token_from_row(row)  # type: ignore[arg-type]

    async def close(self) -> None:
        """Close the connection of the running loop (the app's shutdown)."""
        await self._batched.close()
