"""The first matches of a filtered list, rendered token by token, at one container version.

The page memo (`page_memo.PageMemo`) keeps whole pages, so the same search asked with another
page size or page number is a new scan, and a search's scan is the expensive read (a walk of
the account for a term most tokens share). Here, when a list is asked a second time at one
container version, its scan reads the list's first `PREFIX` matches instead of its one page
(`PendingScan.prefix`) and keeps each token's rendered JSON with its sort key and the count
of all matches, under (container, filters, order, direction). Any page lying inside what was
read is then cut from memory, whatever its size, at that version only: every token mutation
moves the version, and an entry at another version is never used. A list asked only once at
a version costs what it did before: its first scan reads its page alone.

A prefix is read from the first match at the version the caller's probe reported, so the
pages cut from it are the pages `OFFSET` gives there (canonical, `list_walks`); a caller whose
walk continues across a write is served by a seek from its own page instead.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import NamedTuple

import orjson

from servicetokens.api.envelope import dumps, serialize_token, success_body
from servicetokens.domain.paging import ListQuery, PageInfo, SeekKey
from servicetokens.domain.permissions import Container
from servicetokens.usecases.caches import BoundedLru
from servicetokens.usecases.list_walks import TokenPage

__all__ = ["PREFIX", "PrefixMemo"]

PREFIX = 1_000
"""The most matches one prefix holds (the largest page size)."""


class _Prefix(NamedTuple):
    version: int
    fragments: list[bytes]
    """Each token of the prefix rendered, in list order."""
    ends: tuple[SeekKey, ...]
    total: int


class PrefixMemo:
    """(container, filters, order, direction) → the list's first matches, rendered, at a
    version; bounded by total bytes."""

    def __init__(self, *, max_bytes: int = 32 * 1024 * 1024, max_entries: int = 2048) -> None:
        self._lru: BoundedLru[Hashable, _Prefix] = BoundedLru(
            max_entries=max_entries, max_weight=max_bytes
        )
        self._asked: BoundedLru[Hashable, int] = BoundedLru(
            max_entries=max_entries, max_weight=max_entries
        )
        """Lists asked once, by the version they were asked at."""

    @staticmethod
    def _key(container: Container, query: ListQuery) -> Hashable:
        return (container.kind, container.id, query.matching, query.order, query.direction)

    def to_read(self, container: Container, query: ListQuery, *, version: int) -> int | None:
        """How many first matches a scan for `query`'s page should read to keep: None the
        first time this list is asked at `version` (its page alone is read, as cheap as
        before: most lists are asked once per version) and for a page ending past `PREFIX`;
        else `PREFIX` (one read then holds every page a client can ask within it)."""
        stop = query.offset + query.per_page
        if not query.filtered or stop > PREFIX:
            return None
        key = self._key(container, query)
        if self._asked.get(key) != version:
            self._asked.put(key, version)
            return None
        return PREFIX

    def page(
        self, container: Container, query: ListQuery, *, version: int
    ) -> tuple[bytes, SeekKey | None, int] | None:
        """`query`'s page body cut from the prefix kept at `version`, with its end and the
        count of all matches; None when no prefix there holds the page."""
        if not query.filtered:
            return None
        kept = self._lru.get(self._key(container, query))
        if kept is None or kept.version != version:
            return None
        return _cut(kept, query)

    def keep(
        self, container: Container, query: ListQuery, prefix: TokenPage
    ) -> tuple[bytes, SeekKey | None, int]:
        """Keep `prefix`, read from the first match of `query`'s list (`PendingScan.prefix`),
        and cut `query`'s page from it (`page`)."""
        fragments = [dumps(serialize_token(token)) for token in prefix.tokens]
        kept = _Prefix(prefix.version, fragments, prefix.ends, prefix.info.total_count)
        weight = sum(len(fragment) for fragment in fragments) + 64 * len(fragments)
        self._lru.put(self._key(container, query), kept, weight=weight)
        cut = _cut(kept, query)
        assert cut is not None, "a prefix is read to hold its page"
        return cut


def _cut(kept: _Prefix, query: ListQuery) -> tuple[bytes, SeekKey | None, int] | None:
    start, stop = query.offset, query.offset + query.per_page
    if stop > len(kept.fragments) and len(kept.fragments) < kept.total:
        return None  # the page reaches matches the prefix does not hold
    fragments = kept.fragments[start:stop]
    info = PageInfo(query.page, query.per_page, len(fragments), kept.total)
    result = orjson.Fragment(b"[" + b",".join(fragments) + b"]")
    body = dumps(success_body(result, result_info=info.as_dict()))
    end = kept.ends[start + len(fragments) - 1] if fragments else None
    return body, end, kept.total
