"""Credentials → decision: 200 with a JWT, 401, 403, 429 or 503.

Strict semantics: 401 when the credentials do not authenticate, 403 when they do but the
policy does not admit the token. An unknown client id, a token of another account and a
wrong secret are the same 401 and cost the same digest work (against a decoy when there is
no token).

Order: look the client id up (a shape never issued needs no lookup), check the secret, and
only then consult the failure limiter: a correct secret is always admitted, so nobody can
lock a holder out; a failure against a cached record is read again once (while the budget
lasts), so a secret minted a moment ago works at once.

Every question about tokens (lookup, secret check, policy, JWT still standing, recording the
use or the failure) is the verification use case's (`usecases/verification.py`); this module
reads the credentials, verifies and reuses JWTs, limits failures per address, counts metrics
and answers in `Decision`s.

The hot path (a cached token, the right secret: `authenticate_cached`) reads one wall clock
and one monotonic clock, hashes the secret once, compares floats, and returns a `Decision`
built once per issued JWT: no await, no lock but last-seen's. Anything else takes
`authenticate` in full (a failure then hashes the secret once more, known id or not).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from servicetokens.domain.clock import Clock, system_clock
from servicetokens.domain.tokens import ServiceToken, Verdict
from servicetokens.gate.credentials import (
    ClientCredentials,
    JwtCredential,
    Malformed,
    Missing,
    presents_cookie,
    read_credentials,
)
from servicetokens.gate.decision import Decision
from servicetokens.gate.jwt import JwtIssuer
from servicetokens.gate.metrics import GateMetrics
from servicetokens.gate.rate_limit import FailureLimiter, address_key
from servicetokens.usecases.token_cache import CachedToken
from servicetokens.usecases.verification import Verification

__all__ = ["Authenticated", "Decision", "Verifier"]

_MISSING = Decision(401, "no credentials")
_INVALID = Decision(401, "invalid credentials")
_INVALID_JWT = Decision(401, "invalid or expired token")
_FORBIDDEN = Decision(403, "not allowed by policy")
_UNAVAILABLE = Decision(503, "credential store unavailable", retry_after=1.0)
_RELOAD_EVERY = 1.0
"""Seconds between re-reads of one token once a failure budget is spent."""
_VERDICT_DECISIONS = {
    Verdict.WRONG_SECRET: _INVALID,
    Verdict.EXPIRED: Decision(401, "token expired"),
    Verdict.DISABLED: Decision(401, "token disabled"),
}


@dataclass(slots=True)
class Authenticated:
    """A token that a client id and secret authenticated (built per request: not frozen,
    as `ClientCredentials` is not; nothing changes it)."""

    token: ServiceToken
    fingerprint: str
    """Names the secret that did it (current or previous): the JWT's `sfp`."""
    now: float
    """Epoch seconds of the check."""


def _fingerprint(entry: CachedToken, verdict: Verdict) -> str:
    """The `sfp` of the secret that authenticated: the previous one's inside its grace."""
    if verdict is Verdict.VALID_PREVIOUS and entry.previous_fingerprint is not None:
        return entry.previous_fingerprint
    return entry.fingerprint


