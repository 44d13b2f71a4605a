"""Reading list pages: what `ServiceTokens` does once `open_list` authorized the caller.

A page is read at once when cheap (unfiltered, near the start or right after this caller's
previous page); otherwise it comes back as a `PendingScan` for the caller to run where it
will (the API's scan lane), or, for a search PostgreSQL's trigram index answers from a few
entries, from the event loop (`PendingScan.run_async`, `Database.search_page_async`).
Either way the page's count and end are remembered (`list_walks`).
"""

from __future__ import annotations

from dataclasses import replace
from functools import partial

from servicetokens.domain.errors import PermissionDenied
from servicetokens.domain.paging import ListQuery, PageInfo, SeekKey
from servicetokens.domain.permissions import Permission, Principal, is_allowed
from servicetokens.store.database import Database
from servicetokens.store.token_rows import StoredPage, token_seek_key
from servicetokens.usecases.authorization import Authorization, ContainerRef
from servicetokens.usecases.list_walks import (
    ListAccess,
    PageEnd,
    PendingScan,
    TokenPage,
    Walks,
    keys_only,
)

__all__ = ["ListReads"]

_CHEAP_OFFSET = 5_000
"""Unfiltered pages starting at most this far in are read wherever asked (on SQLite: on the
event loop); deeper pages, like filtered ones, walk far enough to be run elsewhere."""


