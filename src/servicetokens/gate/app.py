"""The gate as an ASGI application: reserved `/cdn-cgi/` endpoints, then check and proxy.

Two forms: a single upstream guarded by one implicit application (`--upstream`, decided by
`gate/verifier.py`), or every Access application of the account, each hostname proxied
where its `--route` says (decided by `gate/access.py`).

Reserved paths (never proxied):
- `GET /cdn-cgi/access/certs`: the signing keys, in Cloudflare's shape.
- `/cdn-cgi/access/authorize` (any method): forward-auth; 200 with the JWT, or 401/403
  (applications: decided by the `X-Forwarded-Host` and `X-Forwarded-Uri` a trusted proxy
  sends).
- `GET /cdn-cgi/servicetokens/metrics`: Prometheus metrics.
- `GET /cdn-cgi/servicetokens/health`: 200 while the change feed is current, else 503.
- `GET /cdn-cgi/servicetokens/readyz`: 200 while the database answers a read now, else 503.
Each request's id goes upstream as `X-Request-Id` (`gate/forwarding.py`, `gate/observe.py`).
"""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import Callable
from typing import Any
from urllib.parse import quote, unquote

import orjson

from servicetokens.domain.clock import Clock, system_clock
from servicetokens.domain.network import TrustedProxies
from servicetokens.gate.access import AccessDecider
from servicetokens.gate.app_jwt import AppJwts
from servicetokens.gate.credentials import credential_header_names
from servicetokens.gate.forwarding import Forwarded, Upstream, read_forwarded, resolve_path
from servicetokens.gate.jwt import JwtIssuer
from servicetokens.gate.metrics import GateMetrics, watch_verification
from servicetokens.gate.observe import REQUEST_ID, watch
from servicetokens.gate.proxy import ASSERTION_HEADER, UpstreamProxy, refusal
from servicetokens.gate.rate_limit import FailureLimiter
from servicetokens.gate.routes import Routes
from servicetokens.gate.settings import FORWARD_AUTH_PATH, GateSettings
from servicetokens.gate.verifier import Decision, Verifier
from servicetokens.usecases.access_follower import AccessFollower
from servicetokens.usecases.audit_retention import AuditPruner
from servicetokens.usecases.health import DatabaseHealth
from servicetokens.usecases.signing_keys import KeyRing
from servicetokens.usecases.verification import Verification

__all__ = ["CERTS_PATH", "HEALTH_PATH", "METRICS_PATH", "READY_PATH", "GateApp"]

log = logging.getLogger("servicetokens.gate")

CERTS_PATH = "/cdn-cgi/access/certs"
METRICS_PATH = "/cdn-cgi/servicetokens/metrics"
HEALTH_PATH = "/cdn-cgi/servicetokens/health"
READY_PATH = "/cdn-cgi/servicetokens/readyz"
_RESERVED = "/cdn-cgi/"
_BAD_TARGET = Decision(400, "bad request target")
_NO_ROUTE = Decision(502, "no upstream for this host")
_NO_FORWARDED_URI = Decision(403, "forward-auth needs X-Forwarded-Uri from a trusted proxy")

Scope = dict[str, Any]


