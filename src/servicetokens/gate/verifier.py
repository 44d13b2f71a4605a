"""Credentials → decision: 200 with a JWT, 401, 403, 429 or 503.

Strict semantics: 401 when the credentials do not authenticate, 403 when they do but the
policy does not admit the token. An unknown client id, a token of another account and a
wrong secret are the same 401 and cost the same work (one cache lookup or one indexed
query, and one digest comparison).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime

from servicetokens.domain.audit import AuditEntry
from servicetokens.domain.clock import Clock, system_clock
from servicetokens.domain.permissions import Container, ContainerKind
from servicetokens.domain.secrets import digest, new_client_secret
from servicetokens.domain.tokens import ServiceToken, Verdict, verify_secret
from servicetokens.gate.cache import CachedToken, TokenCache
from servicetokens.gate.credentials import (
    ClientCredentials,
    JwtCredential,
    Malformed,
    Missing,
    read_credentials,
)
from servicetokens.gate.jwt import JwtIssuer
from servicetokens.gate.last_seen import LastSeenWriter
from servicetokens.gate.metrics import GateMetrics
from servicetokens.gate.policy import Policy
from servicetokens.gate.rate_limit import FailureLimiter

__all__ = ["Decision", "Verifier"]


@dataclass(frozen=True, slots=True)
class Decision:
    """What to do with a request."""

    status: int
    """200 admit, 401, 403, 429 or 503."""
    reason: str
    """Why, in words safe to show the caller."""
    jwt: str | None = None
    """The assertion for the upstream (on 200)."""
    issued: bool = False
    """Whether the JWT was earned with a client secret now (so it is offered as a cookie)."""
    retry_after: float = 0.0


_MISSING = Decision(401, "no credentials")
_INVALID = Decision(401, "invalid credentials")
_INVALID_JWT = Decision(401, "invalid or expired token")
_FORBIDDEN = Decision(403, "not allowed by policy")
_UNAVAILABLE = Decision(503, "credential store unavailable", retry_after=1.0)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_DECOY = ServiceToken(
    id="",
    container=Container(ContainerKind.ACCOUNT, "", ""),
    name="",
    client_id="",
    secret_digest=digest(new_client_secret()),
    client_secret_version=1,
    previous_secret_digest=digest(new_client_secret()),
    previous_client_secret_expires_at=None,
    duration="forever",
    expires_at=_EPOCH,
    enabled=False,
    created_at=_EPOCH,
    updated_at=_EPOCH,
    last_seen_at=None,
)
"""Checked instead of a token that does not exist, so unknown ids cost the same work."""
_VERDICT_DECISIONS = {
    Verdict.WRONG_SECRET: _INVALID,
    Verdict.EXPIRED: Decision(401, "token expired"),
    Verdict.DISABLED: Decision(401, "token disabled"),
}


class Verifier:
    """Decides requests for one gate from cached token records."""

    def __init__(
        self,
        *,
        cache: TokenCache,
        policy: Policy,
        issuer: JwtIssuer,
        last_seen: LastSeenWriter,
        limiter: FailureLimiter,
        metrics: GateMetrics,
        token_header: str | None,
        clock: Clock = system_clock,
    ) -> None:
        self._cache = cache
        self._policy = policy
        self._issuer = issuer
        self._last_seen = last_seen
        self._limiter = limiter
        self._metrics = metrics
        self._token_header = token_header.lower().encode("latin-1") if token_header else None
        self._clock = clock

    def evict(self, client_id: str) -> None:
        """The token behind `client_id` changed: forget its record and its JWT."""
        self._cache.evict(client_id)
        self._issuer.forget(client_id)

    async def decide(
        self, headers: list[tuple[bytes, bytes]], *, origin: str | None = None
    ) -> Decision:
        """The decision for a request with these (ASGI, lowercase) headers, from `origin`."""
        presented = read_credentials(headers, token_header=self._token_header)
        try:
            if isinstance(presented, ClientCredentials):
                decision = await self._by_secret(presented, origin)
            elif isinstance(presented, JwtCredential):
                decision = await self._by_jwt(presented)
            else:
                decision = self._unreadable(presented)
        except Exception:  # the store is down: fail closed, say so
            decision = _UNAVAILABLE
        self._count(decision)
        return decision

    def _unreadable(self, presented: Malformed | Missing) -> Decision:
        reason = "missing" if presented is Missing.NONE else presented.name.lower()
        self._metrics.failures.labels(reason, "none").inc()
        return _MISSING if presented is Missing.NONE else Decision(401, presented.value)

    def _count(self, decision: Decision) -> None:
        metrics = self._metrics
        match decision.status:
            case 200:
                metrics.allowed.inc()
            case 401:
                metrics.unauthorized.inc()
            case 403:
                metrics.forbidden.inc()
            case 429:
                metrics.rate_limited.inc()
            case _:
                metrics.unavailable.inc()

    def _owned(self, entry: CachedToken) -> ServiceToken | None:
        token = entry.token
        return token if token is not None and self._policy.owns(token) else None

    async def _by_secret(self, presented: ClientCredentials, origin: str | None) -> Decision:
        client_id = presented.client_id
        moment = time.monotonic()
        wait = self._limiter.retry_after(client_id, moment)
        if wait > 0:
            return Decision(429, "too many failed attempts", retry_after=wait)
        entry = await self._cache.get(client_id)
        token = self._owned(entry)
        now = self._clock()
        if token is None:
            verify_secret(_DECOY, presented.secret, now=now)  # the same work as a known id
            return self._failed(client_id, moment, "invalid", known=False)
        verdict = verify_secret(token, presented.secret, now=now)
        if not verdict.admitted:
            self._failed(client_id, moment, verdict.value, known=True)
            self._audit_failure(token, verdict.value, now, origin)
            return _VERDICT_DECISIONS[verdict]
        if not self._policy.admits(token):
            self._metrics.failures.labels("policy", "known").inc()
            self._audit_failure(token, "policy", now, origin)
            return _FORBIDDEN
        fingerprint = entry.fingerprint
        if verdict is Verdict.VALID_PREVIOUS and entry.previous_fingerprint is not None:
            fingerprint = entry.previous_fingerprint
        return self._admit(token, now, self._issuer.issue(token, fingerprint=fingerprint), True)

    def _audit_failure(
        self, token: ServiceToken, reason: str, now: datetime, origin: str | None
    ) -> None:
        # Written behind with last_seen_at (never a secret): the audit log's durable record of
        # failed attempts for a recognised client id.
        self._last_seen.record_failure(
            AuditEntry(
                at=now,
                actor_kind="gate",
                actor_id=token.client_id,
                action="gate.auth_failed",
                account_id=token.container.account_id,
                target=token.id,
                origin=origin,
                detail={"client_id": token.client_id, "reason": reason},
            )
        )

    def _failed(self, client_id: str, moment: float, reason: str, *, known: bool) -> Decision:
        self._limiter.record_failure(client_id, moment)
        self._metrics.failures.labels(reason, "known" if known else "unknown").inc()
        return _INVALID

    async def _by_jwt(self, presented: JwtCredential) -> Decision:
        claims = self._issuer.verify(presented.token)
        if claims is None:
            self._metrics.failures.labels("invalid_jwt", "none").inc()
            return _INVALID_JWT
        entry = await self._cache.get(claims.client_id)
        token = self._owned(entry)
        now = self._clock()
        if (
            token is None
            or token.id != claims.token_id
            or not self._secret_still_valid(entry, claims.fingerprint, now)
        ):
            self._metrics.failures.labels("revoked_jwt", "known").inc()
            return _INVALID_JWT
        if not token.enabled:
            return _VERDICT_DECISIONS[Verdict.DISABLED]
        if not token.never_expires and now >= token.expires_at:
            return _VERDICT_DECISIONS[Verdict.EXPIRED]
        if not self._policy.admits(token):
            self._metrics.failures.labels("policy", "known").inc()
            return _FORBIDDEN
        return self._admit(token, now, presented.token, False)

    @staticmethod
    def _secret_still_valid(entry: CachedToken, fingerprint: str, now: datetime) -> bool:
        """A reused JWT dies with the secret that earned it (rotation without grace)."""
        if fingerprint == entry.fingerprint:
            return True
        token = entry.token
        return (
            token is not None
            and fingerprint == entry.previous_fingerprint
            and token.previous_client_secret_expires_at is not None
            and now < token.previous_client_secret_expires_at
        )

    def _admit(self, token: ServiceToken, now: datetime, jwt: str, issued: bool) -> Decision:
        self._last_seen.record(token.id, now)
        return Decision(200, "ok", jwt=jwt, issued=issued)