class ListReads:
    """List pages for callers `ServiceTokens.open_list` authorized (a part of it)."""

    _database: Database
    _authorization: Authorization
    _walks: Walks

    def list_page(self, access: ListAccess, query: ListQuery) -> TokenPage | PendingScan:
        """The page `query` asks for if it is cheap to read (unfiltered, and near the start
        or right after a page this caller read: an index walk of at most `_CHEAP_OFFSET` +
        1000 entries); else the `PendingScan` that reads it. `access` is checked again (in
        memory): a `ListAccess` not made by `open_list` for a caller with Read there reads
        nothing."""
        pending = self.pending_scan(access, query)
        if pending is not None:
            return pending
        return self._read(access, query, self.previous_end(access, query))

    def pending_scan(
        self, access: ListAccess, query: ListQuery, *, prefix: int | None = None
    ) -> PendingScan | None:
        """The `PendingScan` for `query`'s page when it costs a scan; None when `list_page`
        reads it at once. Reads nothing (an event loop may call it).

        With `prefix` (at least the end of `query`'s page), the scan reads the first
        `prefix` matches instead (`PendingScan.prefix`), unless the caller's walk continues
        across a write (then only its own page, by a seek, is right for it)."""
        if not is_allowed(access.principal, Permission.READ, access.container):
            raise PermissionDenied()
        before = self.previous_end(access, query)
        if not query.filtered and (before is not None or query.offset <= _CHEAP_OFFSET):
            return None
        memo_version = (
            access.version if before is None or before.continues_at(access.version) else None
        )
        if memo_version is None or prefix is None or prefix < query.offset + query.per_page:
            prefix = None
        read = partial(self._read, access, query, before)
        if prefix is not None:
            read = partial(self._read_prefix, access, query, prefix)
        read_async = None
        if query.search is not None:
            term = self._database.loop_search_term(query.search, token_count=access.token_count)
            if term is not None and prefix is not None:
                read_async = partial(self._read_prefix_async, access, query, prefix, term)
            elif term is not None:
                read_async = partial(self._read_async, access, query, before, term)
        return PendingScan(access.container, query, read, memo_version, read_async, prefix, access)

    def previous_end(self, access: ListAccess, query: ListQuery) -> PageEnd | None:
        """Where this caller's page before `query`'s ended, if remembered (`list_walks`)."""
        return self._walks.before(access.principal, access.container, query)

    def served(
        self, access: ListAccess, query: ListQuery, *, end: SeekKey | None, total: int
    ) -> None:
        """Note that a canonical page read at `access.version` (from a memo) was served for
        `query`, ending at `end`, so that the caller's next page continues from it."""
        if end is not None:
            page_end = PageEnd(end, access.version, total, canonical=True)
            self._walks.note(access.principal, access.container, query, page_end)

    def read_page(self, principal: Principal, ref: ContainerRef, query: ListQuery) -> TokenPage:
        """A page of the container's tokens (Read), however much it costs, read here (for
        callers that hold a principal and memoise nothing)."""
        container = self._authorization.require(principal, ref, Permission.READ)
        version, token_count, _ = self._database.probe_versions(ref.kind, ref.id)
        access = ListAccess(principal, container, version, token_count)
        return self._read(access, query, self.previous_end(access, query))

    def _read(self, access: ListAccess, query: ListQuery, before: PageEnd | None) -> TokenPage:
        total = self._known_total(access, query, before)
        counted = total is None
        keys: int | None = None
        # A search sets its scan's settings for its transaction; other pages are one or two
        # statements, each its own snapshot either way (READ COMMITTED), read in autocommit.
        reading = self._database.read if query.search is not None else self._database.single_read
        with reading() as tx:
            if total is None and keys_only(query):
                # What a name or search filter matches moves only with creates, deletes and
                # renames: its count read at another version may still hold (one indexed
                # read, read before the rows it may label, instead of a walk to count).
                keys = tx.versions.keys_version(access.container)
                total = self._walks.keys_count(access.container, query, keys=keys)
            found = tx.tokens.read_page(
                access.container,
                query,
                token_count=access.token_count,
                after=None if before is None else before.end,
                total=total,
            )
        if keys is not None and total is None:
            self._walks.note_keys_count(access.container, query, keys=keys, total=found.total)
        return self._noted(access, query, before, found, counted=counted)

    async def _read_async(
        self, access: ListAccess, query: ListQuery, before: PageEnd | None, index_term: str
    ) -> TokenPage:
        """`_read` of a search cheap enough for the event loop (`Database.search_page_async`)."""
        total = self._known_total(access, query, before)
        found = await self._database.search_page_async(
            access.container,
            query,
            index_term=index_term,
            after=None if before is None else before.end,
            total=total,
        )
        return self._noted(access, query, before, found, counted=total is None)

    def _read_prefix(self, access: ListAccess, query: ListQuery, prefix: int) -> TokenPage:
        return self._cut_prefix(access, query, self._read(access, _first(query, prefix), None))

    async def _read_prefix_async(
        self, access: ListAccess, query: ListQuery, prefix: int, index_term: str
    ) -> TokenPage:
        first = _first(query, prefix)
        page = await self._read_async(access, first, None, index_term)
        return self._cut_prefix(access, query, page)

    def _cut_prefix(self, access: ListAccess, query: ListQuery, page: TokenPage) -> TokenPage:
        """The prefix read for `query`, with every token's sort key; `query`'s own page end
        noted as if it had been read (a seek from it continues the caller's walk)."""
        ends = tuple(token_seek_key(token, query.order) for token in page.tokens)
        mine = ends[query.offset : query.offset + query.per_page]
        self.served(access, query, end=mine[-1] if mine else None, total=page.info.total_count)
        return replace(page, ends=ends)

    def _known_total(
        self, access: ListAccess, query: ListQuery, before: PageEnd | None
    ) -> int | None:
        # After a page of this caller's: a seek from its end. Its count still holds when
        # nothing was written since; the page is canonical only then (`list_walks`).
        # Counts of filtered lists are kept per version too (a search walks for its count).
        if before is not None and before.version == access.version:
            return before.total
        if query.filtered:
            return self._walks.count(access.container, query, version=access.version)
        return None

    def _noted(
        self,
        access: ListAccess,
        query: ListQuery,
        before: PageEnd | None,
        found: StoredPage,
        *,
        counted: bool,
    ) -> TokenPage:
        """The page read, its count and its end remembered (`list_walks`)."""
        if query.filtered and counted:
            self._walks.note_count(
                access.container, query, version=access.version, total=found.total
            )
        canonical = before is None or before.continues_at(access.version)
        if found.end is not None:
            end = PageEnd(found.end, access.version, found.total, canonical)
            self._walks.note(access.principal, access.container, query, end)
        info = PageInfo(query.page, query.per_page, len(found.tokens), found.total)
        return TokenPage(found.tokens, info, access.version, found.end, canonical)


def _first(query: ListQuery, prefix: int) -> ListQuery:
    """The list of `query` from its first match: page 1 of `prefix` matches."""
    return replace(query, page=1, per_page=prefix)
