"""Rendered list pages and tokens, memoised by the container version the use cases report.

The list route's hot path (`ListPages.find`): the use case authorizes the caller and reports
the container's version from one probe (`ServiceTokens.open_list`: no transaction while
nothing changed; on PostgreSQL awaited on the event loop, `find_async`), then the page's
bytes come from `PageMemo` if they were rendered at that version. Any token mutation bumps
the version in its own transaction, so a page is never served stale, in this process or
another. A miss reads the page (`list_page`), renders it and keeps the bytes; a page that
costs a scan comes back as a `PendingScan`, which `ListPages.run` reads, renders and keeps
wherever the route runs it (the scan lane). Only canonical pages are kept (`list_walks`): a
caller walking across a write is served by a seek from its own previous page.

`GET` of one token (`ListPages.token`) is served the same way: its body is kept under
(container, id) at the version it was read at.
"""

from __future__ import annotations

import asyncio
from collections.abc import Hashable
from functools import partial
from typing import NamedTuple

from starlette.concurrency import run_in_threadpool

from servicetokens.api.envelope import dumps, render_page, serialize_token, success_body
from servicetokens.api.prefix_memo import PrefixMemo
from servicetokens.api.scan_lane import ScanLane
from servicetokens.domain.credentials import Credential
from servicetokens.domain.paging import ListQuery, SeekKey
from servicetokens.domain.permissions import Container
from servicetokens.domain.tokens import ServiceToken
from servicetokens.usecases.authorization import ContainerRef
from servicetokens.usecases.caches import BoundedLru
from servicetokens.usecases.service_tokens import (
    ListAccess,
    PendingScan,
    ServiceTokens,
    TokenPage,
)

__all__ = ["ListPages", "PageMemo"]

_RENDER_ON_LOOP = 100
"""Pages of up to this many tokens read on the event loop are rendered there too."""


class _Kept(NamedTuple):
    version: int
    body: bytes
    end: SeekKey | None
    total: int


class PageMemo:
    """(container, query) → rendered page, valid while the container's version is unchanged.

    Bounded by total bytes, so large pages cannot grow the process without limit.
    """

    def __init__(self, *, max_bytes: int = 16 * 1024 * 1024, max_entries: int = 4096) -> None:
        self._lru: BoundedLru[Hashable, _Kept] = BoundedLru(
            max_entries=max_entries, max_weight=max_bytes
        )
        self.hits = 0
        """Pages answered from memory (for the metrics)."""
        self.misses = 0
        """Pages that had to be read."""

    def get(self, key: Hashable, *, version: int) -> bytes | None:
        """The page rendered at `version`, if that is what is cached."""
        item = self.entry(key, version=version)
        return None if item is None else item.body

    def entry(self, key: Hashable, *, version: int) -> _Kept | None:
        """The page rendered at `version` with where it ended, if that is what is cached."""
        item = self._lru.get(key)
        if item is None or item.version != version:
            self.misses += 1
            return None
        self.hits += 1
        return item

    def put(
        self,
        key: Hashable,
        *,
        version: int,
        body: bytes,
        end: SeekKey | None = None,
        total: int = 0,
    ) -> None:
        """Remember a page rendered at `version`."""
        self._lru.put(key, _Kept(version, body, end, total), weight=len(body))


