"""Service tokens: the rows behind the API's list, get, create, update, rotate and delete,
and the gate's lookups by client id."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, delete, exists, func, insert, select, update
from sqlalchemy.engine import Connection

from servicetokens.domain.clock import to_micros
from servicetokens.domain.paging import ListQuery
from servicetokens.domain.permissions import Container, ContainerKind
from servicetokens.domain.tokens import ServiceToken
from servicetokens.store.dialect import Dialect, Session
from servicetokens.store.schema import access_policy_tokens, service_tokens
from servicetokens.store.search import (
    TOTAL,
    SearchPlan,
    SeekKey,
    TokenTotal,
    choose_plan,
    list_statements,
)
from servicetokens.store.token_rows import (
    IN_EVERY_KEY,
    StoredPage,
    bump_containers_of,
    search_key,
    stored_page,
    token_from_row,
    token_values,
)
from servicetokens.store.trigrams import TrigramSample
from servicetokens.store.versions import VersionStore

__all__ = ["StoredPage", "TokenStore", "search_key"]  # search_key: from token_rows


_INSERT_TOKEN = insert(service_tokens)
_TOUCH_LAST_SEEN = (
    update(service_tokens)
    .where(
        service_tokens.c.id == bindparam("token_id"),
        service_tokens.c.last_seen_at.is_(None) | (service_tokens.c.last_seen_at < bindparam("at")),
    )
    .values(last_seen_at=bindparam("at"))
)


class TokenStore(Session):
    """Service tokens of every container."""

    __slots__ = ("_token_total", "_trigrams", "_versions")

    def __init__(
        self,
        connection: Connection,
        dialect: Dialect,
        *,
        versions: VersionStore,
        token_total: TokenTotal | None = None,
        trigrams: TrigramSample | None = None,
    ) -> None:
        super().__init__(connection, dialect)
        self._versions = versions
        self._token_total = token_total
        self._trigrams = trigrams

    def list(
        self,
        container: Container,
        query: ListQuery,
        *,
        token_count: int | None = None,
        plan: SearchPlan | None = None,
    ) -> tuple[list[ServiceToken], int]:
        """One page of a container's tokens and the total count (`read_page` without the
        seek key)."""
        found = self.read_page(container, query, token_count=token_count, plan=plan)
        return found.tokens, found.total

    def read_page(
        self,
        container: Container,
        query: ListQuery,
        *,
        token_count: int | None = None,
        plan: SearchPlan | None = None,
        after: SeekKey | None = None,
        total: int | None = None,
    ) -> StoredPage:
        """One page of a container's tokens in the query's order, the total count, and the
        sort key of the page's last row.

        `token_count` is the container's stored count, when the caller has already read it.
        With `after` (where the previous page ended) the page is read by a seek from there,
        not by skipping `query.offset` rows; `total` is the count of matches when the caller
        knows it (no count is run). A `search` reads at most about as much as a walk of the
        container's own tokens (see `search_plan`); `plan` forces one way (tests compare
        them).
        """
        if token_count is None:
            token_count = self._versions.container_state(container)[1]
        if query.search is not None and query.search.casefold() in IN_EVERY_KEY:
            query = replace(query, search=None)  # every token matches: no filter to apply
        if query.search is not None and plan is None:
            plan = self.search_plan(query.search, token_count=token_count)
        if query.search is not None:
            self._dialect.serial_scan(self._conn)
        index_term = None
        if self._dialect.postgres and query.search is not None and plan is SearchPlan.INDEX:
            index_term = self._index_term(query.search.casefold())
        count, page, counted_page = list_statements(
            container,
            query,
            dialect=self._dialect.name,
            plan=plan or SearchPlan.INDEX,
            after=after,
            index_term=index_term,
        )
        if not query.filtered:
            total = token_count
            if query.past_any_end or (after is None and query.offset >= total):
                return StoredPage([], total, None)
            if after is None and query.offset > total // 2:
                # A jump into the second half: read it backwards from the end, skipping
                # the (fewer) rows after the page instead of all the rows before it.
                return self._from_end(container, query, total, plan)
            return stored_page(self._conn.execute(page).all(), query, total)
        if query.past_any_end:
            return StoredPage([], self._count(count, total), None)
        if (
            not self._dialect.postgres
            and plan is SearchPlan.INDEX
            and query.search is not None
            and total is None
            and after is None  # the window would count only the matches after the seek
        ):
            # Few matches (the plan was chosen for it), found through FTS5 and sorted: one
            # query returns the page with the number of matches beside each row (a window
            # count), so the index is read once; only a page past the end needs a count.
            rows = self._conn.execute(counted_page).all()
            if rows:
                return stored_page(rows, query, int(rows[0]._mapping[TOTAL]))
            empty_total = self._conn.execute(count).scalar_one() if query.offset else 0
            return StoredPage([], empty_total, None)
        # A walk of the container's rows in page order (or PostgreSQL's plan): a window count
        # would hold every match, whole, until the walk ends (3-7x the walk itself when most
        # rows match). The page stops at its last row; a page that is not full also gives
        # the count (read by offset), so only a full page pays a second, narrow walk.
        rows = self._conn.execute(page).all()
        if total is None:
            ends_here = (
                after is None and len(rows) < query.per_page and bool(rows or not query.offset)
            )
            total = query.offset + len(rows) if ends_here else self._count(count, None)
        return stored_page(rows, query, total)

    def _from_end(
        self, container: Container, query: ListQuery, total: int, plan: SearchPlan | None
    ) -> StoredPage:
        after_page = max(0, total - query.offset - query.per_page)
        backwards = list_statements(
            container,
            query,
            dialect=self._dialect.name,
            plan=plan or SearchPlan.INDEX,
            from_end=after_page,
        ).page.limit(min(query.per_page, total - query.offset))
        return stored_page(self._conn.execute(backwards).all()[::-1], query, total)

    def _index_term(self, folded: str) -> str | None:
        if self._trigrams is None or self._token_total is None:
            return None
        total = self._token_total.get(self._conn)
        return self._trigrams.narrowest(self._conn, folded, total=total)[0]

    def _count(self, count: Any, total: int | None) -> int:
        return total if total is not None else int(self._conn.execute(count).scalar_one())

    def search_plan(self, search: str, *, token_count: int, total: int | None = None) -> SearchPlan:
        """How a search in a container of `token_count` tokens reads least (`choose_plan`)."""
        return choose_plan(
            self._conn,
            self._dialect,
            search,
            token_count=token_count,
            total=total,
            token_total=self._token_total,
            trigrams=self._trigrams,
        )

    def get(
        self, container: Container, token_id: str, *, for_update: bool = False
    ) -> ServiceToken | None:
        """The container's token with that id (locked for update on PostgreSQL if asked)."""
        statement = select(service_tokens).where(
            service_tokens.c.id == token_id,
            service_tokens.c.container_kind == container.kind.value,
            service_tokens.c.container_id == container.id,
        )
        if for_update:
            statement = self._dialect.for_update(statement)
        row = self._conn.execute(statement).first()
        return None if row is None else token_from_row(row)

    def containers_of(self, token_ids: Iterable[str]) -> dict[str, Container]:
        """The container of each token among `token_ids` that exists (in any container)."""
        wanted = sorted(set(token_ids))
        found: dict[str, Container] = {}
        for start in range(0, len(wanted), 500):
            rows = self._conn.execute(
                select(
                    service_tokens.c.id,
                    service_tokens.c.container_kind,
                    service_tokens.c.container_id,
                    service_tokens.c.account_id,
                ).where(service_tokens.c.id.in_(wanted[start : start + 500]))
            )
            for row in rows:
                kind = ContainerKind(row.container_kind)
                found[row.id] = Container(kind, row.container_id, row.account_id)
        return found

    def by_client_id(self, client_id: str) -> ServiceToken | None:
        """The token with that client id, in any container."""
        row = self._conn.execute(
            select(service_tokens).where(service_tokens.c.client_id == client_id)
        ).first()
        return None if row is None else token_from_row(row)

    def insert(self, token: ServiceToken) -> None:
        """Store a new token."""
        self._conn.execute(_INSERT_TOKEN, token_values(token))
        self._versions.bump_keys(token.container)

    def insert_many(self, tokens: Sequence[ServiceToken]) -> None:
        """Store many new tokens in one statement (bulk seeding), and count them."""
        if not tokens:
            return
        self._conn.execute(_INSERT_TOKEN, [token_values(t) for t in tokens])
        per_container: dict[Container, int] = {}
        for token in tokens:
            per_container[token.container] = per_container.get(token.container, 0) + 1
        for container, added in per_container.items():
            self._versions.bump_container(container, count_delta=added)
            self._versions.bump_keys(container)

    def save(self, token: ServiceToken) -> None:
        """Overwrite a token's mutable fields (last_seen_at is left to `touch_last_seen`)."""
        values = token_values(token)
        for fixed in ("id", "container_kind", "container_id", "account_id", "created_at"):
            values.pop(fixed)
        values.pop("last_seen_at")
        renamed = self._conn.execute(
            select(service_tokens.c.name).where(
                service_tokens.c.id == token.id, service_tokens.c.name != token.name
            )
        ).first()
        self._conn.execute(
            update(service_tokens).where(service_tokens.c.id == token.id).values(**values)
        )
        if renamed is not None:  # its search key changed: so may what a filter matches
            self._versions.bump_keys(token.container)

    def delete(self, token_id: str) -> None:
        """Remove a token for good."""
        gone = self._conn.execute(
            delete(service_tokens)
            .where(service_tokens.c.id == token_id)
            .returning(
                service_tokens.c.container_kind,
                service_tokens.c.container_id,
                service_tokens.c.account_id,
            )
        ).first()
        if gone is not None:
            kind, container_id, account_id = gone
            self._versions.bump_keys(Container(ContainerKind(kind), container_id, account_id))

    def touch_last_seen(self, seen: Iterable[tuple[str, datetime]]) -> None:
        """Move `last_seen_at` forward (never back) for each (token id, time), in one
        executemany (psycopg pipelines it: one round trip, not one per token)."""
        seen_pairs = list(seen)
        rows = [{"token_id": token_id, "at": to_micros(moment)} for token_id, moment in seen_pairs]
        if rows:
            self._conn.execute(_TOUCH_LAST_SEEN, rows)
            # The containers' versions move too: memoised list pages and tokens show
            # `last_seen_at` (and `last_seen_before` filters on it), so they are read again.
            ids = sorted({token_id for token_id, _ in seen_pairs})
            for start in range(0, len(ids), 500):
                self._conn.execute(bump_containers_of(ids[start : start + 500]))

    def inactive(
        self, scope: Container, before: datetime, *, enabled_only: bool, limit: int
    ) -> Sequence[ServiceToken]:
        """At most `limit` tokens of `scope` (an account: its own and its zones' tokens; a
        zone: its own) last seen, or never seen and created, before `before`, that no
        Access policy names (those are never touched by inactivity), oldest first.
        `enabled_only` leaves out tokens already disabled."""
        seen = func.coalesce(service_tokens.c.last_seen_at, service_tokens.c.created_at)
        named = exists().where(access_policy_tokens.c.token_id == service_tokens.c.id)
        conditions: list[Any] = [seen < to_micros(before), ~named]
        if scope.kind is ContainerKind.ACCOUNT:
            conditions.append(service_tokens.c.account_id == scope.id)
        else:
            conditions += [
                service_tokens.c.container_kind == scope.kind.value,
                service_tokens.c.container_id == scope.id,
            ]
        if enabled_only:
            conditions.append(service_tokens.c.enabled.is_(True))
        statement = (
            select(service_tokens)
            .where(*conditions)
            .order_by(seen, service_tokens.c.id)
            .limit(limit)
        )
        return [token_from_row(row) for row in self._conn.execute(statement)]
