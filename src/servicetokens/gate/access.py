"""Deciding requests for Access applications: the gate's application mode (`--account` with
`--route`, no `--upstream`).

Per request, in this order:

1. The configuration in force (`usecases/access_follower.py`); none, or not read for 2 s:
   503 (fail closed, never enforce what may have changed).
2. The application, by the request's host and path through the index (`AppIndex.lookup`:
   dictionary reads, not a scan). The host is the one the forwarding code validated (the
   `Host` header, or a trusted proxy's `X-Forwarded-Host`); none matches: 403.
3. A public path of the destination, or a CORS preflight the application lets through:
   decided without reading credentials.
4. The credentials, with the application's `read_service_tokens_from_header` as the single
   header: a client id and secret are authenticated exactly as in the single-upstream form
   (`Verifier.authenticate`: secret, expiry, disabled, the failure limiter, the audit of
   failures); an application JWT counts only where the engine lets it (an application with
   an Allow policy), checked against its audience, issuer, `revoke_tokens` and its token.
5. `domain.enforcement.decide`, and its `Verdict` turned into the answer: the JWT signed
   with the engine's claims (`gate/app_jwt.py`), the cookie where the verdict offers it,
   401/403 (strict mode keeps the credential failure's precise reason), or a 302.

A token admitted again (standard pair, cached record, remembered verdict for this
application and address, reusable JWT) is answered by `_again` without an await, after the
same checks on what is in memory (1, 2, the secret and expiry, the JWT's key and secret).
A spent failure budget is 429 and a store that cannot be read 503 in either mode.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import replace

from servicetokens.domain.clock import Clock, system_clock
from servicetokens.domain.enforcement import (
    Match,
    OrgView,
    Outcome,
    RequestFacts,
    Verdict,
    decide,
    issuer,
)
from servicetokens.gate.access_memo import Memo, Ticket, token_facts
from servicetokens.gate.app_jwt import AppJwts, AppSession, IssuedAppJwt
from servicetokens.gate.credentials import (
    ClientCredentials,
    JwtCredential,
    Malformed,
    Presented,
    presents_cookie,
    read_credentials,
)
from servicetokens.gate.decision import Decision
from servicetokens.gate.metrics import GateMetrics
from servicetokens.gate.verifier import Authenticated, Verifier
from servicetokens.usecases.access_follower import AccessFollower
from servicetokens.usecases.access_state import AccessState
from servicetokens.usecases.verification import Verification

__all__ = ["AccessDecider"]

_STALE = Decision(503, "access configuration unavailable", retry_after=1.0)
_UNAVAILABLE = Decision(503, "credential store unavailable", retry_after=1.0)
_NO_ORGANIZATION = Decision(403, "no organization")
_BYPASS = Decision(200, "bypass")
_ACAO = b"access-control-request-method"

Headers = list[tuple[bytes, bytes]]


class AccessDecider:
    """Decides requests against one account's Access applications."""

    def __init__(
        self,
        *,
        follower: AccessFollower,
        verifier: Verifier,
        verification: Verification,
        jwts: AppJwts,
        metrics: GateMetrics,
        strip: frozenset[bytes],
        cookie: bool = True,
        clock: Clock = system_clock,
    ) -> None:
        self.follower = follower
        self.jwts = jwts
        self._verifier = verifier
        self._verification = verification
        self._metrics = metrics
        self._decisions = metrics.decisions
        self._cookie = cookie
        self._base_strip = strip
        self._strip: tuple[AccessState | None, frozenset[bytes]] = (None, strip)
        self._refusals: dict[tuple[int, str], Decision] = {}
        self._memo = Memo(None)
        self._now: Callable[[], float] = (
            time.time if clock is system_clock else lambda: clock().timestamp()
        )
        verification.subscribe(jwts.forget)  # a changed token's JWTs are not reused

    def register_gauges(self, metrics: GateMetrics) -> None:
        """The configuration's version, its applications and the reloads, read at scrape
        time."""
        follower = self.follower

        def version() -> float:
            return 0 if follower.state is None else follower.state.version

        def applications() -> float:
            return 0 if follower.state is None else follower.state.app_count

        for name, doc, read in (
            ("servicetokens_gate_access_version", "Control-plane version in force.", version),
            ("servicetokens_gate_access_applications", "Applications served.", applications),
            (
                "servicetokens_gate_access_reloads",
                "Configurations compiled.",
                lambda: follower.reloads,
            ),
        ):
            metrics.gauge(name, doc, read)

    def strip(self) -> frozenset[bytes]:
        """The credential headers never forwarded: the standard ones and every
        application's single header (of the configuration in force)."""
        state = self.follower.state
        cached_for, names = self._strip
        if cached_for is not state and state is not None:
            extra = {name.encode("latin-1") for name in state.token_headers}
            names = self._base_strip | extra
            self._strip = (state, names)
        return names

    async def decide(
        self,
        headers: Headers,
        *,
        host: str | None,
        target: str | None,
        client: str | None,
        method: str,
    ) -> Decision:
        """The decision for a request for `host` and `target` (path and query; None: not
        known, refused), with these (ASGI) headers, from `client`, by `method`."""
        follower = self.follower
        state = follower.state
        if state is None or not follower.is_current():
            decision = _STALE
        else:
            try:
                again = self._again(state, headers, host, target, client, method)
                decision = (
                    again
                    if again is not None
                    else await self._decide(state, headers, host, target, client, method)
                )
            except Exception:  # the store is down: fail closed, say so
                decision = _UNAVAILABLE
        self._decisions[decision.status] = self._decisions.get(decision.status, 0) + 1
        return decision

    def _again(
        self,
        state: AccessState,
        headers: Headers,
        host: str | None,
        target: str | None,
        client: str | None,
        method: str,
    ) -> Decision | None:
        """A token admitted again: the standard pair, a cached record that authenticates
        it (`Verifier.authenticate_cached`), an admission remembered for this application
        and address, and its JWT reusable. None for anything else: `_decide` answers."""
        memo = self._memo
        if memo.state is not state or host is None or target is None or method == "OPTIONS":
            return None
        spot = memo.spot(host, target)
        if spot is None or not spot.plain:
            return None
        presented = read_credentials(headers)
        if type(presented) is not ClientCredentials:
            return None
        authenticated = self._verifier.authenticate_cached(presented)
        if authenticated is None:
            return None
        token, now = authenticated.token, authenticated.now
        ticket = memo.known_ticket(spot, token, client)
        if ticket is None or ticket.verdict.outcome is not Outcome.ADMIT:
            return None
        issued = ticket.issued
        if issued is None or not self.jwts.reusable(issued, authenticated.fingerprint, now):
            return None
        self._verification.record_use(token.id, now)
        return self._admission(issued, ticket.verdict, presented)

    def _admission(
        self, issued: IssuedAppJwt, verdict: Verdict, presented: Presented | None
    ) -> Decision:
        """Admitting with `issued`, offering it as the cookie where the verdict says so,
        unless the client already holds it."""
        if (
            not verdict.set_cookie
            or not self._cookie
            or (
                isinstance(presented, ClientCredentials)
                and presented.cookies
                and presents_cookie(presented.cookies, issued.encoded)
            )
        ):
            return issued.admit
        return issued.admit_offering_cookie

    def _refused(self, status: int, reason: str) -> Decision:
        decision = self._refusals.get((status, reason))
        if decision is None:
            decision = self._refusals[(status, reason)] = Decision(status, reason)
        return decision

    async def _decide(
        self,
        state: AccessState,
        headers: Headers,
        host: str | None,
        target: str | None,
        client: str | None,
        method: str,
    ) -> Decision:
        memo = self._memo
        if memo.state is not state:
            memo = self._memo = Memo(state)
        spot = None if host is None or target is None else memo.spot(host, target)
        if spot is None or host is None or target is None:
            self._metrics.failures.labels("unmatched", "none").inc()
            return self._refused(403, "no application for this host and path")
        match, org = spot.match, spot.org
        if org is None:
            return _NO_ORGANIZATION
        preflight = method == "OPTIONS" and any(name == _ACAO for name, _ in headers)
        if match.public or (preflight and spot.app.options_preflight_bypass):
            facts = RequestFacts(host, target, client, preflight=preflight)
            return self._answer(decide(match, org, facts), state, match, org, client)
        presented: Presented = read_credentials(headers, token_header=spot.token_header)
        strict = org.strict_service_token_auth
        if presented is Malformed.BOTH_FORMS and not strict:
            presented = read_credentials(headers)  # non-strict: the standard pair (§5.5)
        if isinstance(presented, ClientCredentials):
            result = await self._verifier.authenticate(presented, client)
            if not isinstance(result, Decision):
                if preflight:
                    facts = RequestFacts(host, target, client, token_facts(result.token))
                    ticket = Ticket(decide(match, org, replace(facts, preflight=True)))
                else:
                    ticket = memo.ticket(spot, org, result.token, host, target, client)
                verdict = ticket.verdict
                return self._answer(
                    verdict, state, match, org, client, result, None, presented, ticket
                )
            if result.status == 429:
                return result
            failure: Decision | None = result
            session = None
        else:
            failure, session = None, None
            if isinstance(presented, JwtCredential):
                if match.compiled.has_allow:  # the only applications a JWT can be reused on
                    session = await self._session(presented.token, state, match, org, client)
            elif isinstance(presented, Malformed):
                self._metrics.failures.labels(presented.name.lower(), "none").inc()
                failure = self._refused(401, presented.value)
        facts = RequestFacts(
            host, target, client, None, failure is not None, session is not None, preflight
        )
        verdict = decide(match, org, facts)
        if verdict.outcome is Outcome.UNAUTHORIZED and failure is not None and strict:
            return failure  # the credentials' own reason: "invalid credentials", ...
        return self._answer(verdict, state, match, org, client, None, session)

    def _answer(
        self,
        verdict: Verdict,
        state: AccessState,
        match: Match,
        org: OrgView,
        client: str | None,
        authenticated: Authenticated | None = None,
        session: AppSession | None = None,
        presented: Presented | None = None,
        ticket: Ticket | None = None,
    ) -> Decision:
        """The answer a verdict gives: sign (or reuse) the JWT for an admission, record
        the token's use or its refusal."""
        outcome = verdict.outcome
        if outcome is Outcome.ADMIT:
            app = match.app
            now = self._now() if authenticated is None else authenticated.now
            fingerprint = "" if authenticated is None else authenticated.fingerprint
            issued = None if ticket is None else ticket.issued
            if issued is None or not self.jwts.reusable(issued, fingerprint, now):
                issued = self.jwts.issue(
                    app=app,
                    org=org,
                    policy=verdict.policy,
                    token=None if authenticated is None else self._memo.facts(authenticated.token),
                    fingerprint=fingerprint,
                    lifetime=state.lifetime(verdict.policy, app, org),
                    revoked_at=state.revoked_at.get(app.id, -math.inf),
                    now=now,
                )
                if ticket is not None:
                    ticket.issued = issued
            if authenticated is not None:
                self._verification.record_use(authenticated.token.id, now)
            return self._admission(issued, verdict, presented)
        if outcome is Outcome.BYPASS:
            return _BYPASS
        if outcome is Outcome.SESSION:
            assert session is not None
            self._verification.record_use(session.token_id, self._now())
            return session.admit
        if outcome is Outcome.REDIRECT:
            return Decision(302, verdict.reason, location=verdict.location)
        if authenticated is not None and outcome is Outcome.FORBIDDEN:
            self._metrics.failures.labels("policy", "known").inc()
            token, now = authenticated.token, authenticated.now
            self._verification.record_failure(token, "policy", now, client)
        return self._refused(verdict.status, verdict.reason)

    async def _session(
        self, encoded: str, state: AccessState, match: Match, org: OrgView, client: str | None
    ) -> AppSession | None:
        """The session a presented JWT stands for on this application, if it does: signed
        by this gate for the application's `aud` and the organization's issuer, issued
        after the application's last `revoke_tokens`, its token still standing."""
        app = match.app
        now = self._now()
        session = self.jwts.verify(encoded, audience=app.aud, iss=issuer(org), now=now)
        if session is None or session.issued_at <= state.revoked_at.get(app.id, -math.inf):
            return None
        token = await self._verifier.standing_token(
            session.client_id, session.token_id, session.fingerprint, client, now
        )
        return None if isinstance(token, Decision) else session
