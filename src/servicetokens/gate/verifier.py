"""Credentials → decision: 200 with a JWT, 401, 403, 429 or 503.

Strict semantics: 401 when the credentials do not authenticate, 403 when they do but the
policy does not admit the token. An unknown client id, a token of another account and a
wrong secret are the same 401 and cost the same digest work (against a decoy when there is
no token).

Order: look the client id up (a shape never issued needs no lookup), check the secret, and
only then consult the failure limiter: a correct secret is always admitted, so nobody can
lock a holder out; a failure against a cached record is read again once (while the budget
lasts), so a secret minted a moment ago works at once.

The hot path (a cached token, the right secret) reads one wall clock and one monotonic
clock, hashes the secret once, compares floats, and returns a `Decision` built once per
issued JWT: no await, no lock but last-seen's, no allocation but the credentials'.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Callable
from datetime import UTC, datetime

from servicetokens.domain.audit import AuditEntry
from servicetokens.domain.clock import Clock, system_clock
from servicetokens.domain.permissions import Container, ContainerKind
from servicetokens.domain.secrets import CLIENT_ID_PATTERN, digest, new_client_secret
from servicetokens.domain.tokens import ServiceToken, Verdict
from servicetokens.gate.cache import ABSENT, CachedToken, TokenCache, cached_token
from servicetokens.gate.credentials import (
    ClientCredentials,
    JwtCredential,
    Malformed,
    Missing,
    presents_cookie,
    read_credentials,
)
from servicetokens.gate.decision import Decision
from servicetokens.gate.jwt import JwtIssuer, ReusedJwt
from servicetokens.gate.last_seen import LastSeenWriter
from servicetokens.gate.metrics import GateMetrics
from servicetokens.gate.policy import Policy
from servicetokens.gate.rate_limit import FailureLimiter, address_key

__all__ = ["Decision", "Verifier", "check_secret"]

_MISSING = Decision(401, "no credentials")
_INVALID = Decision(401, "invalid credentials")
_INVALID_JWT = Decision(401, "invalid or expired token")
_FORBIDDEN = Decision(403, "not allowed by policy")
_UNAVAILABLE = Decision(503, "credential store unavailable", retry_after=1.0)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_RELOAD_EVERY = 1.0
"""Seconds between re-reads of one token once a failure budget is spent."""
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
_DECOY_ENTRY = cached_token(_DECOY, 0.0, fingerprint=lambda _: "")  # never issued a JWT
_NO_PREVIOUS = digest("servicetokens-gate-no-previous-secret")
_VERDICT_DECISIONS = {
    Verdict.WRONG_SECRET: _INVALID,
    Verdict.EXPIRED: Decision(401, "token expired"),
    Verdict.DISABLED: Decision(401, "token disabled"),
}


def check_secret(entry: CachedToken, secret: str, *, now: float) -> Verdict:
    """`domain.tokens.verify_secret` on a cache entry at epoch seconds `now`: the same
    verdicts (tests hold them equal), with the secret hashed once and floats compared.

    Both digests are always compared, so timing does not tell which one matched."""
    token = entry.token
    assert token is not None
    presented = digest(secret)
    current = hmac.compare_digest(presented, token.secret_digest)
    stored_previous = token.previous_secret_digest
    previous = hmac.compare_digest(
        presented, _NO_PREVIOUS if stored_previous is None else stored_previous
    )
    if not current and not (
        previous and stored_previous is not None and now < entry.previous_until
    ):
        return Verdict.WRONG_SECRET
    if not token.enabled:
        return Verdict.DISABLED
    if now >= entry.expires_at:
        return Verdict.EXPIRED
    return Verdict.VALID if current else Verdict.VALID_PREVIOUS


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
        cookie: bool = True,
        clock: Clock = system_clock,
    ) -> None:
        self._cache = cache
        self._policy = policy
        self._issuer = issuer
        self._last_seen = last_seen
        self._limiter = limiter
        self._metrics = metrics
        self._decisions = metrics.decisions
        self._token_header = token_header.lower().encode("latin-1") if token_header else None
        self._cookie = cookie
        self._now: Callable[[], float] = (
            time.time if clock is system_clock else lambda: clock().timestamp()
        )

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
                decision = await self._by_jwt(presented, origin)
            else:
                decision = self._unreadable(presented)
        except Exception:  # the store is down: fail closed, say so
            decision = _UNAVAILABLE
        self._decisions[decision.status] += 1
        return decision

    def _unreadable(self, presented: Malformed | Missing) -> Decision:
        reason = "missing" if presented is Missing.NONE else presented.name.lower()
        self._metrics.failures.labels(reason, "none").inc()
        return _MISSING if presented is Missing.NONE else Decision(401, presented.value)

    def _owned(self, entry: CachedToken) -> ServiceToken | None:
        token = entry.token
        return token if token is not None and self._policy.owns(token) else None

    async def _lookup(self, client_id: str) -> tuple[CachedToken, bool]:
        """The cache entry for `client_id` and whether it was read from the database just now.

        A client id that does not have the shape the system issues names no token: it is
        answered without a database read (and without a cache entry)."""
        if CLIENT_ID_PATTERN.match(client_id) is None:
            return ABSENT, True
        entry = self._cache.cached(client_id)
        if entry is not None:
            return entry, False
        return await self._cache.get(client_id), True

    async def _by_secret(self, presented: ClientCredentials, origin: str | None) -> Decision:
        client_id = presented.client_id
        entry, fresh = await self._lookup(client_id)
        now = self._now()
        verdict = self._check(entry, presented.secret, now)
        if not verdict.admitted and not fresh and self._may_reload(entry, client_id, origin):
            # The cached record may predate a commit the change feed has not delivered yet
            # (a rotation, refresh or re-enable a moment ago): read once more before refusing.
            entry = await self._cache.reload(client_id, entry)
            now = self._now()
            verdict = self._check(entry, presented.secret, now)
        token = self._owned(entry)
        if token is None:
            return self._failed(None, origin, "invalid", known=False)
        if not verdict.admitted:
            decision = self._failed(client_id, origin, verdict.value, known=True)
            if decision is _INVALID or verdict is not Verdict.WRONG_SECRET:
                # Throttled failures are counted, not audited: a stranger who knows a client
                # id can add at most the failure budget's worth of rows per address.
                self._audit_failure(token, verdict.value, now, origin)
            return decision if verdict is Verdict.WRONG_SECRET else _VERDICT_DECISIONS[verdict]
        if not self._policy.admits(token):
            self._metrics.failures.labels("policy", "known").inc()
            self._audit_failure(token, "policy", now, origin)
            return _FORBIDDEN
        fingerprint = entry.fingerprint
        if verdict is Verdict.VALID_PREVIOUS and entry.previous_fingerprint is not None:
            fingerprint = entry.previous_fingerprint
        issued = self._issuer.issue(token, fingerprint=fingerprint, now=now)
        self._last_seen.record(token.id, now)
        # Offer the cookie only to a client that does not already hold this very JWT.
        if not self._cookie or (
            presented.cookies and presents_cookie(presented.cookies, issued.encoded)
        ):
            return issued.admit
        return issued.admit_offering_cookie

    def _check(self, entry: CachedToken, secret: str, now: float) -> Verdict:
        """The verdict on `secret`; an unknown id (or another account's) costs the same
        digest work against a decoy and is a wrong secret."""
        if self._owned(entry) is None:
            check_secret(_DECOY_ENTRY, secret, now=now)
            return Verdict.WRONG_SECRET
        return check_secret(entry, secret, now=now)

    def _may_reload(self, entry: CachedToken, client_id: str, origin: str | None) -> bool:
        """Whether a failed check against `entry` may read the token again: while the
        failure budget lasts; once it is spent, a known token's record at most once a
        second (so nobody can keep a fresh secret out, nor buy unbounded reads)."""
        if self._limiter.retry_after(self._limit_key(entry, client_id, origin)) == 0.0:
            return True
        return entry.token is not None and time.monotonic() - entry.loaded_at >= _RELOAD_EVERY

    def _limit_key(
        self, entry: CachedToken, client_id: str | None, origin: str | None
    ) -> tuple[str | None, str | None]:
        if client_id is None or self._owned(entry) is None:
            return (None, address_key(origin))
        return (client_id, address_key(origin))

    def _audit_failure(
        self, token: ServiceToken, reason: str, now: float, origin: str | None
    ) -> None:
        # Written behind with last_seen_at (never a secret): the audit log's durable record of
        # failed attempts for a recognised client id.
        self._last_seen.record_failure(
            AuditEntry(
                at=datetime.fromtimestamp(now, UTC),
                actor_kind="gate",
                actor_id=token.client_id,
                action="gate.auth_failed",
                account_id=token.container.account_id,
                target=token.id,
                origin=origin,
                detail={"client_id": token.client_id, "reason": reason},
            )
        )

    def _failed(
        self, client_id: str | None, origin: str | None, reason: str, *, known: bool
    ) -> Decision:
        """Count a failure against its budget: 401, or 429 once the budget is spent."""
        self._metrics.failures.labels(reason, "known" if known else "unknown").inc()
        key = (client_id if known else None, address_key(origin))
        wait = self._limiter.record_failure(key)
        if wait > 0:
            return Decision(429, "too many failed attempts", retry_after=wait)
        return _INVALID

    async def _by_jwt(self, presented: JwtCredential, origin: str | None) -> Decision:
        now = self._now()
        claims = self._issuer.verify(presented.token, now=now)
        if claims is None:
            self._metrics.failures.labels("invalid_jwt", "none").inc()
            return _INVALID_JWT
        entry, fresh = await self._lookup(claims.client_id)
        if (
            not fresh
            and not self._jwt_matches(entry, claims, now)
            and self._may_reload(entry, claims.client_id, origin)
        ):
            # A JWT another replica issued after a rotation this cache has not seen yet.
            entry = await self._cache.reload(claims.client_id, entry)
        token = self._owned(entry)
        if token is None or not self._jwt_matches(entry, claims, now):
            self._metrics.failures.labels("revoked_jwt", "known").inc()
            self._limiter.record_failure(self._limit_key(entry, claims.client_id, origin))
            return _INVALID_JWT
        if not token.enabled:
            return _VERDICT_DECISIONS[Verdict.DISABLED]
        if now >= entry.expires_at:
            return _VERDICT_DECISIONS[Verdict.EXPIRED]
        if not self._policy.admits(token):
            self._metrics.failures.labels("policy", "known").inc()
            return _FORBIDDEN
        self._last_seen.record(token.id, now)
        return claims.admit

    def _jwt_matches(self, entry: CachedToken, claims: ReusedJwt, now: float) -> bool:
        token = self._owned(entry)
        return (
            token is not None
            and token.id == claims.token_id
            and self._secret_still_valid(entry, claims.fingerprint, now)
        )

    @staticmethod
    def _secret_still_valid(entry: CachedToken, fingerprint: str, now: float) -> bool:
        """A reused JWT dies with the secret that earned it (rotation without grace)."""
        if fingerprint == entry.fingerprint:
            return True
        return fingerprint == entry.previous_fingerprint and now < entry.previous_until
