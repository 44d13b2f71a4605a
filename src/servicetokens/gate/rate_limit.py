"""Throttling failed attempts per client id: a token bucket that refills over a window.

Every presented client id is tracked, known or not, so a 429 says nothing about whether
an id exists. Memory is bounded: the oldest buckets are dropped first.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["FailureLimiter"]


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated: float


class FailureLimiter:
    """`limit` failures per `window` seconds per key, refilled continuously."""

    def __init__(self, *, limit: int, window: float, max_keys: int = 100_000) -> None:
        self._limit = float(limit)
        self._rate = limit / window if window > 0 else 0.0
        self._max_keys = max_keys
        self._buckets: dict[str, _Bucket] = {}

    @property
    def enabled(self) -> bool:
        """Whether any limit applies."""
        return self._limit > 0

    def _refilled(self, key: str, now: float) -> _Bucket | None:
        bucket = self._buckets.get(key)
        if bucket is not None:
            bucket.tokens = min(self._limit, bucket.tokens + (now - bucket.updated) * self._rate)
            bucket.updated = now
            if bucket.tokens >= self._limit:
                del self._buckets[key]
                return None
        return bucket

    def retry_after(self, key: str, now: float) -> float:
        """Seconds until `key` may fail again; 0 when it is not throttled."""
        if not self.enabled:
            return 0.0
        bucket = self._refilled(key, now)
        if bucket is None or bucket.tokens >= 1.0:
            return 0.0
        return (1.0 - bucket.tokens) / self._rate

    def record_failure(self, key: str, now: float) -> None:
        """Spend one failure from `key`'s budget."""
        if not self.enabled:
            return
        bucket = self._refilled(key, now)
        if bucket is None:
            if len(self._buckets) >= self._max_keys:
                del self._buckets[next(iter(self._buckets))]
            bucket = self._buckets[key] = _Bucket(self._limit, now)
        bucket.tokens = max(0.0, bucket.tokens - 1.0)
