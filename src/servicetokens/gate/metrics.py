"""Prometheus counters for one gate (own registry, so several gates can share a process)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector

__all__ = ["OUTCOMES", "GateMetrics"]

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


class GateMetrics:
    """What the gate counts; served at `/cdn-cgi/servicetokens/metrics`."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.decisions: dict[int, int] = dict.fromkeys(OUTCOMES, 0)
        """Decisions by status (the keys of `OUTCOMES`); increment in place."""
        self.registry.register(_Decisions(self.decisions))
        self.failures = Counter(
            "servicetokens_gate_failures",
            "Failed authentications, by reason and whether the client id is known.",
            ["reason", "client"],
            registry=self.registry,
        )

    def gauge(self, name: str, documentation: str, read: Callable[[], float]) -> None:
        """A value read at scrape time (cache size, evictions, ...)."""
        Gauge(name, documentation, registry=self.registry).set_function(read)

    def render(self) -> bytes:
        """The text exposition format."""
        return generate_latest(self.registry)
