"""Rendered list pages, memoised by the container version the list use case reports.

The list route's hot path (`ListPages.find`): the use case authorizes the caller and reports
the container's version from one probe (`ServiceTokens.open_list`: no transaction while
nothing changed), then the page's bytes come from `PageMemo` if they were rendered at that
version. Any token mutation bumps the version in its own transaction, so a page is never
served stale, in this process or another. A miss reads the page (`list_page`), renders it
and keeps the bytes; a page that costs a scan comes back as a `PendingScan`, which
`ListPages.run` reads, renders and keeps wherever the route runs it (the scan lane).
"""

from __future__ import annotations

from collections.abc import Hashable

from servicetokens.api.envelope import render_page
from servicetokens.domain.credentials import Credential
from servicetokens.domain.paging import ListQuery
from servicetokens.usecases.authorization import ContainerRef
from servicetokens.usecases.caches import BoundedLru
from servicetokens.usecases.service_tokens import PendingScan, ServiceTokens, TokenPage

__all__ = ["ListPages", "PageMemo"]


class PageMemo:
    """(container, query) → rendered page, valid while the container's version is unchanged.

    Bounded by total bytes, so large pages cannot grow the process without limit.
    """

    def __init__(self, *, max_bytes: int = 16 * 1024 * 1024, max_entries: int = 4096) -> None:
        self._lru: BoundedLru[Hashable, tuple[int, bytes]] = BoundedLru(
            max_entries=max_entries, max_weight=max_bytes
        )
        self.hits = 0
        """Pages answered from memory (for the metrics)."""
        self.misses = 0
        """Pages that had to be read."""

    def get(self, key: Hashable, *, version: int) -> bytes | None:
        """The page rendered at `version`, if that is what is cached."""
        item = self._lru.get(key)
        if item is None or item[0] != version:
            self.misses += 1
            return None
        self.hits += 1
        return item[1]

    def put(self, key: Hashable, *, version: int, body: bytes) -> None:
        """Remember a page rendered at `version`."""
        self._lru.put(key, (version, body), weight=len(body))


class ListPages:
    """List response bodies: pages of the list use case, rendered and memoised."""

    def __init__(
        self, tokens: ServiceTokens, *, inline: bool, memo: PageMemo | None = None
    ) -> None:
        self._tokens = tokens
        self.memo = self._memo = memo if memo is not None else PageMemo()
        self.inline = inline
        """Whether `find` may run on the event loop (the database is embedded: SQLite answers
        a memoised or near unfiltered page in microseconds without blocking I/O)."""

    def find(
        self, credential: Credential, ref: ContainerRef, query: ListQuery
    ) -> bytes | PendingScan:
        """The body of the page `query` asks for, once the caller may read `ref`'s list;
        or, when it is not memoised and costs a scan, the `PendingScan` to pass to `run`."""
        access = self._tokens.open_list(credential, ref)
        key = (access.container.kind, access.container.id, query)
        body = self._memo.get(key, version=access.version)
        if body is not None:
            return body
        found = self._tokens.list_page(access, query)
        return found if isinstance(found, PendingScan) else self._keep(key, found)

    def run(self, pending: PendingScan) -> bytes:
        """Read, render and memoise the page `pending` stands for (blocking: a scan)."""
        container = pending.container
        return self._keep((container.kind, container.id, pending.query), pending.run())

    def _keep(self, key: Hashable, page: TokenPage) -> bytes:
        body = render_page(page)
        self._memo.put(key, version=page.version, body=body)
        return body