class Verifier:
    """Decides requests for one gate, asking `verification` about tokens."""

    def __init__(
        self,
        *,
        verification: Verification,
        issuer: JwtIssuer,
        limiter: FailureLimiter,
        metrics: GateMetrics,
        token_header: str | None,
        cookie: bool = True,
        clock: Clock = system_clock,
    ) -> None:
        self._verification = verification
        self._issuer = issuer
        self._limiter = limiter
        self._metrics = metrics
        self._decisions = metrics.decisions
        self._token_header = token_header.lower().encode("latin-1") if token_header else None
        self._cookie = cookie
        self._now: Callable[[], float] = (
            time.time if clock is system_clock else lambda: clock().timestamp()
        )
        verification.subscribe(issuer.forget)  # a changed token's JWT is not reused

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

    def authenticate_cached(self, presented: ClientCredentials) -> Authenticated | None:
        """`authenticate` without an await, for the common case: the client id's record is
        in the cache (and trusted now) and the secret authenticates it. None for anything
        else (not cached, or not authenticated), which `authenticate` then answers in full.

        The secret is checked even when the cached record says the client id names no
        token (against the decoy), so a failure costs the same digest work for a known id
        as for an unknown one: one here and one in `authenticate`."""
        verification = self._verification
        entry = verification.cached(presented.client_id)
        if entry is None:
            return None
        now = self._now()
        verdict = verification.check(entry, presented.secret, now)
        token = entry.token
        if token is None or not (verdict is Verdict.VALID or verdict is Verdict.VALID_PREVIOUS):
            return None
        return Authenticated(token, _fingerprint(entry, verdict), now)

    async def authenticate(
        self, presented: ClientCredentials, origin: str | None
    ) -> Authenticated | Decision:
        """Who a client id and secret authenticate (a token of the account, the secret that
        did it), or the refusal: 401 (counted, audited for a known id), 429 once the
        failure budget is spent. Raises the store's errors when it is down."""
        verification = self._verification
        client_id = presented.client_id
        entry, fresh = await verification.lookup(client_id)
        now = self._now()
        verdict = verification.check(entry, presented.secret, now)
        if not verdict.admitted and not fresh and self._may_reload(entry, client_id, origin):
            # The cached record may predate a commit the change feed has not delivered yet
            # (a rotation, refresh or re-enable a moment ago): read once more before refusing.
            entry = await verification.reload(client_id, entry)
            now = self._now()
            verdict = verification.check(entry, presented.secret, now)
        token = verification.owned(entry)
        if token is None:
            return self._failed(None, origin, "invalid", known=False)
        if not verdict.admitted:
            decision = self._failed(client_id, origin, verdict.value, known=True)
            if decision is _INVALID or verdict is not Verdict.WRONG_SECRET:
                # Throttled failures are counted, not audited: a stranger who knows a client
                # id can add at most the failure budget's worth of rows per address.
                verification.record_failure(token, verdict.value, now, origin)
            return decision if verdict is Verdict.WRONG_SECRET else _VERDICT_DECISIONS[verdict]
        return Authenticated(token, _fingerprint(entry, verdict), now)

    async def _by_secret(self, presented: ClientCredentials, origin: str | None) -> Decision:
        authenticated = self.authenticate_cached(presented)
        if authenticated is None:
            found = await self.authenticate(presented, origin)
            if isinstance(found, Decision):
                return found
            authenticated = found
        verification = self._verification
        token, now = authenticated.token, authenticated.now
        if not verification.admits(token):
            self._metrics.failures.labels("policy", "known").inc()
            verification.record_failure(token, "policy", now, origin)
            return _FORBIDDEN
        issued = self._issuer.issue(token, fingerprint=authenticated.fingerprint, now=now)
        verification.record_use(token.id, now)
        # Offer the cookie only to a client that does not already hold this very JWT.
        if not self._cookie or (
            presented.cookies and presents_cookie(presented.cookies, issued.encoded)
        ):
            return issued.admit
        return issued.admit_offering_cookie

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
        if client_id is None or self._verification.owned(entry) is None:
            return (None, address_key(origin))
        return (client_id, address_key(origin))

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

    async def standing_token(
        self, client_id: str, token_id: str, fingerprint: str, origin: str | None, now: float
    ) -> ServiceToken | Decision:
        """The token a verified JWT names, if it still stands (same token, the secret that
        earned the JWT still accepted, enabled, unexpired), else the refusal (401).
        Raises the store's errors when it is down."""
        verification = self._verification
        entry, fresh = await verification.lookup(client_id)
        if (
            not fresh
            and not verification.jwt_matches(entry, token_id, fingerprint, now)
            and self._may_reload(entry, client_id, origin)
        ):
            # A JWT another replica issued after a rotation this cache has not seen yet.
            entry = await verification.reload(client_id, entry)
        token = verification.owned(entry)
        if token is None or not verification.jwt_matches(entry, token_id, fingerprint, now):
            self._metrics.failures.labels("revoked_jwt", "known").inc()
            self._limiter.record_failure(self._limit_key(entry, client_id, origin))
            return _INVALID_JWT
        verdict = verification.standing(entry, now)
        if verdict is not Verdict.VALID:
            return _VERDICT_DECISIONS[verdict]
        return token

    async def _by_jwt(self, presented: JwtCredential, origin: str | None) -> Decision:
        now = self._now()
        claims = self._issuer.verify(presented.token, now=now)
        if claims is None:
            self._metrics.failures.labels("invalid_jwt", "none").inc()
            return _INVALID_JWT
        token = await self.standing_token(
            claims.client_id, claims.token_id, claims.fingerprint, origin, now
        )
        if isinstance(token, Decision):
            return token
        if not self._verification.admits(token):
            self._metrics.failures.labels("policy", "known").inc()
            return _FORBIDDEN
        self._verification.record_use(token.id, now)
        return claims.admit
