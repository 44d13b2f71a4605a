"""Watching each request the gate answers: its latency by status class into the metrics
and, with `--log-format json`, one JSON log line with its request id (which
`gate/forwarding.py` chose and the proxy sent upstream as `X-Request-Id`)."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from servicetokens.gate.metrics import GateMetrics
from servicetokens.json_logs import REQUEST_LOGGER

__all__ = ["REQUEST_ID", "watch"]

log = logging.getLogger(REQUEST_LOGGER)

REQUEST_ID = "servicetokens.request_id"
"""ASGI scope extension: the request's id, once the gate has read the request."""

Handler = Callable[[dict[str, Any], Any, Any], Awaitable[None]]


async def watch(
    handle: Handler,
    scope: dict[str, Any],
    receive: Any,
    send: Any,
    *,
    metrics: GateMetrics,
    request_log: bool,
) -> None:
    """`handle` the request, timing it to its last byte and noting the status it answered."""
    started = time.perf_counter()
    status = 0

    async def watched(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        await send(message)

    try:
        await handle(scope, receive, watched)
    finally:
        seconds = time.perf_counter() - started
        metrics.observe(status, seconds)
        if request_log:
            client = scope.get("client")
            log.info(
                "request",
                extra={
                    "fields": {
                        "request_id": scope.get(REQUEST_ID),
                        "method": scope["method"],
                        "path": scope["path"],
                        "status": status,
                        "duration_ms": round(seconds * 1000, 3),
                        "peer": client[0] if client else None,
                    }
                },
            )
