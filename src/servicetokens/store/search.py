"""How a list page is read: its statements, and how a `search` finds its rows.

A search reads at most about a walk of the caller's own tokens: the trigram index (FTS5 on
SQLite, pg_trgm on PostgreSQL), which spans every container, is used only where it is
cheaper than that walk (numbers in docs/performance.md).
"""

from __future__ import annotations

import enum
import threading
import time
from collections.abc import Callable
from typing import Any, NamedTuple

from sqlalchemy import Select, and_, column, func, literal, select, table, tuple_
from sqlalchemy.engine import Connection
from sqlalchemy.sql.expression import UnaryExpression
from sqlalchemy.sql.operators import custom_op

from servicetokens.domain.clock import to_micros
from servicetokens.domain.paging import Direction, ListQuery, Order, SeekKey
from servicetokens.domain.permissions import Container
from servicetokens.store.dialect import Dialect
from servicetokens.store.schema import container_versions, service_tokens
from servicetokens.store.trigrams import TrigramSample

__all__ = [
    "TOTAL",
    "ListStatements",
    "SearchPlan",
    "SeekKey",
    "TokenTotal",
    "choose_plan",
    "index_offered",
    "list_statements",
    "seek_key",
]

_SEEN = func.coalesce(service_tokens.c.last_seen_at, service_tokens.c.created_at)
"""When a token was last seen, a never-seen one counting as seen at its creation (the
expression migration 0013 indexes)."""


def _sort_key(order: Order) -> list[Any]:
    """The columns a list is sorted by, most significant first: the order's own column, then
    creation time and id, so the order is total. Each is served by an index that starts with
    the container (0001 for created_at and name, 0012 for expires_at and last_seen_at)."""
    tokens = service_tokens.c
    if order is Order.CREATED_AT:
        return [tokens.created_at, tokens.id]
    if order is Order.EXPIRES_AT:
        return [tokens.expires_at, tokens.id]
    if order is Order.LAST_SEEN_AT:
        return [_SEEN, tokens.id]
    return [tokens.name, tokens.created_at, tokens.id]


def seek_key(row: Any, order: Order) -> SeekKey:
    """The sort key of a token row (a page's last row: where the next page starts after)."""
    if order is Order.CREATED_AT:
        return (row.created_at, row.id)
    if order is Order.EXPIRES_AT:
        return (row.expires_at, row.id)
    if order is Order.LAST_SEEN_AT:
        seen = row.created_at if row.last_seen_at is None else row.last_seen_at
        return (seen, row.id)
    return (row.name, row.created_at, row.id)


def _lifecycle(query: ListQuery) -> list[Any]:
    """The lifecycle filters' conditions (extensions, docs/compatibility.md)."""
    tokens = service_tokens.c
    conditions: list[Any] = []
    if query.expires_before is not None:
        conditions.append(tokens.expires_at < to_micros(query.expires_before))
    if query.expires_after is not None:
        conditions.append(tokens.expires_at > to_micros(query.expires_after))
    if query.last_seen_before is not None:
        conditions.append(to_micros(query.last_seen_before) > _SEEN)
    if query.enabled is not None:
        conditions.append(tokens.enabled.is_(query.enabled))
    return conditions


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


TOTAL = "total_matching"
"""The label of the window count beside each row of a counted page."""
_search_rows = table("search_rows", column("rowid"), column("token_id"))
_search_index = table("service_tokens_search", column("rowid"), column("search_key"))
_MIN_INDEXED_SEARCH = 3  # a trigram index can only narrow patterns of three characters or more


def _unindexed(column_: Any) -> Any:
    """`+column`: the same value, which SQLite's planner will not serve from an index."""
    return UnaryExpression(column_, operator=custom_op("+"), type_=column_.type)


def _glob_literal(text: str) -> str:
    return "".join(f"[{c}]" if c in "*?[" else c for c in text)


class ListStatements(NamedTuple):
    """The queries of a list request."""

    total: Select[Any]
    page: Select[Any]
    counted_page: Select[Any]


class SearchPlan(enum.Enum):
    """How a `search` finds its rows. Either gives the same rows; they differ in what they read.

    A trigram index covers every container, so it cannot be narrowed to the caller's account
    or zone before it is read: a term that most tokens share walks the whole table. The
    container's own list index can: `CONTAINER` reads exactly the caller's tokens.
    """

    CONTAINER = "container"
    """Walk the container's list index and test each of its rows: O(the container's tokens)."""
    INDEX = "index"
    """Let the trigram index lead (FTS5 on SQLite, pg_trgm on PostgreSQL): O(the rows, in any
    container, that share the term's trigrams)."""


