"""One application made ready for requests: its policies compiled and ordered with the
verdicts they give, and the locations (host pattern, path pattern, public overrides) it
covers."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from servicetokens.domain.enforcement.locations import HostPattern, PathPattern, split_location
from servicetokens.domain.enforcement.outcomes import Outcome, Verdict
from servicetokens.domain.enforcement.policies import (
    FIRST_DECISIONS,
    CompiledPolicy,
    compile_policy,
    order_policies,
)
from servicetokens.domain.enforcement.views import AppView, PolicyDecision, RequestFacts

__all__ = ["CompiledApp", "Location", "Step", "Steps", "compile_app", "locations_of"]


@dataclass(frozen=True, slots=True)
class Location:
    """One host (and path) an application covers, with the paths its destination makes
    public (`overrides` with `behavior: public`)."""

    source: str
    """The `uri` / domain as stored, for messages."""
    host: HostPattern
    path: PathPattern
    public: tuple[PathPattern, ...] = ()


@dataclass(frozen=True, slots=True)
class Step:
    """One policy in an application's evaluation order, with the verdicts it gives."""

    policy: CompiledPolicy
    verdict: Verdict
    """Its verdict when it matches: Bypass, Service Auth without a cookie, or Block."""
    with_cookie: Verdict
    """For Service Auth, the admission offering the cookie; otherwise `verdict`."""


@dataclass(frozen=True, slots=True)
class Steps:
    """One group of an application's policies, in order, filed so that a request only runs
    the policies whose `include` could hold for it.

    An `include` whose only rules that can be true are `service_token` rules (the others
    being identity or unevaluable rules) holds only for a token it lists: such a policy is
    filed under each of its token ids. Every other policy (an `everyone`,
    `any_valid_service_token` or `ip` rule in its `include`) is open to every request. The
    answer is the same as running every policy in order; it just skips the ones that cannot
    match. (Policies that can never match at all are left out before: `compile_app`.)
    """

    open: tuple[Step, ...]
    by_token: dict[str, tuple[Step, ...]]
    """Per listed token id: its policies and the open ones, merged in order."""

    @classmethod
    def of(cls, steps: list[Step]) -> Steps:
        """File `steps` (already in evaluation order)."""
        open_positions: list[int] = []
        listed: dict[str, list[int]] = {}
        for position, step in enumerate(steps):
            include = step.policy.include
            if include.everyone or include.any_token or include.networks:
                open_positions.append(position)
            for token_id in include.token_ids:
                listed.setdefault(token_id, []).append(position)
        by_token = {
            token_id: tuple(steps[i] for i in sorted({*positions, *open_positions}))
            for token_id, positions in listed.items()
        }
        return cls(tuple(steps[i] for i in open_positions), by_token)

    def for_request(self, facts: RequestFacts) -> tuple[Step, ...]:
        """The policies that could match `facts`, in evaluation order."""
        token = facts.token
        if token is None or not self.by_token:
            return self.open
        return self.by_token.get(token.token_id, self.open)


@dataclass(frozen=True, slots=True)
class CompiledApp:
    """An application with its policies in evaluation order (§5.2) and its fixed verdicts."""

    view: AppView
    first: Steps
    """Service Auth and Bypass, by precedence."""
    then: Steps
    """Allow and Block, by precedence."""
    has_allow: bool
    """Whether any policy is an Allow policy (an app JWT is then reusable, §5.4)."""
    public: Verdict
    preflight: Verdict
    rejected: Verdict
    """Strict mode, credentials that did not authenticate: 401."""
    unauthorized_token: Verdict
    """Strict mode, a valid token no Service Auth or Bypass policy admits: 403."""
    session: Verdict


def _step(policy: CompiledPolicy, app: AppView) -> Step:
    view = policy.view
    if policy.decision is PolicyDecision.BYPASS:
        verdict = Verdict(Outcome.BYPASS, "bypass policy", app, view)
        return Step(policy, verdict, verdict)
    if policy.decision is PolicyDecision.NON_IDENTITY:
        reason = "service auth policy"
        return Step(
            policy,
            Verdict(Outcome.ADMIT, reason, app, view),
            Verdict(Outcome.ADMIT, reason, app, view, set_cookie=True),
        )
    if policy.decision is PolicyDecision.DENY:
        verdict = Verdict(Outcome.FORBIDDEN, "block policy", app, view)
        return Step(policy, verdict, verdict)
    verdict = Verdict(Outcome.REDIRECT, "allow policy needs a login", app, view)
    return Step(policy, verdict, verdict)  # never returned as is: see verdict.decide


def compile_app(app: AppView) -> CompiledApp:
    """The application's policies compiled for its owner, split into the two groups, with
    every verdict that does not depend on the request built once."""
    first: list[Step] = []
    then: list[Step] = []
    has_allow = False
    for view in order_policies(app.policies):
        compiled = compile_policy(view, account_id=app.account_id, zone_id=app.zone_id)
        if compiled is None:
            continue
        has_allow = has_allow or compiled.decision is PolicyDecision.ALLOW
        if compiled.can_match:
            (first if compiled.decision in FIRST_DECISIONS else then).append(_step(compiled, app))
    return CompiledApp(
        view=app,
        first=Steps.of(first),
        then=Steps.of(then),
        has_allow=has_allow,
        public=Verdict(Outcome.BYPASS, "public path of the destination", app),
        preflight=Verdict(Outcome.BYPASS, "CORS preflight", app),
        rejected=Verdict(Outcome.UNAUTHORIZED, "credentials did not authenticate", app),
        unauthorized_token=Verdict(
            Outcome.FORBIDDEN, "no service auth or bypass policy admits the token", app
        ),
        session=Verdict(Outcome.SESSION, "app JWT presented", app),
    )


def _public_overrides(destination: Mapping[str, Any]) -> tuple[PathPattern, ...]:
    overrides = destination.get("overrides")
    if not isinstance(overrides, list | tuple):
        return ()
    found: list[PathPattern] = []
    for override in overrides:
        if not isinstance(override, Mapping) or override.get("behavior") != "public":
            continue
        pattern = override.get("path_pattern")
        if isinstance(pattern, str) and pattern.strip():
            found.append(PathPattern.parse(pattern, subpaths=False))
    return tuple(found)


def locations_of(app: AppView) -> tuple[list[Location], list[str]]:
    """The locations `app` covers (public `destinations` if any destination is stored, else
    `self_hosted_domains` if any, else `domain`), and the stored entries that cannot cover
    anything (an empty or malformed host), for the gate to report."""
    entries: list[tuple[str, tuple[PathPattern, ...]]] = []
    if app.destinations:
        for destination in app.destinations:
            uri = destination.get("uri")
            if destination.get("type") == "public" and isinstance(uri, str):
                entries.append((uri, _public_overrides(destination)))
    elif app.self_hosted_domains:
        entries = [(domain, ()) for domain in app.self_hosted_domains]
    else:
        entries = [(app.domain, ())]
    locations: list[Location] = []
    ignored: list[str] = []
    for source, public in entries:
        host_text, path_text = split_location(source)
        host = HostPattern.parse(host_text)
        if host is None:
            ignored.append(source)
            continue
        locations.append(Location(source, host, PathPattern.parse(path_text), public))
    return locations, ignored
