"""The version probe of PostgreSQL, on the event loop: one connection per loop, shared.

The list and get routes ask, for every request, which version a container and the API
credentials are at (read-your-writes across processes: a write acknowledged anywhere is seen
by the next request to any process). A pooled connection in the thread pool costs a thread
hop, the pool's checkout and its ping for each request; here the loop itself sends the query
on a connection of its own, and concurrent requests share it (`store.loop_connections.Batched`:
a request joins the *next* query to be sent, never one already in flight, so the version it
gets was read after the request arrived; one query answers every container waiting for it).
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.engine import URL

from servicetokens.store.loop_connections import Batched, PgConnection
from servicetokens.store.versions import fold_versions

__all__ = ["AsyncVersionProbe"]

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


async def _versions(
    connection: PgConnection, keys: Sequence[_Key]
) -> dict[_Key, tuple[int, int, int]]:
    # One primary-key lookup: it needs no statement timeout of its own.
    if len(keys) == 1:
        rows = await (await connection.execute(_ONE, keys[0])).fetchall()
    else:
        kinds, ids = [k for k, _ in keys], [i for _, i in keys]
        rows = await (await connection.execute(_MANY, (kinds, ids))).fetchall()
    credentials = [
        (kind, version, count) for kind, _, version, count in rows if kind == "credentials"
    ]
    return {
        key: fold_versions([*credentials, *((k, v, c) for k, i, v, c in rows if (k, i) == key)])
        for key in keys
    }


class AsyncVersionProbe:
    """`VersionStore.versions` for PostgreSQL, awaited on the event loop."""

    def __init__(self, url: URL) -> None:
        self._batched = Batched(url, _versions, missing=(0, 0, 0), what="version probe")

    async def versions(self, kind: str, container_id: str) -> tuple[int, int, int]:
        """(container version, its token count, credentials version), read after the call
        began; raises SQLAlchemy's `OperationalError` when the database cannot be reached."""
        return await self._batched.get((kind, container_id))

    async def close(self) -> None:
        """Close the connection of the running loop (the app's shutdown)."""
        await self._batched.close()