_FTS_ROW_COST = 16
"""How many container rows SQLite tests with LIKE in the time the FTS5 path spends on one match.

Measured at 10^5 tokens: one match costs ~7 µs on the FTS path (GLOB on the trigram index,
`search_rows`, the token by primary key, the sort), one row of the container walk ~0.7 µs,
one match counted in the FTS table alone ~1 µs. Rounded up, so the index is chosen only when
it is clearly cheaper."""

_PG_INDEX_SHARE = 4
"""On PostgreSQL the trigram index may serve a container holding at least 1/4 of all tokens.

There a GIN bitmap over the whole table costs about what a walk of as many rows does (73 vs
61 ms for a term in all 10^5 rows), so the index path costs at most ~4 walks of the caller's
own tokens; below that share, the container's rows are read instead and the index is not
offered to the planner at all (a misestimate would cost a walk of every account's tokens)."""

_PG_COMMON_WORD = 0.5
"""A word held by more than this share of all keys narrows nothing worth an index read."""

_TOTAL_TTL = 5.0
"""Seconds the (approximate) number of all tokens is reused for plan choices."""


def list_statements(
    container: Container,
    query: ListQuery,
    *,
    dialect: str,
    plan: SearchPlan = SearchPlan.INDEX,
    after: SeekKey | None = None,
    from_end: int | None = None,
    index_term: str | None = None,
) -> ListStatements:
    """The count and page queries of a list request (exposed so tests can check their plans).

    `plan` says how a `search` finds its rows (`choose_plan` chooses it). With `after`, the
    page starts right after that sort key (a seek through the order's index) instead of
    skipping `query.offset` rows. With `from_end` (the number of matches after the page),
    the page is read backwards from the end of the order, skipping only those: its rows
    come in reverse. `index_term` (PostgreSQL, the index plan) is the part of the search
    term the trigram index looks up (`TrigramSample.narrowest`; the whole term if None).
    """
    folded = None if query.search is None else query.search.casefold()
    indexed_search = (
        dialect == "sqlite"
        and plan is SearchPlan.INDEX
        and folded is not None
        and len(folded) >= _MIN_INDEXED_SEARCH
    )
    kind_column, id_column = service_tokens.c.container_kind, service_tokens.c.container_id
    if indexed_search:
        # Let the trigram index lead: the few rows it finds are fetched by primary key and
        # then checked for the container. Without the unary `+` SQLite would walk the
        # container's list index instead (to skip a sort) and read every row of it.
        kind_column, id_column = _unindexed(kind_column), _unindexed(id_column)
    conditions: list[Any] = [kind_column == container.kind.value, id_column == container.id]
    if query.name is not None:
        conditions.append(service_tokens.c.name == query.name)
    if folded is not None:
        searched: Any = service_tokens.c.search_key
        if dialect == "postgresql" and plan is SearchPlan.CONTAINER:
            # `search_key || ''` is the same text, but no index covers the expression: the
            # planner cannot reach for the trigram index and reads the container's rows.
            searched = searched.concat(literal(""))
        if dialect == "postgresql" and plan is SearchPlan.INDEX and index_term != folded:
            # The index is asked for the term's rarest word only (`store/trigrams`); the
            # whole term, on an expression no index covers, decides.
            word = _escape_like(index_term or folded)
            conditions.append(service_tokens.c.search_key.like(f"%{word}%", escape="\\"))
            searched = searched.concat(literal(""))
        # The LIKE decides; the index only narrows.
        conditions.append(searched.like(f"%{_escape_like(folded)}%", escape="\\"))
    conditions += _lifecycle(query)
    if indexed_search:
        assert folded is not None
        matches = select(_search_index.c.rowid).where(
            _search_index.c.search_key.op("GLOB")(f"*{_glob_literal(folded)}*")
        )
        conditions.append(
            service_tokens.c.id.in_(
                select(_search_rows.c.token_id).where(_search_rows.c.rowid.in_(matches))
            )
        )
    where = and_(*conditions)
    count = select(func.count()).select_from(service_tokens).where(where)
    key = _sort_key(query.order)
    descending = (query.direction is Direction.DESC) != (from_end is not None)
    page = (
        select(service_tokens)
        .where(where)
        .order_by(*(part.desc() for part in key) if descending else key)
        .limit(query.per_page)
    )
    if from_end is not None:
        page = page.offset(from_end)
    elif after is None:
        page = page.offset(query.offset)
    else:
        # A row value compared in the index's own order: one range scan from the seek key.
        # The bound on the leading column alone is implied, and is what SQLite turns into
        # the range when the column is an expression (last_seen_at's coalesce).
        if descending:
            page = page.where(key[0] <= after[0], tuple_(*key) < tuple_(*after))
        else:
            page = page.where(key[0] >= after[0], tuple_(*key) > tuple_(*after))
    # Filtered lists: the page with the number of matches beside each row (a window count),
    # so the filter is evaluated once, not once for the page and again for the count.
    counted = page.add_columns(func.count().over().label(TOTAL))
    return ListStatements(count, page, counted)


