"""In-process caches, each validated by a version read from the database.

Nothing cached is trusted on its own: a cached principal is used only while the credentials
version it was read at is still current (and the API's list memo, `api.page_memo`, built on
`BoundedLru`, keeps a page only while its container's version is). Versions are bumped in the
same transaction as the writes they cover, so a cache never outlives a committed revocation
or mutation. A cached principal also ages out (`PRINCIPAL_MAX_AGE`) even when no version
moved, so a credential changed behind the application's back (a row deleted by hand) stops
working within that bound.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable
from datetime import datetime, timedelta
from typing import Generic, TypeVar

from servicetokens.domain.permissions import Principal

__all__ = ["PRINCIPAL_MAX_AGE", "BoundedLru", "PrincipalCache"]

PRINCIPAL_MAX_AGE = timedelta(seconds=60)
"""How long a cached principal is trusted even when the credentials version is unchanged."""

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class BoundedLru(Generic[K, V]):
    """A thread-safe LRU bounded by entry count and by a total weight."""

    def __init__(self, *, max_entries: int, max_weight: int) -> None:
        self._items: OrderedDict[K, tuple[V, int]] = OrderedDict()
        self._max_entries = max_entries
        self._max_weight = max_weight
        self._weight = 0
        self._lock = threading.Lock()

    def get(self, key: K) -> V | None:
        """The value under `key` (now the most recently used), None when absent."""
        with self._lock:
            item = self._items.get(key)
            if item is None:
                return None
            self._items.move_to_end(key)
            return item[0]

    def put(self, key: K, value: V, *, weight: int = 1) -> None:
        """Keep `value` under `key`, dropping the least recently used entries past either
        bound; a value heavier than the whole bound is not kept."""
        if weight > self._max_weight:
            return
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._weight -= old[1]
            self._items[key] = (value, weight)
            self._weight += weight
            while len(self._items) > self._max_entries or self._weight > self._max_weight:
                _, (_, dropped) = self._items.popitem(last=False)
                self._weight -= dropped

    def clear(self) -> None:
        """Drop every entry."""
        with self._lock:
            self._items.clear()
            self._weight = 0


class PrincipalCache:
    """Credential digest → principal, valid while the credentials version is unchanged, the
    credential has not expired, and the entry is younger than `max_age`."""

    def __init__(
        self, *, max_entries: int = 10_000, max_age: timedelta = PRINCIPAL_MAX_AGE
    ) -> None:
        self._lru: BoundedLru[bytes, tuple[Principal, int, datetime]] = BoundedLru(
            max_entries=max_entries, max_weight=max_entries
        )
        self._max_age = max_age
        self.hits = 0
        """Credentials answered from memory (for the metrics)."""
        self.misses = 0
        """Credentials that had to be read."""

    def get(self, key: bytes, *, credentials_version: int, now: datetime) -> Principal | None:
        """The cached principal, if it was read at this version and is still good at `now`."""
        item = self._lru.get(key)
        if item is None:
            self.misses += 1
            return None
        principal, version, good_until = item
        if version != credentials_version or now >= good_until:
            self.misses += 1
            return None
        self.hits += 1
        return principal

    def put(
        self,
        key: bytes,
        principal: Principal,
        *,
        credentials_version: int,
        expires_at: datetime | None,
        now: datetime,
    ) -> None:
        """Remember a principal read at `credentials_version` at `now`; it is dropped when
        the credential expires or `max_age` has passed, whichever comes first."""
        good_until = now + self._max_age
        if expires_at is not None:
            good_until = min(good_until, expires_at)
        self._lru.put(key, (principal, credentials_version, good_until))
