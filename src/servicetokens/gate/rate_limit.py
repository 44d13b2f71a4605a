"""Throttling failed attempts per (client id, source address): a token bucket that refills
over a window.

Keyed on the pair, not on the client id alone: client ids are not secret, so a limit per
id would let anyone who knows one keep its bucket empty and lock its real holder out. Per
pair, failures from one address throttle that address only; the holder, presenting the
right secret from elsewhere, is not affected.

Every presented client id is tracked, known or not, so a 429 says nothing about whether
an id exists. Memory is bounded: the oldest buckets are dropped first.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

__all__ = ["FailureLimiter"]


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated: float


class FailureLimiter:
    """`limit` failures per `window` seconds per (client id, origin), refilled continuously.

    `origin` is the request's source address (None when unknown: all such requests share
    one bucket per client id). Times are monotonic seconds, `time.monotonic()` by default.
    """

    def __init__(self, *, limit: int, window: float, max_keys: int = 100_000) -> None:
        self._limit = float(limit)
        self._rate = limit / window if window > 0 else 0.0
        self._max_keys = max_keys
        self._buckets: dict[tuple[str, str | None], _Bucket] = {}

    @property
    def enabled(self) -> bool:
        """Whether any limit applies."""
        return self._limit > 0

    def __len__(self) -> int:
        return len(self._buckets)

    def _refilled(self, key: tuple[str, str | None], now: float) -> _Bucket | None:
        bucket = self._buckets.get(key)
        if bucket is not None:
            bucket.tokens = min(self._limit, bucket.tokens + (now - bucket.updated) * self._rate)
            bucket.updated = now
            if bucket.tokens >= self._limit:
                del self._buckets[key]
                return None
        return bucket

    def retry_after(self, client_id: str, origin: str | None, now: float | None = None) -> float:
        """Seconds until `client_id` may fail again from `origin`; 0 when not throttled."""
        if not self._buckets:  # the hot path: nobody has failed lately
            return 0.0
        moment = time.monotonic() if now is None else now
        bucket = self._refilled((client_id, origin), moment)
        if bucket is None or bucket.tokens >= 1.0:
            return 0.0
        return (1.0 - bucket.tokens) / self._rate

    def record_failure(self, client_id: str, origin: str | None, now: float | None = None) -> None:
        """Spend one failure from the budget of `client_id` at `origin`."""
        if not self.enabled:
            return
        moment = time.monotonic() if now is None else now
        key = (client_id, origin)
        bucket = self._refilled(key, moment)
        if bucket is None:
            if len(self._buckets) >= self._max_keys:
                del self._buckets[next(iter(self._buckets))]
            bucket = self._buckets[key] = _Bucket(self._limit, moment)
        bucket.tokens = max(0.0, bucket.tokens - 1.0)