def _fts_matches_below(connection: Connection, folded: str, budget: int) -> bool:
    """Whether fewer than `budget` tokens (in all containers) match, by reading at most
    `budget` entries of the FTS5 trigram index."""
    probe = (
        select(_search_index.c.rowid)
        .where(_search_index.c.search_key.op("GLOB")(f"*{_glob_literal(folded)}*"))
        .limit(budget)
        .subquery()
    )
    found: int = connection.execute(select(func.count()).select_from(probe)).scalar_one()
    return found < budget


class TokenTotal:
    """The number of tokens in all containers, re-read at most every `ttl` seconds.

    Only plan choices use it, so a few seconds' staleness costs at most a slower plan."""

    def __init__(self, *, ttl: float = _TOTAL_TTL, clock: Callable[[], float] = time.monotonic):
        self._ttl = ttl
        self._clock = clock
        self._value = 0
        self._read_at: float | None = None
        self._lock = threading.Lock()

    def get(self, connection: Connection) -> int:
        now = self._clock()
        with self._lock:
            if self._read_at is not None and now - self._read_at < self._ttl:
                return self._value
        value = connection.execute(
            select(func.coalesce(func.sum(container_versions.c.token_count), 0))
        ).scalar_one()
        with self._lock:
            self._value, self._read_at = int(value), now
        return int(value)

    def peek(self) -> tuple[int, bool] | None:
        """The number last read and whether it is older than `ttl`, without reading (None
        before the first read): for plan choices made where no statement may be sent."""
        with self._lock:
            if self._read_at is None:
                return None
            return self._value, self._clock() - self._read_at >= self._ttl


def index_offered(folded: str, *, token_count: int, total: int, postgres: bool) -> bool:
    """Whether the trigram index may serve a search for `folded` in a container of
    `token_count` of all `total` tokens, before the term's own rarity is weighed: the term
    has a trigram, and the container holds at least 1/4 (PostgreSQL) or 1/16 (SQLite) of
    all tokens (`choose_plan`)."""
    share = _PG_INDEX_SHARE if postgres else _FTS_ROW_COST
    return len(folded) >= _MIN_INDEXED_SEARCH and token_count * share >= total


def choose_plan(
    connection: Connection,
    dialect: Dialect,
    search: str,
    *,
    token_count: int,
    total: int | None = None,
    token_total: TokenTotal | None = None,
    trigrams: TrigramSample | None = None,
) -> SearchPlan:
    """How a search for `search` in a container of `token_count` tokens reads least.

    The trigram index is used only where it cannot cost much more than a walk of the
    container itself. On SQLite: when the container holds at least 1/16 of all tokens
    (below that, even reading the index's lists for a term, ~5 ns per entry and trigram
    over the whole table, can cost more than the walk) and the term matches fewer than
    `token_count / 16` tokens in the whole table (found by reading at most that many
    index entries). On PostgreSQL: when the container holds at least a quarter of all
    tokens (then the index reads at most ~4× the container's rows, and the planner
    weighs it against the walk), unless even the term's rarest word is in most keys
    (`trigrams`: then the index finds most of the table). Terms shorter than three
    characters have no trigram to look up: always the walk. `total` is the number of all
    tokens (read when not given).
    """
    folded = search.casefold()
    if len(folded) < _MIN_INDEXED_SEARCH:
        return SearchPlan.CONTAINER
    if total is None:
        total = (token_total or TokenTotal(ttl=0)).get(connection)
    if not index_offered(folded, token_count=token_count, total=total, postgres=dialect.postgres):
        return SearchPlan.CONTAINER
    if dialect.postgres:
        if trigrams is not None:
            _, common = trigrams.narrowest(connection, folded, total=total)
            if common > _PG_COMMON_WORD:
                return SearchPlan.CONTAINER  # the index would find most of the table
        return SearchPlan.INDEX
    budget = token_count // _FTS_ROW_COST
    if budget and _fts_matches_below(connection, folded, budget):
        return SearchPlan.INDEX
    return SearchPlan.CONTAINER