class ListPages:
    """List and token response bodies: the use cases' answers, rendered and memoised."""

    def __init__(
        self, tokens: ServiceTokens, *, inline: bool, memo: PageMemo | None = None
    ) -> None:
        self._tokens = tokens
        self.memo = self._memo = memo if memo is not None else PageMemo()
        self._bodies = PageMemo(max_bytes=4 * 1024 * 1024, max_entries=8192)
        self._prefixes = PrefixMemo()
        self._flights: dict[Hashable, tuple[int, asyncio.Future[None]]] = {}
        """Reads of a filtered list running now: list → (version, done)."""
        self.inline = inline
        """Whether `find` may run on the event loop (the database is embedded: SQLite answers
        a memoised or near unfiltered page in microseconds without blocking I/O)."""

    def open(self, credential: Credential, ref: ContainerRef) -> ListAccess:
        """The caller, authorized to read `ref` (`ServiceTokens.open_list`)."""
        return self._tokens.open_list(credential, ref)

    async def open_async(self, credential: Credential, ref: ContainerRef) -> ListAccess:
        """`open` from the event loop (`ServiceTokens.open_list_async`)."""
        return await self._tokens.open_list_async(credential, ref)

    def find(
        self, credential: Credential, ref: ContainerRef, query: ListQuery
    ) -> bytes | PendingScan:
        """The body of the page `query` asks for, once the caller may read `ref`'s list;
        or, when it is not memoised and costs a scan, the `PendingScan` to pass to `run`."""
        return self.page(self._tokens.open_list(credential, ref), query)

    async def find_async(
        self, credential: Credential, ref: ContainerRef, query: ListQuery
    ) -> bytes | PendingScan | ListAccess:
        """`find` from the event loop: the probe is awaited there, and a memoised page is
        answered there; otherwise the `ListAccess` to pass to `page` in a worker thread."""
        access = await self._tokens.open_list_async(credential, ref)
        body = self._remembered(access, query)
        return access if body is None else body

    def page(self, access: ListAccess, query: ListQuery) -> bytes | PendingScan:
        """The body of `query`'s page for an authorized caller (`find` after the probe)."""
        body = self._remembered(access, query)
        if body is not None:
            return body
        found = self.pending(access, query) or self._tokens.list_page(access, query)
        if isinstance(found, PendingScan):
            return found
        return self._keep(access.container, query, found)

    def pending(self, access: ListAccess, query: ListQuery) -> PendingScan | None:
        """The `PendingScan` for `query`'s page when it costs one (reading the first matches
        of its list when the page lies among them: `PrefixMemo`); None when `page` reads it
        at once. Reads nothing: the event loop calls it."""
        prefix = self._prefixes.to_read(access.container, query, version=access.version)
        return self._tokens.pending_scan(access, query, prefix=prefix)

    async def scan(self, pending: PendingScan, lane: ScanLane) -> bytes:
        """The body of `pending`'s page, read in the scan lane: in its threads, a few at a
        time per account (its zones included); or, for a search PostgreSQL answers from a
        few index entries, awaited on the loop (as few at a time per account).

        One read per filtered list and version at a time: a scan of a list already being
        read at the same version waits for that read, then is answered from what it kept
        (its page, or the list's first matches), or plans again (the count is known by
        then; a second ask reads the first matches). So a burst of one search at another
        page size after a write counts its matches once, not once per request."""
        while True:
            key = (pending.container.kind, pending.container.id)
            # The lane's slots are the account's: its zones share them, so an account with
            # many zones holds no more of the lane (or of the loop's search connections).
            owner = pending.container.account_id
            if pending.run_async is not None:
                start = partial(lane.run_async, owner, partial(self.run_async, pending))
            else:
                start = partial(lane.run, owner, partial(self.run, pending))
            version, query = pending.memo_version, pending.query
            if version is None or not query.filtered:
                return await start()
            flight = (key, query.matching, query.order, query.direction)
            running = self._flights.get(flight)
            if running is None or running[0] != version:
                break
            await asyncio.wait([running[1]])
            kept = self._kept_meanwhile(pending)
            if kept is not None:
                return kept
            if pending.access is not None:
                pending = self.pending(pending.access, query) or pending
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._flights[flight] = (version, done)
        try:
            return await start()
        finally:
            if self._flights.get(flight) == (version, done):
                del self._flights[flight]
            done.set_result(None)

    def run(self, pending: PendingScan) -> bytes:
        """Read, render and memoise the page `pending` stands for (blocking: a scan); or,
        when the same page was read at the same version while this one waited for its turn
        in the scan lane, that page."""
        kept = self._kept_meanwhile(pending)
        if kept is not None:
            return kept
        if pending.prefix is not None:
            return self._keep_prefix(pending, pending.run())
        return self._keep(pending.container, pending.query, pending.run())

    async def run_async(self, pending: PendingScan) -> bytes:
        """`run` from the event loop, for a scan that reads there (`pending.run_async`); a
        large page is rendered in a worker thread."""
        assert pending.run_async is not None
        kept = self._kept_meanwhile(pending)
        if kept is not None:
            return kept
        found = await pending.run_async()
        keep = self._keep_prefix if pending.prefix is not None else self._keep_scan
        if len(found.tokens) > _RENDER_ON_LOOP:
            return await run_in_threadpool(keep, pending, found)
        return keep(pending, found)

    def _keep_scan(self, pending: PendingScan, page: TokenPage) -> bytes:
        return self._keep(pending.container, pending.query, page)

    def _keep_prefix(self, pending: PendingScan, prefix: TokenPage) -> bytes:
        container, query = pending.container, pending.query
        body, end, total = self._prefixes.keep(container, query, prefix)
        key = (container.kind, container.id, query)
        self._memo.put(key, version=prefix.version, body=body, end=end, total=total)
        return body

    def _kept_meanwhile(self, pending: PendingScan) -> bytes | None:
        """What was read at the same version while `pending` waited for its turn."""
        if pending.memo_version is None:
            return None
        container = pending.container
        key = (container.kind, container.id, pending.query)
        kept = self._memo.entry(key, version=pending.memo_version)
        if kept is not None:
            return kept.body
        if pending.access is None:
            return None
        return self._cut(pending.access, pending.query)

    def _cut(self, access: ListAccess, query: ListQuery) -> bytes | None:
        cut = self._prefixes.page(access.container, query, version=access.version)
        if cut is None:
            return None
        body, end, total = cut
        self._tokens.served(access, query, end=end, total=total)
        return body

    def token(self, access: ListAccess, token_id: str) -> bytes:
        """The body of `GET` of one token the caller may read, memoised at its version
        (blocking on a miss: one read)."""
        body = self.kept_token(access, token_id)
        if body is None:
            body = self._keep_token(access, token_id, self._tokens.read_token(access, token_id))
        return body

    def _keep_token(self, access: ListAccess, token_id: str, token: ServiceToken) -> bytes:
        body = dumps(success_body(serialize_token(token)))
        container = access.container
        self._bodies.put(
            (container.kind, container.id, token_id), version=access.version, body=body
        )
        return body

    async def token_async(self, access: ListAccess, token_id: str) -> bytes:
        """`token` from the event loop: a miss is read there too (PostgreSQL: no thread
        hop, no pool checkout; `ServiceTokens.read_token_async`)."""
        body = self.kept_token(access, token_id)
        if body is None:
            token = await self._tokens.read_token_async(access, token_id)
            body = self._keep_token(access, token_id, token)
        return body

    def kept_token(self, access: ListAccess, token_id: str) -> bytes | None:
        """The memoised body of `GET` of one token, if it was read at `access.version`.

        Only a well-formed id found in the container is kept, and `access` may read the
        container, so a hit needs no further check."""
        container = access.container
        return self._bodies.get((container.kind, container.id, token_id), version=access.version)

    def _remembered(self, access: ListAccess, query: ListQuery) -> bytes | None:
        before = self._tokens.previous_end(access, query)
        if before is not None and not before.continues_at(access.version):
            return None  # a walk across a write continues from its own page, not the memo
        container = access.container
        kept = self._memo.entry((container.kind, container.id, query), version=access.version)
        if kept is None:
            return self._cut(access, query)
        self._tokens.served(access, query, end=kept.end, total=kept.total)
        return kept.body

    def _keep(self, container: Container, query: ListQuery, page: TokenPage) -> bytes:
        body = render_page(page)
        if page.canonical:
            self._memo.put(
                (container.kind, container.id, query),
                version=page.version,
                body=body,
                end=page.end,
                total=page.info.total_count,
            )
        return body
