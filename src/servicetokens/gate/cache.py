"""The verification cache: client id → token record (or 'no such token'), which the change
feed evicts.

Safe to cache because every write to a token is announced on the change feed, which evicts
the client id in every gate within a second; expiry and grace windows are judged from the
cached record at request time. Entries also age out after `max_age` as a backstop, and the
cache is bypassed while the feed is not known to be current.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from servicetokens.domain.tokens import ServiceToken
from servicetokens.signing.kek import Fingerprint
from servicetokens.store.repository import Repository

__all__ = ["CachedToken", "TokenCache", "cached_token"]


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
    grace = token.previous_client_secret_expires_at
    return CachedToken(
        token,
        fingerprint(token.secret_digest),
        None if previous is None else fingerprint(previous),
        loaded_at,
        math.inf if token.never_expires else token.expires_at.timestamp(),
        -math.inf if grace is None else grace.timestamp(),
    )


class TokenCache:
    """Client id → `CachedToken`, loaded on a miss with one query (one per id at a time)."""

    def __init__(
        self,
        repository: Repository,
        *,
        is_current: Callable[[float], bool],
        max_size: int,
        max_age: float = 60.0,
        fingerprint: Fingerprint,
    ) -> None:
        self._repository = repository
        self._fingerprint = fingerprint
        self._is_current = is_current
        self._max_size = max_size
        self._max_age = max_age
        self._entries: dict[str, CachedToken] = {}
        self._loading: dict[str, asyncio.Future[CachedToken]] = {}
        self._epoch = 0
        self._evict_lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def cached(self, client_id: str) -> CachedToken | None:
        """The cached record if it can be trusted now, else None (then `await get()`).

        The hit path: no await, no lock, one clock read."""
        entry = self._entries.get(client_id)
        if entry is None:
            return None
        now = time.monotonic()
        if now - entry.loaded_at < self._max_age and self._is_current(now):
            self.hits += 1
            return entry
        return None

    async def get(self, client_id: str) -> CachedToken:
        """The cached record, or a fresh read (raises the store's errors when it is down)."""
        entry = self.cached(client_id)
        if entry is not None:
            return entry
        self.misses += 1
        pending = self._loading.get(client_id)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[CachedToken] = asyncio.get_running_loop().create_future()
        self._loading[client_id] = future
        try:
            epoch = self._epoch
            token = await asyncio.to_thread(self._read, client_id)
            entry = cached_token(token, time.monotonic(), fingerprint=self._fingerprint)
            # An eviction while we read means our read may predate that commit: use it for
            # this request only, and let the next one read again.
            if epoch == self._epoch:
                if len(self._entries) >= self._max_size:
                    self._entries.pop(next(iter(self._entries), ""), None)
                self._entries[client_id] = entry
            future.set_result(entry)
            return entry
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: waiters re-raise it, nobody else must log it
            raise
        finally:
            del self._loading[client_id]

    def _read(self, client_id: str) -> ServiceToken | None:
        with self._repository.read() as tx:
            return tx.token_by_client_id(client_id)

    def evict(self, client_id: str) -> None:
        """Forget `client_id` (callable from any thread)."""
        with self._evict_lock:
            self._epoch += 1
            self._entries.pop(client_id, None)

    def clear(self) -> None:
        """Forget everything (after the change feed may have missed something)."""
        with self._evict_lock:
            self._epoch += 1
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)
