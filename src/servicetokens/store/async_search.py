"""Searches PostgreSQL answers from a few index entries, read on the event loop.

A search of a rare term (a token's name among a million: `svc-004200`) costs PostgreSQL
~3 ms through the trigram index (`store.trigrams`: the rarest word's posting lists), and
cost as much again around it in the scan lane: a thread hop, the pool's checkout and ping, a
transaction with `SET LOCAL` (three of its five round trips) and SQLAlchemy's execution, in
threads at a low CPU priority. Here such a search is one autocommit statement (two when a
full page needs its count) sent by the loop on a connection of its own
(`store.loop_connections`: at most `CONNECTIONS` per loop, nothing prepared on the server,
so PgBouncer in transaction mode is fine).

Only a search the index answers from a small part of the table comes here (`index_term`):
the plan the scan lane would choose (`search.choose_plan`: the index), and the term's rarest
word estimated in at most `LOOP_SHARE` of all keys, so the index reads at most that share of
its entries and the matches are fewer still. Every other search (a walk of the container for
a near-universal term) stays in the scan lane. The decision reads no statement: the number
of tokens and the trigram sample are the ones the lane keeps (`TokenTotal`, `TrigramSample`),
re-read in a worker thread when older than their time to live.

The read runs after the caller's version probe answered, so what it reads is at least as new
as the version the page is labelled with (read-your-writes holds as for the lane's reads).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from psycopg.rows import namedtuple_row
from sqlalchemy import Engine, Select
from sqlalchemy.sql.compiler import Compiled

from servicetokens.domain.paging import ListQuery, SeekKey
from servicetokens.domain.permissions import Container
from servicetokens.store.engine import startup_options
from servicetokens.store.loop_connections import LoopConnections
from servicetokens.store.search import SearchPlan, TokenTotal, index_offered, list_statements
from servicetokens.store.token_rows import IN_EVERY_KEY, StoredPage, stored_page
from servicetokens.store.trigrams import TrigramSample

__all__ = ["CONNECTIONS", "LOOP_SHARE", "AsyncSearches"]

CONNECTIONS = 3
"""Search connections per event loop (the API's lane lets one container hold two)."""

_SHAPES = 256
"""Compiled statement shapes kept (orders × directions × filters × seek or offset)."""

LOOP_SHARE = 0.05
"""A search is read on the loop only when its rarest word's rarest trigram is estimated in
at most this share of all search keys."""


class AsyncSearches:
    """Index-plan searches on the event loop (PostgreSQL)."""

    def __init__(
        self,
        engine: Engine,
        *,
        token_total: TokenTotal,
        trigrams: TrigramSample,
        refresh: Callable[[], None],
    ) -> None:
        # With the pool's statement timeout: a search the estimate got wrong is bounded as
        # it would be in the scan lane, and cannot hold a search connection for longer.
        self._connections = LoopConnections(
            engine.url, size=CONNECTIONS, what="search", options=startup_options(engine)
        )
        self._dialect = engine.dialect
        self._token_total = token_total
        self._trigrams = trigrams
        self._refresh = refresh
        self._shapes: dict[Any, Compiled] = {}

    def index_term(self, search: str, *, token_count: int) -> str | None:
        """The word the trigram index is asked for, when the search in a container of
        `token_count` tokens may be read here; None when it goes to the scan lane (or the
        plan's statistics were never read: the lane reads them). Sends no statement; asks
        for the statistics to be re-read (`refresh`) when they are old."""
        folded = search.casefold()
        if folded in IN_EVERY_KEY:
            return None
        total = self._token_total.peek()
        narrowest = self._trigrams.peek(folded)
        if total is None or narrowest is None:
            return None
        (count, total_stale), (word, share, sample_stale) = total, narrowest
        if total_stale or sample_stale:
            self._refresh()
        if not index_offered(folded, token_count=token_count, total=count, postgres=True):
            return None
        if share > LOOP_SHARE:
            return None
        return word

    async def page(
        self,
        container: Container,
        query: ListQuery,
        *,
        index_term: str,
        after: SeekKey | None,
        total: int | None,
    ) -> StoredPage:
        """The page `TokenStore.read_page` reads for `query` on the index plan (with
        `index_term` from `index_term`), its count, and where it ended."""
        statements = list_statements(
            container,
            query,
            dialect="postgresql",
            plan=SearchPlan.INDEX,
            after=after,
            index_term=index_term,
        )
        async with self._connections.connection() as connection:
            cursor = connection.cursor(row_factory=namedtuple_row)
            rows: list[Any] = []
            if not query.past_any_end:
                rows = await (await cursor.execute(*self._compiled(statements.page))).fetchall()
            # As `TokenStore.read_page`: a page that is not full gives the count itself.
            ends_here = after is None and len(rows) < query.per_page
            if total is None and ends_here and (rows or not query.offset):
                total = query.offset + len(rows)
            if total is None:
                sql, params = self._compiled(statements.total)
                counted = await (await cursor.execute(sql, params)).fetchone()
                total = 0 if counted is None else int(counted[0])
        return stored_page(rows, query, total)

    def _compiled(self, statement: Select[Any]) -> tuple[str, dict[str, Any]]:
        # Compiled once per statement shape, as SQLAlchemy's engine does for the pool's
        # reads: the cache key names the shape, its bound values fill the compiled form.
        key = statement._generate_cache_key()
        if key is None:  # pragma: no cover (every list statement is cacheable)
            once = statement.compile(dialect=self._dialect)
            return once.string, dict(once.params)
        compiled = self._shapes.get(key.key)
        if compiled is None:
            compiled = self._dialect.statement_compiler(self._dialect, statement, cache_key=key)
            self._shapes[key.key] = compiled
            while len(self._shapes) > _SHAPES:
                del self._shapes[next(iter(self._shapes))]
        params = compiled.construct_params(extracted_parameters=key.bindparams)
        return compiled.string, dict(params or {})

    async def close(self) -> None:
        """Close the running loop's search connections."""
        await self._connections.close()
