"""The verification cache: client id → token record (or 'no such token'), which the change
feed evicts.

Safe to cache because every write to a token is announced on the change feed, which evicts
the client id in every gate within a second; expiry and grace windows are judged from the
cached record at request time. Entries also age out after `max_age` as a backstop, and the
cache is bypassed while the feed is not known to be current.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from servicetokens.domain.tokens import ServiceToken
from servicetokens.gate.jwt import secret_fingerprint
from servicetokens.store.repository import Repository

__all__ = ["CachedToken", "TokenCache"]


@dataclass(frozen=True, slots=True)
class CachedToken:
    """A token as last read (None: no token has that client id) and its secrets' names."""

    token: ServiceToken | None
    fingerprint: str
    previous_fingerprint: str | None
    loaded_at: float


def _cached(token: ServiceToken | None, now: float) -> CachedToken:
    if token is None:
        return CachedToken(None, "", None, now)
    previous = token.previous_secret_digest
    return CachedToken(
        token,
        secret_fingerprint(token.secret_digest),
        None if previous is None else secret_fingerprint(previous),
        now,
    )


class TokenCache:
    """Client id → `CachedToken`, loaded on a miss with one query (one per id at a time)."""

    def __init__(
        self,
        repository: Repository,
        *,
        is_current: Callable[[], bool],
        max_size: int,
        max_age: float = 60.0,
    ) -> None:
        self._repository = repository
        self._is_current = is_current
        self._max_size = max_size
        self._max_age = max_age
        self._entries: dict[str, CachedToken] = {}
        self._loading: dict[str, asyncio.Future[CachedToken]] = {}
        self._epoch = 0
        self._evict_lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    async def get(self, client_id: str) -> CachedToken:
        """The cached record, or a fresh read (raises the store's errors when it is down)."""
        entry = self._entries.get(client_id)
        if (
            entry is not None
            and time.monotonic() - entry.loaded_at < self._max_age
            and self._is_current()
        ):
            self.hits += 1
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
            entry = _cached(token, time.monotonic())
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
