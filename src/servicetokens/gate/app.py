"""The gate as an ASGI application: reserved `/cdn-cgi/` endpoints, then check and proxy.

Reserved paths (never proxied):
- `GET /cdn-cgi/access/certs`: the signing keys, in Cloudflare's shape.
- `/cdn-cgi/access/authorize` (any method): forward-auth; 200 with the JWT, or 401/403.
- `GET /cdn-cgi/servicetokens/metrics`: Prometheus metrics.
- `GET /cdn-cgi/servicetokens/health`: 200 while the change feed is current, else 503.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any
from urllib.parse import quote, unquote

import orjson

from servicetokens.domain.clock import Clock, system_clock
from servicetokens.domain.network import TrustedProxies
from servicetokens.gate.credentials import credential_header_names
from servicetokens.gate.forwarding import Forwarded, Upstream, read_forwarded, resolve_path
from servicetokens.gate.jwt import JwtIssuer
from servicetokens.gate.metrics import GateMetrics
from servicetokens.gate.proxy import ASSERTION_HEADER, UpstreamProxy, refusal
from servicetokens.gate.rate_limit import FailureLimiter
from servicetokens.gate.settings import FORWARD_AUTH_PATH, GateSettings
from servicetokens.gate.verifier import Decision, Verifier
from servicetokens.usecases.audit_retention import AuditPruner
from servicetokens.usecases.signing_keys import KeyRing
from servicetokens.usecases.verification import Verification

__all__ = ["CERTS_PATH", "HEALTH_PATH", "METRICS_PATH", "GateApp"]

log = logging.getLogger("servicetokens.gate")

CERTS_PATH = "/cdn-cgi/access/certs"
METRICS_PATH = "/cdn-cgi/servicetokens/metrics"
HEALTH_PATH = "/cdn-cgi/servicetokens/health"
_RESERVED = "/cdn-cgi/"
_BAD_TARGET = Decision(400, "bad request target")

Scope = dict[str, Any]


class GateApp:
    """One gate as ASGI: the verifier and proxy in front of the use cases it is given (built
    by `servicetokens.bootstrap.build_gate`): the signing keys, verification (cache, change
    feed, last_seen writer) and audit retention. `close` runs last at shutdown (the
    database's connections)."""

    def __init__(
        self,
        settings: GateSettings,
        *,
        keys: KeyRing,
        verification: Verification,
        audit_pruner: AuditPruner,
        close: Callable[[], None] = lambda: None,
        clock: Clock = system_clock,
    ) -> None:
        self.settings = settings
        self.keys = keys
        self.verification = verification
        self.audit_pruner = audit_pruner
        self._close = close
        self.metrics = GateMetrics()
        self.issuer = JwtIssuer(
            self.keys, audience=settings.aud, issuer=settings.iss, ttl=settings.jwt_ttl
        )
        self.verifier = Verifier(
            verification=verification,
            issuer=self.issuer,
            limiter=FailureLimiter(
                limit=settings.failure_limit,
                window=settings.failure_window.total_seconds(),
            ),
            metrics=self.metrics,
            token_header=settings.token_header,
            cookie=settings.cookie,
            clock=clock,
        )
        self.proxies = TrustedProxies(settings.trusted_proxies)
        self.proxy = UpstreamProxy(
            Upstream(settings.upstream),
            strip=credential_header_names(settings.token_header),
            timeout=settings.upstream_timeout,
        )
        cache, feed, last_seen = verification.cache, verification.feed, verification.last_seen
        for name, doc, read in (
            ("servicetokens_gate_cache_entries", "Client ids cached.", lambda: len(cache)),
            ("servicetokens_gate_cache_hits", "Cache hits.", lambda: cache.hits),
            ("servicetokens_gate_cache_misses", "Cache misses.", lambda: cache.misses),
            ("servicetokens_gate_evictions", "Change-feed evictions.", lambda: feed.evictions),
            ("servicetokens_gate_jwt_signed", "JWTs signed.", lambda: self.issuer.signed),
            ("servicetokens_gate_upstream_errors", "502/504 answers.", lambda: self.proxy.errors),
            ("servicetokens_gate_last_seen_written", "Uses written.", lambda: last_seen.written),
            (
                "servicetokens_gate_write_behind_dropped",
                "Uses and audit entries the database refused, dropped (logged).",
                lambda: last_seen.dropped,
            ),
        ):
            self.metrics.gauge(name, doc, read)

    # -- lifecycle ----------------------------------------------------------------------

    async def startup(self) -> None:
        """Load (or make) signing keys, read the change feed, start the background work."""
        if self.settings.check:
            await asyncio.to_thread(self.keys.sync)
            await asyncio.to_thread(self.verification.start)
            self.audit_pruner.start()
            self.keys.start()
        await self.proxy.start()

    async def shutdown(self) -> None:
        """Stop background work, flush last_seen_at, close the database's connections."""
        await self.proxy.aclose()
        if self.settings.check:
            await asyncio.to_thread(self.keys.stop)
            await asyncio.to_thread(self.verification.stop)
            await asyncio.to_thread(self.audit_pruner.stop)
        self._close()

    async def _lifespan(self, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.startup()
                except Exception as exc:
                    log.exception("gate failed to start")
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return

    # -- requests -----------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":  # WebSockets are not proxied
            await send({"type": "websocket.close", "code": 1008})
            return
        raw_path: bytes = scope.get("raw_path") or quote(scope["path"]).encode("ascii")
        path = resolve_path(raw_path)
        target = None if path is None else self.proxy.upstream.url(path, scope["query_string"])
        if path is None or target is None:
            await self._refuse(send, _BAD_TARGET)
            return
        forwarded = read_forwarded(scope, self.proxies)
        if path.startswith(_RESERVED) or ("%" in path and unquote(path).startswith(_RESERVED)):
            await self._reserved(unquote(path), scope, send, forwarded)
            return
        if not self.settings.check:
            await self.proxy.forward(
                scope, receive, send, target=target, forwarded=forwarded, assertion=None
            )
            return
        decision = await self.verifier.decide(scope["headers"], origin=forwarded.client)
        if decision.status != 200:
            await self._refuse(send, decision)
            return
        cookie = decision.set_cookie
        if cookie is not None and forwarded.secure:
            cookie += b"; Secure"
        await self.proxy.forward(
            scope,
            receive,
            send,
            target=target,
            forwarded=forwarded,
            assertion=decision.jwt,
            set_cookie=cookie,
        )

    async def _refuse(self, send: Any, decision: Decision) -> None:
        body, start = refusal(decision.status, decision.reason, retry_after=decision.retry_after)
        await send(start)
        await send({"type": "http.response.body", "body": body})

    async def _reserved(self, path: str, scope: Scope, send: Any, forwarded: Forwarded) -> None:
        if path == FORWARD_AUTH_PATH and self.settings.check:
            await self._authorize(scope, send, forwarded)
        elif path == CERTS_PATH and self.settings.check:
            await _reply(send, 200, orjson.dumps(self.keys.certs_document()))
        elif path == METRICS_PATH:
            await _reply(send, 200, self.metrics.render(), b"text/plain; version=0.0.4")
        elif path == HEALTH_PATH:
            current = not self.settings.check or self.verification.is_current()
            body = b'{"status":"ok"}' if current else b'{"status":"stale"}'
            await _reply(send, 200 if current else 503, body)
        else:
            await _reply(send, 404, b'{"error":"not_found"}')

    async def _authorize(self, scope: Scope, send: Any, forwarded: Forwarded) -> None:
        decision = await self.verifier.decide(scope["headers"], origin=forwarded.client)
        if decision.status == 429:
            # nginx auth_request understands only 2xx, 401 and 403 (anything else is a 500).
            decision = Decision(401, decision.reason, retry_after=decision.retry_after)
        if decision.status != 200:
            await self._refuse(send, decision)
            return
        assert decision.jwt is not None
        headers = [(ASSERTION_HEADER, decision.jwt.encode()), (b"content-length", b"0")]
        if forwarded.client is not None:
            headers.append((b"cf-connecting-ip", forwarded.client.encode()))
        if decision.set_cookie is not None:
            cookie = decision.set_cookie + (b"; Secure" if forwarded.secure else b"")
            headers.append((b"set-cookie", cookie))
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b""})


async def _reply(
    send: Any, status: int, body: bytes, content_type: bytes = b"application/json"
) -> None:
    headers = [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
