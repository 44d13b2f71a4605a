"""The answers enforcement gives: an `Outcome` and the `Verdict` carrying it (no HTTP objects).

Admissions are built once per application and policy when the apps are compiled, so the
request path allocates nothing for them.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from servicetokens.domain.enforcement.views import AppView, PolicyView

__all__ = ["UNMATCHED", "Outcome", "Verdict"]


class Outcome(StrEnum):
    """The kinds of answer."""

    ADMIT = "admit"
    """Admitted by a Service Auth policy: forward with the app JWT (`jwt_claims`)."""
    BYPASS = "bypass"
    """Admitted without Access: no JWT, not logged as an Access decision."""
    SESSION = "session"
    """Admitted on the app JWT the request presented: forward it, issue nothing."""
    UNAUTHORIZED = "unauthorized"
    FORBIDDEN = "forbidden"
    REDIRECT = "redirect"


_STATUS = {
    Outcome.ADMIT: 200,
    Outcome.BYPASS: 200,
    Outcome.SESSION: 200,
    Outcome.UNAUTHORIZED: 401,
    Outcome.FORBIDDEN: 403,
    Outcome.REDIRECT: 302,
}


@dataclass(frozen=True, slots=True)
class Verdict:
    """The decision on one request."""

    outcome: Outcome
    reason: str
    """Why, for logs and metrics (safe to show: names no token)."""
    app: AppView | None = None
    policy: PolicyView | None = None
    """The policy that admitted or blocked the request, if one did."""
    set_cookie: bool = False
    """Offer the JWT as the `CF_Authorization` cookie (the gate may skip it when the client
    already holds that JWT)."""
    location: str | None = None
    """Where a redirect points."""

    @property
    def status(self) -> int:
        """The HTTP status the gate answers with (200 for admissions)."""
        return _STATUS[self.outcome]

    @property
    def admitted(self) -> bool:
        """Whether the request goes to the origin."""
        return self.outcome in (Outcome.ADMIT, Outcome.BYPASS, Outcome.SESSION)


UNMATCHED = Verdict(Outcome.FORBIDDEN, "no application covers this host and path")
