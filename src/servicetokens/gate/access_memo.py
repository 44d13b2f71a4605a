"""What a gate serving applications remembers between requests under one configuration: the
application for a host and path, the verdict on an authenticated token from an address, and
each token's facts (all pure functions of the configuration, so kept until it changes;
bounded, cleared when full)."""

from __future__ import annotations

from servicetokens.domain.enforcement import Match, OrgView, Outcome, RequestFacts, Verdict, decide
from servicetokens.domain.enforcement.views import TokenFacts
from servicetokens.domain.permissions import ContainerKind
from servicetokens.domain.tokens import ServiceToken
from servicetokens.gate.app_jwt import IssuedAppJwt
from servicetokens.usecases.access_state import AccessState

__all__ = ["Memo", "Ticket", "token_facts"]

_MEMO_SIZE = 10_000
_MISSING = object()


class Memo:
    """What one configuration answers again and again, remembered (bounded) until the
    configuration changes: the application for a host and path (the index's answer, pure),
    the verdict on an authenticated token from a client address (`decide` with no session,
    rejection or preflight: pure too; redirects, whose location names the path, are not
    kept), and each token's facts."""

    __slots__ = ("_facts", "_matches", "_tickets", "state")

    def __init__(self, state: AccessState | None) -> None:
        self.state = state
        self._matches: dict[tuple[str, str], Match | None] = {}
        self._tickets: dict[tuple[str, str, str | None], Ticket] = {}
        self._facts: dict[str, TokenFacts] = {}

    def lookup(self, host: str, target: str) -> Match | None:
        """`AppIndex.lookup` for the target's path (its query does not matter)."""
        assert self.state is not None
        cut = target.find("?")
        key = (host, target if cut < 0 else target[:cut])
        found = self._matches.get(key, _MISSING)
        if found is _MISSING:
            found = self.state.index.lookup(*key)
            if len(self._matches) >= _MEMO_SIZE:
                self._matches.clear()
            self._matches[key] = found
        return found  # type: ignore[return-value]

    def facts(self, token: ServiceToken) -> TokenFacts:
        """`token_facts(token)` (a token's id, client id and container never change)."""
        facts = self._facts.get(token.id)
        if facts is None:
            if len(self._facts) >= _MEMO_SIZE:
                self._facts.clear()
            facts = self._facts[token.id] = token_facts(token)
        return facts

    def ticket(
        self,
        match: Match,
        org: OrgView,
        token: ServiceToken,
        host: str,
        target: str,
        client: str | None,
    ) -> Ticket:
        """`decide` for an authenticated token (no session, no preflight) from `client`."""
        key = (match.app.id, token.id, client)
        ticket = self._tickets.get(key)
        if ticket is None:
            facts = RequestFacts(host, target, client, self.facts(token))
            ticket = Ticket(decide(match, org, facts))
            if ticket.verdict.outcome is not Outcome.REDIRECT:
                if len(self._tickets) >= _MEMO_SIZE:
                    self._tickets.clear()
                self._tickets[key] = ticket
        return ticket


class Ticket:
    """A verdict on a token for an application, and the JWT last issued on it (its lifetime,
    issuer and revocation cut-off are the configuration's, so it is reused while its key
    signs, its secret is the one presented and it is young enough: `AppJwts.reusable`)."""

    __slots__ = ("issued", "verdict")

    def __init__(self, verdict: Verdict) -> None:
        self.verdict = verdict
        self.issued: IssuedAppJwt | None = None


def token_facts(token: ServiceToken) -> TokenFacts:
    """What the engine needs to know of an authenticated token."""
    container = token.container
    zone = container.id if container.kind is ContainerKind.ZONE else None
    return TokenFacts(token.id, token.client_id, container.account_id, zone)
