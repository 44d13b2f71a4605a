"""The API's Prometheus metrics, served at `GET /metrics` on the API's own port.

Counted on the hot path as plain numbers (one dict increment and one `Histogram.observe`
per request, on the event loop's thread) and turned into metric families only when
scraped. Labels are bounded: a route is its template (`/client/v4/accounts/{account_id}/
...`), never the path a client sent (an unmatched path is `unmatched`); methods outside
HTTP's usual set are `other`.

Families: requests by route, method and status; latency by route and method; the database
pool's size, use, overflow and the wait for a connection; cache hits and misses (the
principal cache, the list-page memo); background job runs and failures; and gauges that
other parts register with `gauge(...)` (the notifications outbox's backlog, once it exists).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Protocol

from prometheus_client import CollectorRegistry, Gauge, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from servicetokens.domain.histogram import Histogram
from servicetokens.usecases.background import job_runs
from servicetokens.usecases.health import DatabaseHealth

__all__ = ["CONTENT_TYPE", "ApiMetrics", "CacheCounts", "histogram_family"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class CacheCounts(Protocol):
    """What a cache counts."""

    @property
    def hits(self) -> int: ...

    @property
    def misses(self) -> int: ...


def histogram_family(
    name: str,
    documentation: str,
    labels: list[str],
    series: Iterable[tuple[tuple[str, ...], Histogram]],
) -> HistogramMetricFamily:
    """A Prometheus histogram family from (label values, `Histogram`) pairs."""
    family = HistogramMetricFamily(name, documentation, labels=labels)
    for values, histogram in series:
        buckets = [
            ("+Inf" if bound == float("inf") else repr(bound), count)
            for bound, count in histogram.cumulative()
        ]
        family.add_metric(list(values), buckets, sum_value=histogram.total)
    return family


class _Collector(Collector):
    def __init__(self, metrics: ApiMetrics) -> None:
        self.metrics = metrics

    def collect(self) -> Iterator[Metric]:
        return self.metrics.families()


class ApiMetrics:
    """What one API process counts."""

    def __init__(self, health: DatabaseHealth, caches: dict[str, CacheCounts]) -> None:
        self._health = health
        self._caches = caches
        self.requests: dict[tuple[str, str, str], int] = {}
        """(route template, method, status) → requests answered."""
        self.latency: dict[tuple[str, str], Histogram] = {}
        """(route template, method) → seconds from the request's arrival to its last byte."""
        self.registry = CollectorRegistry()
        self.registry.register(_Collector(self))

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        """Count one answered request (event loop's thread)."""
        method = method if method in _METHODS else "other"
        key = (route, method, str(status))
        self.requests[key] = self.requests.get(key, 0) + 1
        histogram = self.latency.get((route, method))
        if histogram is None:
            histogram = self.latency[(route, method)] = Histogram()
        histogram.observe(seconds)

    def gauge(self, name: str, documentation: str, read: Callable[[], float]) -> None:
        """A value read at scrape time, e.g. `servicetokens_outbox_backlog` (messages not
        yet delivered) registered by the part that knows it."""
        Gauge(name, documentation, registry=self.registry).set_function(read)

    def render(self) -> bytes:
        """The text exposition format."""
        return generate_latest(self.registry)

    def families(self) -> Iterator[Metric]:
        requests = CounterMetricFamily(
            "servicetokens_api_requests",
            "Requests answered, by route template, method and status.",
            labels=["route", "method", "status"],
        )
        for labels, count in list(self.requests.items()):
            requests.add_metric(list(labels), count)
        yield requests
        yield histogram_family(
            "servicetokens_api_request_duration_seconds",
            "Seconds from a request's arrival to its last byte, by route template and method.",
            ["route", "method"],
            list(self.latency.items()),
        )
        pool = self._health.pool_use()
        for name, documentation, value in (
            ("servicetokens_db_pool_size", "Connections the pool keeps.", pool.size),
            ("servicetokens_db_pool_checked_out", "Pooled connections in use.", pool.checked_out),
            (
                "servicetokens_db_pool_overflow",
                "Connections beyond the pool's size (negative: not all opened yet).",
                pool.overflow,
            ),
        ):
            yield GaugeMetricFamily(name, documentation, value=value)
        yield histogram_family(
            "servicetokens_db_pool_wait_seconds",
            "Seconds a transaction waited for a pooled connection (with its pre-ping).",
            [],
            [((), self._health.pool_waits)],
        )
        hits = CounterMetricFamily(
            "servicetokens_cache_hits", "Answers found in a cache.", labels=["cache"]
        )
        misses = CounterMetricFamily(
            "servicetokens_cache_misses", "Answers a cache did not have.", labels=["cache"]
        )
        for name, cache in self._caches.items():
            hits.add_metric([name], cache.hits)
            misses.add_metric([name], cache.misses)
        yield hits
        yield misses
        runs = CounterMetricFamily(
            "servicetokens_job_runs", "Runs of a background job.", labels=["job"]
        )
        failures = CounterMetricFamily(
            "servicetokens_job_failures", "Runs of a background job that failed.", labels=["job"]
        )
        for job, (ran, failed) in sorted(job_runs().items()):
            runs.add_metric([job], ran)
            failures.add_metric([job], failed)
        yield runs
        yield failures
