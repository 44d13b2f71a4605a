"""Where each caller's recent list pages ended, so that the next page is a seek, not a rescan.

The official SDKs walk a list page by page (1, 2, 3, … until a page comes back empty). Read
by `OFFSET`, page N+1 re-reads the N pages before it, so a walk of a large account costs
the square of its size. Instead, each page read (or served from the memo) leaves its end
here: the sort key of its last token, the container version it was read at and the count of
matches, under (caller, container, query). Page N+1 of the same list then starts right after
page N's last token through the order's index.

A walk's guarantee under concurrent writes (docs/compatibility.md): a token that exists
from the first page to the last, and whose sort key does not change meanwhile, is listed
exactly once; a token created or deleted during the walk may be listed or not. That holds
because a page continues from where the same caller's previous page ended, whatever was
written in between. When nothing was written (the version is the one the previous page was
read at), the seek returns exactly the page `OFFSET` would, which is what makes a page
*canonical*: the rendered-page memo keeps only canonical pages, and a caller whose previous
page is older than the current version is served by a seek from it, never from the memo.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from servicetokens.domain.paging import ListQuery, PageInfo, SeekKey
from servicetokens.domain.permissions import Container, Principal
from servicetokens.domain.tokens import ServiceToken
from servicetokens.usecases.caches import BoundedLru

__all__ = ["ListAccess", "PageEnd", "PendingScan", "TokenPage", "Walks", "keys_only"]

_WalkKey = tuple[str, str, str, str, ListQuery]


@dataclass(frozen=True, slots=True)
class TokenPage:
    """One page of a list, and the container version it was read at (the data is at least
    that new: the version is read before the page)."""

    tokens: list[ServiceToken]
    info: PageInfo
    version: int
    end: SeekKey | None = None
    """The sort key of the page's last token (where the next page starts)."""
    canonical: bool = True
    """Whether this is the page `OFFSET` gives at `version` (what anyone may be served from
    a memo); False for a page of a walk that continued across a write (`list_walks`)."""
    ends: tuple[SeekKey, ...] = ()
    """The sort key of every token of the page, for a page read to be cut into others (a
    prefix of the list, `PendingScan.prefix`); empty otherwise."""


@dataclass(slots=True)  # not frozen: made on every list request, and frozen costs 5× as much
class ListAccess:
    """A caller authorized to read one container's list, and the versions read for it."""

    principal: Principal
    container: Container
    version: int
    """The container's version: any token mutation there moves it."""
    token_count: int


@dataclass(frozen=True, slots=True)
class PendingScan:
    """A list page that costs a scan (a filter, a search, a deep page): the caller is
    authorized already; `run()` reads the page."""

    container: Container
    query: ListQuery
    run: Callable[[], TokenPage]
    memo_version: int | None = None
    """The container version at which a memoised page may answer instead (the caller has
    no walk of its own to continue across a write); None when none may."""
    run_async: Callable[[], Awaitable[TokenPage]] | None = None
    """Reads the page from an event loop instead, when that is cheap (PostgreSQL: a search
    the trigram index answers from a few entries; `Database.loop_search_term`); else None."""
    prefix: int | None = None
    """When set, `run` reads not `query`'s page but the first `prefix` matches of its list
    (page 1 at that page size, with every token's sort key), which hold `query`'s page: the
    caller keeps them to cut other pages of the same list at the same version from
    (`ListReads.pending_scan`); `query`'s own end is noted as if its page had been read."""
    access: ListAccess | None = None
    """The caller it was authorized for (to note the pages it is served from a prefix)."""


@dataclass(frozen=True, slots=True)
class PageEnd:
    """Where one page ended."""

    end: SeekKey
    """The sort key of its last token."""
    version: int
    """The container version it was read at."""
    total: int
    """The number of matches at that version."""
    canonical: bool
    """Whether it is the page `OFFSET` gives at `version` (read cold, or by a seek from a
    canonical page at the same version)."""

    def continues_at(self, version: int) -> bool:
        """Whether the page after this one, read at `version`, is canonical."""
        return self.canonical and self.version == version


class Walks:
    """Page ends by (caller, container, list query), and counts of matches by (container,
    filters) at a version; least recently used dropped first."""

    def __init__(self, *, max_entries: int = 16_384) -> None:
        self._ends: BoundedLru[_WalkKey, PageEnd] = BoundedLru(
            max_entries=max_entries, max_weight=max_entries
        )
        self._counts: BoundedLru[tuple[str, str, ListQuery], tuple[int, int]] = BoundedLru(
            max_entries=max_entries, max_weight=max_entries
        )
        self._key_counts: BoundedLru[tuple[str, str, ListQuery], tuple[int, int]] = BoundedLru(
            max_entries=max_entries, max_weight=max_entries
        )

    def count(self, container: Container, query: ListQuery, *, version: int) -> int | None:
        """The number of tokens matching `query`'s filters at `version`, if counted then
        (for any page, page size or order: a search or filter is counted once per version)."""
        kept = self._counts.get((container.kind.value, container.id, query.matching))
        return kept[1] if kept is not None and kept[0] == version else None

    def note_count(
        self, container: Container, query: ListQuery, *, version: int, total: int
    ) -> None:
        """Remember the number of tokens matching `query`'s filters at `version`."""
        self._counts.put((container.kind.value, container.id, query.matching), (version, total))

    def keys_count(self, container: Container, query: ListQuery, *, keys: int) -> int | None:
        """The number of tokens matching `query`'s filters, if counted at the container's
        keys version `keys` (`VersionStore.keys_version`); only for filters on what a keys
        version covers (`name`, `search`: `keys_only`)."""
        kept = self._key_counts.get((container.kind.value, container.id, query.matching))
        return kept[1] if kept is not None and kept[0] == keys else None

    def note_keys_count(
        self, container: Container, query: ListQuery, *, keys: int, total: int
    ) -> None:
        """Remember the number of tokens matching `query`'s filters at keys version `keys`."""
        self._key_counts.put((container.kind.value, container.id, query.matching), (keys, total))

    @staticmethod
    def _key(principal: Principal, container: Container, query: ListQuery) -> _WalkKey:
        return (principal.kind.value, principal.id, container.kind.value, container.id, query)

    def before(
        self, principal: Principal, container: Container, query: ListQuery
    ) -> PageEnd | None:
        """Where this caller's page before `query`'s ended, if it is remembered."""
        if query.page <= 1:
            return None
        return self._ends.get(self._key(principal, container, query.at_page(query.page - 1)))

    def note(
        self, principal: Principal, container: Container, query: ListQuery, end: PageEnd
    ) -> None:
        """Remember where this caller's page `query` ended."""
        self._ends.put(self._key(principal, container, query), end)


def keys_only(query: ListQuery) -> bool:
    """Whether `query` filters on `name` or `search` and nothing else: what matches then
    moves only with the container's keys version (creates, deletes, renames)."""
    return (query.name is not None or query.search is not None) and (
        query.expires_before is None
        and query.expires_after is None
        and query.last_seen_before is None
        and query.enabled is None
    )
