"""A latency histogram as plain numbers: counts per bucket, their sum and count.

What the API, the gate and the store measure (request latency, waits for a pooled
connection) is kept here and read at scrape time (`api/metrics.py`, `gate/metrics.py`), so
the hot path does one bisect and two additions under an uncontended lock, and neither the
store nor the domain knows Prometheus.
"""

from __future__ import annotations

import threading
from bisect import bisect_left
from collections.abc import Sequence

__all__ = ["LATENCY_BOUNDS", "Histogram"]

LATENCY_BOUNDS = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
)
"""Upper bounds (seconds) of the latency buckets: 0.5 ms to 5 s."""


class Histogram:
    """Observations (seconds) counted under the first upper bound they do not exceed."""

    __slots__ = ("_counts", "_lock", "bounds", "total")

    def __init__(self, bounds: Sequence[float] = LATENCY_BOUNDS) -> None:
        self.bounds = tuple(bounds)
        self._counts = [0] * (len(self.bounds) + 1)  # the last: above every bound
        self.total = 0.0
        """The sum of every observation."""
        self._lock = threading.Lock()

    def observe(self, value: float) -> None:
        """Count one observation."""
        index = bisect_left(self.bounds, value)
        with self._lock:
            self._counts[index] += 1
            self.total += value

    def cumulative(self) -> list[tuple[float, int]]:
        """(upper bound, observations at or below it) for each bound and for +inf."""
        with self._lock:
            counts = list(self._counts)
        running = 0
        out: list[tuple[float, int]] = []
        for bound, count in zip((*self.bounds, float("inf")), counts, strict=True):
            running += count
            out.append((bound, running))
        return out

    @property
    def count(self) -> int:
        """Observations so far."""
        with self._lock:
            return sum(self._counts)
