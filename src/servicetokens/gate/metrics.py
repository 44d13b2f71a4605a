"""Prometheus counters for one gate (own registry, so several gates can share a process)."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest

__all__ = ["GateMetrics"]


class GateMetrics:
    """What the gate counts; served at `/cdn-cgi/servicetokens/metrics`."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        decisions = Counter(
            "servicetokens_gate_decisions",
            "Requests decided, by outcome.",
            ["outcome"],
            registry=self.registry,
        )
        self.allowed = decisions.labels("allowed")
        self.unauthorized = decisions.labels("unauthorized")
        self.forbidden = decisions.labels("forbidden")
        self.rate_limited = decisions.labels("rate_limited")
        self.unavailable = decisions.labels("unavailable")
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
