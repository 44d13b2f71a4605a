"""What the gate does with a request once it knows the application and the credentials
(spec §5.4, §6.1, §6.3): a `Verdict`, with no HTTP objects in it.

Order of questions:

1. No application covers the request → 403, whatever `deny_unmatched_requests` says.
2. A public destination override covers the path, or the app lets CORS preflights through
   (`options_preflight_bypass`) and this is one → admitted without Access (like Bypass).
3. Credentials were sent but could not authenticate → strict: 401, no policy evaluated;
   non-strict: carry on as if none had been sent.
4. Service Auth and Bypass policies, by precedence; the first that matches decides: Bypass
   admits without a JWT; Service Auth admits with the app JWT (a `CF_Authorization` cookie
   too when a token authenticated and the organization is not strict).
5. A valid token that nothing in 4 admitted → strict: 403.
6. Allow and Block policies, by precedence, until one matches: Block → 403; Allow stops the
   walk (it needs a human login, which a token request never has).
7. A valid app JWT came with the request and the app has an Allow policy → admitted on it
   (no new JWT, no cookie).
8. Otherwise (non-strict rules): `service_auth_401_redirect` → 401; else
   `custom_non_identity_deny_url` → 302 there; else 302 to the login page,
   `https://<auth_domain>/cdn-cgi/access/login/<host>?kid=<aud>&redirect_url=<path>`.
"""

from __future__ import annotations

from urllib.parse import quote

from servicetokens.domain.enforcement.apps import Step, Steps
from servicetokens.domain.enforcement.index import AppIndex, Match
from servicetokens.domain.enforcement.locations import normalize_host
from servicetokens.domain.enforcement.outcomes import UNMATCHED, Outcome, Verdict
from servicetokens.domain.enforcement.views import AppView, OrgView, PolicyDecision, RequestFacts

__all__ = ["Outcome", "Verdict", "decide", "enforce", "login_url"]


def login_url(org: OrgView, app: AppView, host: str, path: str) -> str:
    """The Access login page a non-strict refusal redirects to."""
    return (
        f"https://{org.auth_domain}/cdn-cgi/access/login/{quote(host, safe='')}"
        f"?kid={quote(app.aud, safe='')}&redirect_url={quote(path, safe='')}"
    )


def _first_match(steps: Steps, facts: RequestFacts) -> Step | None:
    for step in steps.for_request(facts):
        if step.policy.matches(facts):
            return step
    return None


def _not_admitted(org: OrgView, match: Match, facts: RequestFacts, reason: str) -> Verdict:
    app = match.app
    if app.service_auth_401_redirect:
        return Verdict(Outcome.UNAUTHORIZED, reason, app)
    if app.custom_non_identity_deny_url:
        return Verdict(Outcome.REDIRECT, reason, app, location=app.custom_non_identity_deny_url)
    host = normalize_host(facts.host) or facts.host.strip().lower()
    return Verdict(Outcome.REDIRECT, reason, app, location=login_url(org, app, host, facts.path))


def decide(match: Match | None, org: OrgView, facts: RequestFacts) -> Verdict:
    """The verdict on `facts` for the application `match` found (None: no application)."""
    if match is None:
        return UNMATCHED
    compiled = match.compiled
    if match.public:
        return compiled.public
    if facts.preflight and compiled.view.options_preflight_bypass:
        return compiled.preflight
    strict = org.strict_service_token_auth
    if facts.credentials_rejected and strict:
        return compiled.rejected
    step = _first_match(compiled.first, facts)
    if step is not None:
        return step.with_cookie if facts.token is not None and not strict else step.verdict
    if facts.token is not None and strict:
        return compiled.unauthorized_token
    step = _first_match(compiled.then, facts)
    if step is not None and step.policy.decision is PolicyDecision.DENY:
        return step.verdict
    if facts.session and compiled.has_allow:
        return compiled.session
    reason = "allow policy needs a login" if step is not None else "no policy admits"
    return _not_admitted(org, match, facts, reason)


def enforce(index: AppIndex, org: OrgView, facts: RequestFacts) -> Verdict:
    """`decide` for the application `index` finds for the request's host and path (for
    gates whose credentials do not depend on the application)."""
    return decide(index.lookup(facts.host, facts.path), org, facts)
