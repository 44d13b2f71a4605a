"""What a gate serving applications remembers between requests under one configuration: where
a host and path lead (the application, its organization, its credential header), the
verdict on an authenticated token from an address, and each token's facts (all pure
functions of the configuration, so kept until it changes; bounded, cleared when full)."""

from __future__ import annotations

from servicetokens.domain.enforcement import (
    AppView,
    Match,
    OrgView,
    Outcome,
    RequestFacts,
    Verdict,
    decide,
)
from servicetokens.domain.enforcement.views import TokenFacts
from servicetokens.domain.permissions import ContainerKind
from servicetokens.domain.tokens import ServiceToken
from servicetokens.gate.app_jwt import IssuedAppJwt
from servicetokens.usecases.access_state import AccessState

__all__ = ["Memo", "Spot", "Ticket", "token_facts"]

_MEMO_SIZE = 10_000
_MISSING = object()


class Spot:
    """Where a host and path lead under one configuration: the application (the index's
    match), the organization governing it (None: it has none) and the header it reads a
    token from (`read_service_tokens_from_header`, lowercased; None: the standard pair)."""

    __slots__ = ("app", "match", "org", "plain", "token_header")

    def __init__(self, match: Match, org: OrgView | None) -> None:
        self.match = match
        self.app: AppView = match.app
        self.org = org
        header = self.app.read_service_tokens_from_header
        self.token_header = header.lower().encode("latin-1") if header else None
        self.plain = org is not None and not match.public and self.token_header is None
        """Whether a request here is decided on the standard credentials by the policies
        (an organization governs it, the path is not public, no single header)."""


class Memo:
    """What one configuration answers again and again, remembered (bounded) until the
    configuration changes: where a host and path lead (the index's answer, pure),
    the verdict on an authenticated token from a client address (`decide` with no session,
    rejection or preflight: pure too; redirects, whose location names the path, are not
    kept), and each token's facts."""

    __slots__ = ("_facts", "_spots", "_tickets", "state")

    def __init__(self, state: AccessState | None) -> None:
        self.state = state
        self._spots: dict[tuple[str, str], Spot | None] = {}
        self._tickets: dict[tuple[str, str, str | None], Ticket] = {}
        self._facts: dict[str, TokenFacts] = {}

    def spot(self, host: str, target: str) -> Spot | None:
        """Where `AppIndex.lookup` sends the target's path (its query does not matter);
        None: no application."""
        cut = target.find("?")
        key = (host, target if cut < 0 else target[:cut])
        found = self._spots.get(key, _MISSING)
        if found is _MISSING:
            state = self.state
            assert state is not None
            match = state.index.lookup(*key)
            found = None if match is None else Spot(match, state.org_for(match.app))
            if len(self._spots) >= _MEMO_SIZE:
                self._spots.clear()
            self._spots[key] = found
        return found  # type: ignore[return-value]

    def facts(self, token: ServiceToken) -> TokenFacts:
        """`token_facts(token)` (a token's id, client id and container never change)."""
        facts = self._facts.get(token.id)
        if facts is None:
            if len(self._facts) >= _MEMO_SIZE:
                self._facts.clear()
            facts = self._facts[token.id] = token_facts(token)
        return facts

    def known_ticket(self, spot: Spot, token: ServiceToken, client: str | None) -> Ticket | None:
        """The remembered verdict on `token` from `client` for the spot's application."""
        return self._tickets.get((spot.app.id, token.id, client))

    def ticket(
        self,
        spot: Spot,
        org: OrgView,
        token: ServiceToken,
        host: str,
        target: str,
        client: str | None,
    ) -> Ticket:
        """`decide` for an authenticated token (no session, no preflight) from `client`."""
        key = (spot.app.id, token.id, client)
        ticket = self._tickets.get(key)
        if ticket is None:
            facts = RequestFacts(host, target, client, self.facts(token))
            ticket = Ticket(decide(spot.match, org, facts))
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
