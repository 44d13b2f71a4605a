"""Prometheus metrics of one gate (own registry, so several gates can share a process):
decisions by outcome, request latency by status class, upstream errors by reason, failed
authentications, and values read at scrape time (cache, change feed, JWTs, write-behind)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from servicetokens.domain.histogram import Histogram

if TYPE_CHECKING:
    from servicetokens.usecases.verification import Verification

__all__ = ["OUTCOMES", "GateMetrics", "UpstreamErrors", "watch_verification"]

OUTCOMES = {
    200: "allowed",
    302: "redirected",
    401: "unauthorized",
    403: "forbidden",
    429: "rate_limited",
    503: "unavailable",
}
"""Decision status → the `outcome` label of `servicetokens_gate_decisions_total`."""


class _Decisions(Collector):
    """Decisions by outcome, from plain integers read at scrape time.

    Every request is counted here, so the hot path is `counts[status] += 1` (only the event
    loop's thread decides requests) rather than a locked prometheus_client counter."""

    def __init__(self, counts: dict[int, int]) -> None:
        self._counts = counts

    def collect(self) -> Iterator[Metric]:
        family = CounterMetricFamily(
            "servicetokens_gate_decisions", "Requests decided, by outcome.", labels=["outcome"]
        )
        for status, outcome in OUTCOMES.items():
            family.add_metric([outcome], self._counts[status])
        yield family


_CLASSES = {n: f"{n}xx" for n in range(1, 6)}


class UpstreamErrors(Protocol):
    """What the proxy counts of its upstreams' failures."""

    @property
    def errors(self) -> int:
        """Requests an upstream did not answer (502 and 504)."""

    @property
    def timeouts(self) -> int:
        """Of those, the ones it did not answer in time (504)."""


class _Latency(Collector):
    """Request latency by status class, and upstream errors by reason, read at scrape time."""

    def __init__(self, latency: dict[str, Histogram], upstream: list[UpstreamErrors]) -> None:
        self._latency = latency
        self._upstream = upstream

    def collect(self) -> Iterator[Metric]:
        family = HistogramMetricFamily(
            "servicetokens_gate_request_duration_seconds",
            "Seconds from a request's arrival to its last byte (upstream included), by the "
            "answer's status class (2xx, 3xx, 4xx, 5xx).",
            labels=["code"],
        )
        for code, histogram in list(self._latency.items()):
            buckets = [
                ("+Inf" if bound == float("inf") else repr(bound), count)
                for bound, count in histogram.cumulative()
            ]
            family.add_metric([code], buckets, sum_value=histogram.total)
        yield family
        errors = CounterMetricFamily(
            "servicetokens_gate_upstream_errors",
            "Requests the upstream did not answer: unreachable (502) or timed out (504).",
            labels=["reason"],
        )
        for proxy in self._upstream:
            errors.add_metric(["unreachable"], proxy.errors - proxy.timeouts)
            errors.add_metric(["timeout"], proxy.timeouts)
        yield errors


class GateMetrics:
    """What the gate counts; served at `/cdn-cgi/servicetokens/metrics`."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.decisions: dict[int, int] = dict.fromkeys(OUTCOMES, 0)
        """Decisions by status (the keys of `OUTCOMES`); increment in place."""
        self.registry.register(_Decisions(self.decisions))
        self.latency: dict[str, Histogram] = {}
        """Status class (`2xx`, ...) → request latency."""
        self._upstream: list[UpstreamErrors] = []
        self.registry.register(_Latency(self.latency, self._upstream))
        self.failures = Counter(
            "servicetokens_gate_failures",
            "Failed authentications, by reason and whether the client id is known.",
            ["reason", "client"],
            registry=self.registry,
        )

    def observe(self, status: int, seconds: float) -> None:
        """Time one answered request by its status class (event loop's thread)."""
        code = _CLASSES[status // 100] if 1 <= status // 100 <= 5 else "other"
        histogram = self.latency.get(code)
        if histogram is None:
            histogram = self.latency[code] = Histogram()
        histogram.observe(seconds)

    def upstream(self, proxy: UpstreamErrors) -> None:
        """Count `proxy`'s upstream errors."""
        self._upstream.append(proxy)

    def gauge(self, name: str, documentation: str, read: Callable[[], float]) -> None:
        """A value read at scrape time (cache size, evictions, ...)."""
        Gauge(name, documentation, registry=self.registry).set_function(read)

    def render(self) -> bytes:
        """The text exposition format."""
        return generate_latest(self.registry)


def watch_verification(
    metrics: GateMetrics, verification: Verification, *, signed: Callable[[], float]
) -> None:
    """Gauges of the verification cache, the change feed (with its lag), the JWTs signed
    (`signed`) and the write-behind of uses, read at scrape time."""
    cache, feed, last_seen = verification.cache, verification.feed, verification.last_seen
    for name, doc, read in (
        ("servicetokens_gate_cache_entries", "Client ids cached.", lambda: len(cache)),
        ("servicetokens_gate_cache_hits", "Cache hits.", lambda: cache.hits),
        ("servicetokens_gate_cache_misses", "Cache misses.", lambda: cache.misses),
        ("servicetokens_gate_evictions", "Change-feed evictions.", lambda: feed.evictions),
        (
            "servicetokens_gate_change_feed_lag_seconds",
            "Seconds since the change feed was last read (above 2: the cache is bypassed).",
            feed.lag,
        ),
        ("servicetokens_gate_jwt_signed", "JWTs signed.", signed),
        ("servicetokens_gate_last_seen_written", "Uses written.", lambda: last_seen.written),
        (
            "servicetokens_gate_write_behind_dropped",
            "Uses and audit entries the database refused, dropped (logged).",
            lambda: last_seen.dropped,
        ),
    ):
        metrics.gauge(name, doc, read)
