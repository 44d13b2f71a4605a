"""The verification cache: client id → token record (or 'no such token'), which the change
feed evicts.

Safe to cache because every write to a token is announced on the change feed, which evicts
the client id in every gate within a second; expiry and grace windows are judged from the
cached record at request time. Entries also age out after `max_age` as a backstop, and the
cache is bypassed while the feed is not known to be current.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from servicetokens.domain.tokens import ServiceToken, expires_at_seconds, previous_until_seconds
from servicetokens.signing.kek import Fingerprint
from servicetokens.store.database import Database

__all__ = ["ABSENT", "CachedToken", "TokenCache", "cached_token"]


@dataclass(frozen=True, slots=True)
class CachedToken:
    """A token as last read (None: no token has that client id), its secrets' names, and
    its time limits as epoch seconds (so the hot path compares floats, not datetimes)."""

    token: ServiceToken | None
    fingerprint: str
    previous_fingerprint: str | None
    loaded_at: float
    """`time.monotonic()` when it was read."""
    expires_at: float = math.inf
    """When the token expires (inf: never)."""
    previous_until: float = -math.inf
    """When the previous secret stops being accepted (-inf: there is no grace)."""


def cached_token(
    token: ServiceToken | None, loaded_at: float, *, fingerprint: Fingerprint
) -> CachedToken:
    """The cache entry for `token` as read at monotonic time `loaded_at`; its secrets named
    by `fingerprint` (keyed by the key-encryption key: a database reader cannot)."""
    if token is None:
        return CachedToken(None, "", None, loaded_at)
    previous = token.previous_secret_digest
    return CachedToken(
        token,
        fingerprint(token.secret_digest),
        None if previous is None else fingerprint(previous),
        loaded_at,
        expires_at_seconds(token),
        previous_until_seconds(token),
    )


ABSENT = CachedToken(None, "", None, 0.0)
"""The entry for a client id that names no token."""


class TokenCache:
    """Client id → `CachedToken`, loaded on a miss with one query (one per id at a time).

    Two LRUs: the tokens that exist (at most `max_size`) and, apart, a small one of client
    ids that named no token (`max_unknown`), so a flood of random ids can neither grow the
    process nor push a real token out of the cache.
    """

    def __init__(
        self,
        database: Database,
        *,
        is_current: Callable[[float], bool],
        max_size: int,
        max_unknown: int = 10_000,
        max_age: float = 60.0,
        fingerprint: Fingerprint,
    ) -> None:
        self._database = database
        self._fingerprint = fingerprint
        self._is_current = is_current
        self._max_size = max_size
        self._max_unknown = max_unknown
        self._max_age = max_age
        self._entries: OrderedDict[str, CachedToken] = OrderedDict()
        self._unknown: OrderedDict[str, float] = OrderedDict()
        """Client id → monotonic time it was found to name no token."""
        self._loading: dict[str, asyncio.Future[CachedToken]] = {}
        self._epoch = 0
        self._evict_lock = threading.Lock()
        self.hits = 0
        self.misses = 0
        self.reloads = 0

    def cached(self, client_id: str) -> CachedToken | None:
        """The cached record if it can be trusted now, else None (then `await get()`).

        The hit path: no await, no lock, one clock read."""
        entry = self._entries.get(client_id)
        if entry is not None:
            now = time.monotonic()
            if now - entry.loaded_at < self._max_age and self._is_current(now):
                try:  # noqa: SIM105 - not contextlib.suppress: this is the hot path
                    self._entries.move_to_end(client_id)
                except KeyError:  # evicted by the feed's thread just now
                    pass
                self.hits += 1
                return entry
            return None
        seen = self._unknown.get(client_id)
        if seen is not None:
            now = time.monotonic()
            if now - seen < self._max_age and self._is_current(now):
                self.hits += 1
                return ABSENT
        return None

    async def get(self, client_id: str) -> CachedToken:
        """The cached record, or a fresh read (raises the store's errors when it is down)."""
        entry = self.cached(client_id)
        if entry is not None:
            return entry
        self.misses += 1
        return await self._load(client_id)

    async def reload(self, client_id: str, stale: CachedToken) -> CachedToken:
        """A fresh read of `client_id`, unless one newer than `stale` is already cached.

        For a check that failed against a cached record: the record may predate a commit
        the change feed has not delivered yet (a rotation a moment ago). Concurrent reloads
        of one id share one read."""
        entry = self.cached(client_id)
        if entry is not None and entry is not stale and entry is not ABSENT:
            return entry
        self.reloads += 1
        return await self._load(client_id)

    async def _load(self, client_id: str) -> CachedToken:
        pending = self._loading.get(client_id)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[CachedToken] = asyncio.get_running_loop().create_future()
        self._loading[client_id] = future
        try:
            epoch = self._epoch
            token = await asyncio.to_thread(self._read, client_id)
            loaded_at = time.monotonic()
            entry = (
                ABSENT
                if token is None
                else cached_token(token, loaded_at, fingerprint=self._fingerprint)
            )
            # An eviction while we read means our read may predate that commit: use it for
            # this request only, and let the next one read again.
            if epoch == self._epoch:
                self._store(client_id, entry, loaded_at)
            future.set_result(entry)
            return entry
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: waiters re-raise it, nobody else must log it
            raise
        finally:
            del self._loading[client_id]

    def _store(self, client_id: str, entry: CachedToken, loaded_at: float) -> None:
        # The change feed's thread may evict or clear concurrently: a KeyError from these
        # dicts only means that happened first.
        with contextlib.suppress(KeyError):
            if entry is ABSENT:
                self._entries.pop(client_id, None)
                self._unknown.pop(client_id, None)
                self._unknown[client_id] = loaded_at
                while len(self._unknown) > self._max_unknown:
                    self._unknown.popitem(last=False)
            else:
                self._unknown.pop(client_id, None)
                self._entries.pop(client_id, None)
                self._entries[client_id] = entry
                while len(self._entries) > self._max_size:
                    self._entries.popitem(last=False)

    def _read(self, client_id: str) -> ServiceToken | None:
        with self._database.read() as tx:
            return tx.tokens.by_client_id(client_id)

    def evict(self, client_id: str) -> None:
        """Forget `client_id` (callable from any thread)."""
        with self._evict_lock:
            self._epoch += 1
            self._entries.pop(client_id, None)
            self._unknown.pop(client_id, None)

    def clear(self) -> None:
        """Forget everything (after the change feed may have missed something)."""
        with self._evict_lock:
            self._epoch += 1
            self._entries.clear()
            self._unknown.clear()

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def unknown_entries(self) -> int:
        """Client ids remembered as naming no token."""
        return len(self._unknown)
