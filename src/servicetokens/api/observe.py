"""One ASGI middleware that watches every request: its route template, status and latency
for the metrics (`api/metrics.py`), and, with `--log-format json`, one JSON line with a
request id, which the response carries as `X-Request-Id` too.

The request id is the `X-Request-Id` of a trusted proxy when it sent a well-formed one
(`domain/request_ids.py`), else a new one. Installed only when metrics or the request log
are on: with both off a request costs what it did before.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from servicetokens.api.metrics import ApiMetrics
from servicetokens.api.routing import RouteTemplates
from servicetokens.domain.network import TrustedProxies
from servicetokens.domain.request_ids import RequestIds, accepted_request_id
from servicetokens.json_logs import REQUEST_LOGGER

__all__ = ["Observe"]

log = logging.getLogger(REQUEST_LOGGER)

_UNMATCHED = "unmatched"


class Observe:
    """The middleware: `metrics` (None: not counted) and `request_log` (JSON lines)."""

    def __init__(
        self,
        app: Any,
        *,
        metrics: ApiMetrics | None,
        request_log: bool,
        proxies: TrustedProxies,
    ) -> None:
        self.app = app
        self._metrics = metrics
        self._request_log = request_log
        self._proxies = proxies
        self._ids = RequestIds()
        self._templates = RouteTemplates()

    def _request_id(self, scope: dict[str, Any]) -> tuple[str, str | None]:
        """(request id, client address) of a request."""
        client = scope.get("client")
        peer = client[0] if client else None
        forwarded: list[bytes] = []
        sent: bytes | None = None
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                sent = value
            elif name == b"x-forwarded-for":
                forwarded.append(value)
        address = self._proxies.resolve(peer, forwarded)
        kept = accepted_request_id(sent) if sent is not None and address.trusted_peer else None
        return kept or self._ids.new(), address.client

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the client gets if the app fails before it answers
        request_id = client = None
        if self._request_log:
            request_id, client = self._request_id(scope)
            header = (b"x-request-id", request_id.encode("ascii"))

        async def watched(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                if request_id is not None:
                    message = {**message, "headers": [*message.get("headers", ()), header]}
            await send(message)

        try:
            await self.app(scope, receive, watched)
        finally:
            seconds = time.perf_counter() - started
            route = self._templates.of(scope) or _UNMATCHED
            if self._metrics is not None:
                self._metrics.observe(route, scope["method"], status, seconds)
            if request_id is not None:
                log.info(
                    "request",
                    extra={
                        "fields": {
                            "request_id": request_id,
                            "method": scope["method"],
                            "route": route,
                            "path": scope["path"],
                            "status": status,
                            "duration_ms": round(seconds * 1000, 3),
                            "client": client,
                        }
                    },
                )
