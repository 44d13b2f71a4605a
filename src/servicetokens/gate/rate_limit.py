"""Throttling failed attempts: token buckets that refill over a window, counted only on failure.

The gate checks the secret *before* it asks the limiter anything, and a correct secret is
always admitted: the limiter only decides whether a failure is answered 401 or 429. So no
stranger, however many wrong secrets they send for a client id they know (client ids are
not secret), can keep the rightful holder out.

Budgets:
- a known client id: per (client id, source address), so failures for one id from one
  address spend only that pair's budget;
- an unknown client id: per source address alone (IPv6 per /64), so a flood of random ids
  costs one bucket per address, not one per id.

Memory is bounded (least recently failed buckets are dropped first).
"""

from __future__ import annotations

import ipaddress
import time
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass

__all__ = ["FailureLimiter", "address_key"]


def address_key(origin: str | None) -> str | None:
    """The budget an address draws on: itself for IPv4, its /64 for IPv6 (one host's share)."""
    if origin is None or ":" not in origin:
        return origin
    try:
        return str(ipaddress.IPv6Network(f"{origin}/64", strict=False))
    except ValueError:
        return origin


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated: float


class FailureLimiter:
    """`limit` failures per `window` seconds per key, refilled continuously.

    Keys are any hashable (the verifier uses `(client_id, address)` and `(None, address)`).
    Times are monotonic seconds, `time.monotonic()` by default.
    """

    def __init__(self, *, limit: int, window: float, max_keys: int = 100_000) -> None:
        if limit < 0 or (limit > 0 and window <= 0):
            raise ValueError("the failure limit needs a limit >= 0 and a window > 0 seconds")
        self._limit = float(limit)
        self._rate = limit / window if window > 0 else 0.0
        self._max_keys = max_keys
        self._buckets: OrderedDict[Hashable, _Bucket] = OrderedDict()

    @property
    def enabled(self) -> bool:
        """Whether any limit applies."""
        return self._limit > 0

    def __len__(self) -> int:
        return len(self._buckets)

    def _refilled(self, key: Hashable, now: float) -> _Bucket | None:
        bucket = self._buckets.get(key)
        if bucket is not None:
            bucket.tokens = min(self._limit, bucket.tokens + (now - bucket.updated) * self._rate)
            bucket.updated = now
            if bucket.tokens >= self._limit:
                del self._buckets[key]
                return None
        return bucket

    def retry_after(self, key: Hashable, now: float | None = None) -> float:
        """Seconds until `key` may fail again unthrottled; 0 when it is not throttled."""
        if not self._buckets:  # nobody has failed lately
            return 0.0
        moment = time.monotonic() if now is None else now
        bucket = self._refilled(key, moment)
        if bucket is None or bucket.tokens >= 1.0:
            return 0.0
        return (1.0 - bucket.tokens) / self._rate

    def record_failure(self, key: Hashable, now: float | None = None) -> float:
        """Spend one failure from `key`'s budget; the seconds until it may fail again
        unthrottled (0 while budget remains)."""
        if not self.enabled:
            return 0.0
        moment = time.monotonic() if now is None else now
        bucket = self._refilled(key, moment)
        if bucket is None:
            while len(self._buckets) >= self._max_keys:
                self._buckets.popitem(last=False)
            bucket = self._buckets[key] = _Bucket(self._limit, moment)
        else:
            self._buckets.move_to_end(key)
        spent = bucket.tokens >= 1.0
        bucket.tokens = max(0.0, bucket.tokens - 1.0)
        if spent:
            return 0.0
        return (1.0 - bucket.tokens) / self._rate