class GateApp:
    """One gate as ASGI: the verifier and proxy in front of the use cases it is given (built
    by `servicetokens.bootstrap.build_gate`): the signing keys, verification (cache, change
    feed, last_seen writer), audit retention and, serving applications, the follower of
    the account's Access configuration. `close` runs last at shutdown (the database's
    connections)."""

    def __init__(
        self,
        settings: GateSettings,
        *,
        keys: KeyRing,
        verification: Verification,
        audit_pruner: AuditPruner,
        access: AccessFollower | None = None,
        health: DatabaseHealth | None = None,
        close: Callable[[], None] = lambda: None,
        clock: Clock = system_clock,
    ) -> None:
        if settings.applications and access is None:
            raise ValueError("a gate serving applications needs their follower")
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
        strip = credential_header_names(settings.token_header)
        self.proxy = UpstreamProxy(
            None if settings.upstream is None else Upstream(settings.upstream),
            strip=strip,
            timeout=settings.upstream_timeout,
        )
        self.routes = Routes(settings.routes)
        self.access: AccessDecider | None = None
        if access is not None:
            self.access = AccessDecider(
                follower=access,
                verifier=self.verifier,
                verification=verification,
                jwts=AppJwts(keys, max_ttl=int(settings.key_overlap.total_seconds())),
                metrics=self.metrics,
                strip=strip,
                cookie=settings.cookie,
                clock=clock,
            )
            self.access.register_gauges(self.metrics)
        watch_verification(self.metrics, verification, signed=self._signed)
        self.metrics.upstream(self.proxy)
        self.health = health
        self._request_log = settings.request_log

    def _signed(self) -> float:
        return self.issuer.signed + (0 if self.access is None else self.access.jwts.signed)

    # -- lifecycle ----------------------------------------------------------------------

    async def startup(self) -> None:
        """Load (or make) signing keys, read the change feed (and the Access
        configuration), start the background work."""
        await asyncio.to_thread(self.keys.sync)
        await asyncio.to_thread(self.verification.start)
        if self.access is not None:
            await asyncio.to_thread(self.access.follower.start)
        self.audit_pruner.start()
        self.keys.start()
        await self.proxy.start()
        # What is alive now lives as long as the process (modules, the app, its caches'
        # skeletons, an Access configuration): out of the cyclic collector's sight, so its
        # full collections walk only what requests allocate.
        gc.collect()
        gc.freeze()

    async def shutdown(self) -> None:
        """Stop background work, flush last_seen_at, close the database's connections."""
        await self.proxy.aclose()
        await asyncio.to_thread(self.keys.stop)
        await asyncio.to_thread(self.verification.stop)
        if self.access is not None:
            await asyncio.to_thread(self.access.follower.stop)
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
        await watch(
            self._request, scope, receive, send, metrics=self.metrics, request_log=self._request_log
        )

    async def _request(self, scope: Scope, receive: Any, send: Any) -> None:
        raw_path: bytes = scope.get("raw_path") or quote(scope["path"]).encode("ascii")
        path = resolve_path(raw_path)
        upstream = self.proxy.upstream
        query: bytes = scope["query_string"]
        if upstream is not None:
            target = None if path is None else upstream.url(path, query)
        else:  # applications: the upstream depends on the host, the target is checked now
            target = None if path is None or b"#" in query else path
        if path is None or target is None:
            await self._refuse(send, _BAD_TARGET)
            return
        forwarded = read_forwarded(scope, self.proxies)
        scope[REQUEST_ID] = forwarded.request_id
        if path.startswith(_RESERVED) or ("%" in path and unquote(path).startswith(_RESERVED)):
            await self._reserved(unquote(path), scope, send, forwarded)
            return
        if upstream is None:
            await self._admit_app(scope, receive, send, path, forwarded)
            return
        await self._admit(scope, receive, send, target, forwarded)

    async def _admit_app(
        self, scope: Scope, receive: Any, send: Any, path: str, forwarded: Forwarded
    ) -> None:
        """Decide by the Access application the host and path belong to; forward the
        request where the host's route points, with the application's JWT, or refuse."""
        access = self.access
        assert access is not None
        query: bytes = scope["query_string"]
        decision = await access.decide(
            scope["headers"],
            host=forwarded.host,
            target=path + "?" + query.decode("latin-1") if query else path,
            client=forwarded.client,
            method=scope["method"],
        )
        if decision.status != 200:
            await self._refuse(send, decision)
            return
        upstream = self.routes.upstream(forwarded.host)
        target = None if upstream is None else upstream.url(path, query)
        if upstream is None or target is None:
            await self._refuse(send, _NO_ROUTE)
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
            upstream=upstream,
            strip=access.strip(),
        )

    async def _admit(
        self, scope: Scope, receive: Any, send: Any, target: str, forwarded: Forwarded
    ) -> None:
        """Check the request's credentials; forward it with the JWT, or refuse it."""
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
        body, start = refusal(
            decision.status,
            decision.reason,
            retry_after=decision.retry_after,
            location=decision.location,
        )
        await send(start)
        await send({"type": "http.response.body", "body": body})

    async def _reserved(self, path: str, scope: Scope, send: Any, forwarded: Forwarded) -> None:
        if path == FORWARD_AUTH_PATH:
            await self._authorize(scope, send, forwarded)
        elif path == CERTS_PATH:
            await _reply(send, 200, orjson.dumps(self.keys.certs_document()))
        elif path == METRICS_PATH:
            await _reply(send, 200, self.metrics.render(), b"text/plain; version=0.0.4")
        elif path == READY_PATH:
            ready = self._current() if self.health is None else await self.health.ready()
            body = b'{"status":"ok"}' if ready else b'{"status":"database unavailable"}'
            await _reply(send, 200 if ready else 503, body)
        elif path == HEALTH_PATH:
            current = self._current()
            body = b'{"status":"ok"}' if current else b'{"status":"stale"}'
            await _reply(send, 200 if current else 503, body)
        else:
            await _reply(send, 404, b'{"error":"not_found"}')

    def _current(self) -> bool:
        """Whether the gate may answer healthy: its change feed (and the Access
        configuration) is being read."""
        access = self.access
        return self.verification.is_current() and (access is None or access.follower.is_current())

    async def _authorize(self, scope: Scope, send: Any, forwarded: Forwarded) -> None:
        access = self.access
        if access is None:
            decision = await self.verifier.decide(scope["headers"], origin=forwarded.client)
        elif forwarded.uri is None:
            decision = _NO_FORWARDED_URI
        else:
            decision = await access.decide(
                scope["headers"],
                host=forwarded.host,
                target=forwarded.uri,
                client=forwarded.client,
                method=forwarded.method or scope["method"],
            )
        if decision.status in (302, 429):
            # nginx auth_request understands only 2xx, 401 and 403 (anything else is a 500);
            # a login redirect keeps its Location.
            decision = Decision(
                401, decision.reason, retry_after=decision.retry_after, location=decision.location
            )
        if decision.status != 200:
            await self._refuse(send, decision)
            return
        headers = [] if decision.jwt is None else [(ASSERTION_HEADER, decision.jwt.encode())]
        headers.append((b"content-length", b"0"))  # a Bypass admission carries no JWT
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
