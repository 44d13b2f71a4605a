"""Which part of a search term PostgreSQL's trigram index should look up.

pg_trgm answers `LIKE '%term%'` by intersecting the posting lists of every trigram of the
term, and reads each list whole: a term that shares a long prefix with most names
(`svc-004200` among a million `svc-0…` names) reads a million-entry list for each of `svc`,
`vc-`, `c-0`, `-00`, `000` before the rare `042` narrows anything (54 ms at 10^6, against
4 ms for `%004200%` alone). So the index is asked only for the term's rarest word (pg_trgm
splits words at characters that are not letters or digits), and the whole term is tested
on the rows it finds: the same rows, since every row holding the term holds each of its
words.

Rarity is estimated from a sample of the stored keys (a few thousand, from whole table pages
picked at random, re-read every few minutes): the share of sampled keys holding each
trigram. A word whose every trigram is in most keys (`svc`, `access`) narrows nothing; the
caller then walks the container instead.
"""

from __future__ import annotations

import re
import threading
import time
from collections import Counter
from collections.abc import Callable

from sqlalchemy import text
from sqlalchemy.engine import Connection

__all__ = ["TrigramSample", "words_of"]

_WORD = re.compile(r"[^\W_]+")
"""A run of letters or digits: what pg_trgm takes trigrams from."""
_SAMPLE = 2_000
_SAMPLE_SQL = text(
    "SELECT search_key FROM service_tokens TABLESAMPLE SYSTEM (:percent) LIMIT :size"
)
_TTL = 300.0


def words_of(text: str) -> list[str]:
    """The words of `text` long enough to have a trigram."""
    return [word for word in _WORD.findall(text) if len(word) >= 3]


def _trigrams(word: str) -> set[str]:
    return {word[i : i + 3] for i in range(len(word) - 2)}


def _narrowest(words: list[str], counts: Counter[str], sampled: int) -> tuple[str, float]:
    def share(word: str) -> float:
        return min(counts.get(t, 0) for t in _trigrams(word)) / max(sampled, 1)

    best = min(words, key=lambda word: (share(word), -len(word)))
    return best, share(best)


class TrigramSample:
    """How common each trigram is among stored search keys, from a sample re-read at most
    every `ttl` seconds (PostgreSQL)."""

    def __init__(
        self, *, ttl: float = _TTL, size: int = _SAMPLE, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._ttl, self._size, self._clock = ttl, size, clock
        self._counts: Counter[str] = Counter()
        self._sampled = 0
        self._read_at: float | None = None
        self._lock = threading.Lock()

    def narrowest(self, connection: Connection, folded: str, *, total: int) -> tuple[str, float]:
        """The word of `folded` whose rarest trigram is rarest (the longest on a tie), and
        the estimated share of keys that hold it; `folded` itself, with share 1.0, when it
        has no word of three characters."""
        words = words_of(folded)
        if not words:
            return folded, 1.0
        counts, sampled = self._read(connection, total)
        return _narrowest(words, counts, sampled)

    def peek(self, folded: str) -> tuple[str, float, bool] | None:
        """`narrowest` from the sample already read, without reading (None before the first
        read), and whether the sample is older than `ttl`."""
        with self._lock:
            if self._read_at is None:
                return None
            counts, sampled = self._counts, self._sampled
            stale = self._clock() - self._read_at >= self._ttl
        words = words_of(folded)
        if not words:
            return folded, 1.0, stale
        return (*_narrowest(words, counts, sampled), stale)

    def refresh(self, connection: Connection, total: int) -> None:
        """Read the sample again if it is older than `ttl`."""
        self._read(connection, total)

    def _read(self, connection: Connection, total: int) -> tuple[Counter[str], int]:
        now = self._clock()
        with self._lock:
            if self._read_at is not None and now - self._read_at < self._ttl:
                return self._counts, self._sampled
        percent = min(100.0, 100.0 * 2 * self._size / max(total, 1))
        keys = connection.execute(_SAMPLE_SQL, {"percent": percent, "size": self._size}).scalars()
        counts: Counter[str] = Counter()
        sampled = 0
        for key in keys:
            sampled += 1
            counts.update(set().union(*(_trigrams(word) for word in words_of(key))))
        with self._lock:
            self._counts, self._sampled, self._read_at = counts, sampled, now
        return counts, sampled
