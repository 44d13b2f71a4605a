"""The gate as an ASGI application: reserved `/cdn-cgi/` endpoints, then check and proxy.

Reserved paths (never proxied):
- `GET /cdn-cgi/access/certs`: the signing keys, in Cloudflare's shape.
- `/cdn-cgi/access/authorize` (any method): forward-auth; 200 with the JWT, or 401/403.
- `GET /cdn-cgi/servicetokens/metrics`: Prometheus metrics.
- `GET /cdn-cgi/servicetokens/health`: 200 while the change feed is current, else 503.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any
from urllib.parse import quote, unquote

import orjson

from servicetokens.config import Settings
from servicetokens.domain.clock import Clock, system_clock
from servicetokens.domain.network import TrustedProxies
from servicetokens.gate.cache import TokenCache
from servicetokens.gate.changes import ChangeFeed
from servicetokens.gate.credentials import credential_header_names
from servicetokens.gate.forwarding import Forwarded, Upstream, read_forwarded, resolve_path
from servicetokens.gate.jwt import JwtIssuer
from servicetokens.gate.keys import KeyRing, KeySchedule
from servicetokens.gate.last_seen import LastSeenWriter
from servicetokens.gate.metrics import GateMetrics
from servicetokens.gate.policy import Policy
from servicetokens.gate.proxy import ASSERTION_HEADER, UpstreamProxy, refusal
from servicetokens.gate.rate_limit import FailureLimiter
from servicetokens.gate.settings import FORWARD_AUTH_PATH, GateSettings
from servicetokens.gate.verifier import Decision, Verifier
from servicetokens.signing.kek import KeyEncryptionKey
from servicetokens.signing.kek_source import load_kek
from servicetokens.store.database import Database
from servicetokens.store.engine import make_engine
from servicetokens.store.migrate import upgrade
from servicetokens.usecases.audit_retention import AuditPruner

__all__ = ["CERTS_PATH", "HEALTH_PATH", "METRICS_PATH", "GateApp", "build_gate"]

log = logging.getLogger("servicetokens.gate")

CERTS_PATH = "/cdn-cgi/access/certs"
METRICS_PATH = "/cdn-cgi/servicetokens/metrics"
HEALTH_PATH = "/cdn-cgi/servicetokens/health"
_KEY_SYNC_EVERY = 60.0
_RESERVED = "/cdn-cgi/"
_BAD_TARGET = Decision(400, "bad request target")

Scope = dict[str, Any]


def build_gate(
    settings: GateSettings, database: Settings, *, kek: KeyEncryptionKey | None = None
) -> GateApp:
    """A gate on the configured database, migrated to the newest schema first, signing
    under `kek` (default: found as `signing.kek_source.load_kek` says)."""
    engine = make_engine(database.database_url, pool_size=database.pool_size)
    upgrade(engine)
    return GateApp(settings, Database(engine), kek=kek)


class GateApp:
    """One gate: verifier, keys, change feed, last_seen writer and proxy, as ASGI."""

    def __init__(
        self,
        settings: GateSettings,
        database: Database,
        *,
        kek: KeyEncryptionKey | None = None,
        clock: Clock = system_clock,
    ) -> None:
        self.settings = settings
        self.database = database
        self.metrics = GateMetrics()
        if kek is None:
            found = load_kek(database.engine.url)
            if found.generated is not None:
                log.warning("generated a key-encryption key in %s: keep it", found.generated)
            kek = found.kek
        self.keys = KeyRing(
            database,
            schedule=KeySchedule(settings.key_rotation, settings.key_overlap, settings.key_lead),
            kek=kek,
            clock=clock,
        )
        self.issuer = JwtIssuer(
            self.keys, audience=settings.aud, issuer=settings.iss, ttl=settings.jwt_ttl
        )
        self.feed = ChangeFeed(
            database, evict=self._evict, clear=self._clear, interval=settings.poll_interval
        )
        self.cache = TokenCache(
            database,
            is_current=self.feed.is_current,
            max_size=settings.cache_size,
            max_age=settings.cache_max_age,
            fingerprint=kek.fingerprint,
        )
        self.last_seen = LastSeenWriter(database, interval=settings.last_seen_interval)
        self.audit_pruner = AuditPruner(
            database,
            retention_days=settings.audit_retention_days,
            clock=clock,
            interval=settings.audit_prune_interval,
            first_after=min(60.0, settings.audit_prune_interval),
        )
        self.verifier = Verifier(
            cache=self.cache,
            policy=Policy(settings.account_id, settings.policy),
            issuer=self.issuer,
            last_seen=self.last_seen,
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
        self._key_task: asyncio.Task[None] | None = None
        for name, doc, read in (
            ("servicetokens_gate_cache_entries", "Client ids cached.", lambda: len(self.cache)),
            ("servicetokens_gate_cache_hits", "Cache hits.", lambda: self.cache.hits),
            ("servicetokens_gate_cache_misses", "Cache misses.", lambda: self.cache.misses),
            ("servicetokens_gate_evictions", "Change-feed evictions.", lambda: self.feed.evictions),
            ("servicetokens_gate_jwt_signed", "JWTs signed.", lambda: self.issuer.signed),
            ("servicetokens_gate_upstream_errors", "502/504 answers.", lambda: self.proxy.errors),
            (
                "servicetokens_gate_last_seen_written",
                "Uses written.",
                lambda: self.last_seen.written,
            ),
            (
                "servicetokens_gate_write_behind_dropped",
                "Uses and audit entries the database refused, dropped (logged).",
                lambda: self.last_seen.dropped,
            ),
        ):
            self.metrics.gauge(name, doc, read)

    def _evict(self, client_id: str) -> None:
        self.verifier.evict(client_id)

    def _clear(self) -> None:
        self.cache.clear()

    # -- lifecycle ----------------------------------------------------------------------

    async def startup(self) -> None:
        """Load (or make) signing keys, read the change feed, start the background work."""
        if self.settings.check:
            await asyncio.to_thread(self.keys.sync)
            await asyncio.to_thread(self.feed.start)
            self.last_seen.start()
            self.audit_pruner.start()
            self._key_task = asyncio.create_task(self._sync_keys())
        await self.proxy.start()

    async def shutdown(self) -> None:
        """Stop background work and flush last_seen_at."""
        if self._key_task is not None:
            self._key_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._key_task
        await self.proxy.aclose()
        if self.settings.check:
            await asyncio.to_thread(self.feed.stop)
            await asyncio.to_thread(self.last_seen.stop)
            await asyncio.to_thread(self.audit_pruner.stop)
        self.database.engine.dispose()

    async def _sync_keys(self) -> None:
        while True:
            await asyncio.sleep(_KEY_SYNC_EVERY)
            try:
                await asyncio.to_thread(self.keys.sync)
            except Exception as exc:
                log.warning("signing key sync failed: %s", exc)

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
            current = not self.settings.check or self.feed.is_current()
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
