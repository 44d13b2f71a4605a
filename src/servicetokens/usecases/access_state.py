"""An account's Access configuration as a gate enforces it: the control-plane snapshot turned
into the enforcement engine's views and compiled once (`AccessState`), per version.

What the API stores (`domain.access`: applications with their resolved policies, the
organizations) becomes what the engine reads (`domain.enforcement`: `AppView`, `PolicyView`,
`OrgView`), then one `AppIndex` for lookups by host and path. A zone's application is
governed by the zone's organization when the zone has one, else by the account's (spec
§3.5). Everything a request needs that depends only on the application (its organization,
its `revoke_tokens` cut-off, the JWT lifetime per admitting policy) is answered here from
dictionaries, never by a scan.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from servicetokens.domain.access.organization import Organization
from servicetokens.domain.access.snapshot import AppWithPolicies, ControlPlaneSnapshot, LinkedPolicy
from servicetokens.domain.enforcement import (
    AppIndex,
    AppView,
    OrgView,
    PolicyView,
    compile_apps,
    session_seconds,
)
from servicetokens.domain.permissions import ContainerKind

__all__ = ["AccessState", "app_view", "compile_state", "org_view", "policy_view"]


def policy_view(linked: LinkedPolicy) -> PolicyView:
    """A policy as the engine reads it, at its precedence in the application."""
    fields = linked.policy.fields
    return PolicyView(
        id=linked.policy.id,
        decision=fields.decision.value,
        precedence=linked.precedence,
        include=tuple(fields.include),
        require=tuple(fields.require),
        exclude=tuple(fields.exclude),
        session_duration=fields.session_duration,
    )


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def app_view(entry: AppWithPolicies) -> AppView:
    """An application (with its policies) as the engine reads it."""
    app = entry.app
    body = app.fields.body
    destinations = body.get("destinations")
    hosted = body.get("self_hosted_domains")
    container = app.container
    return AppView(
        id=app.id,
        aud=app.aud,
        domain=str(body["domain"]),
        account_id=app.account_id,
        zone_id=container.id if container.kind is ContainerKind.ZONE else None,
        destinations=tuple(
            d
            for d in (destinations if isinstance(destinations, list) else ())
            if isinstance(d, Mapping)
        ),
        self_hosted_domains=tuple(
            h for h in (hosted if isinstance(hosted, list) else ()) if isinstance(h, str)
        ),
        policies=tuple(policy_view(linked) for linked in entry.policies),
        session_duration=_text(body.get("session_duration")),
        service_auth_401_redirect=body.get("service_auth_401_redirect") is True,
        custom_non_identity_deny_url=_text(body.get("custom_non_identity_deny_url")),
        read_service_tokens_from_header=_text(body.get("read_service_tokens_from_header")),
        options_preflight_bypass=body.get("options_preflight_bypass") is True,
    )


def org_view(organization: Organization) -> OrgView:
    """The organization settings enforcement reads."""
    body = organization.body
    return OrgView(
        auth_domain=organization.auth_domain,
        strict_service_token_auth=organization.strict_service_token_auth,
        deny_unmatched_requests=body.get("deny_unmatched_requests") is True,
        session_duration=_text(body.get("session_duration")),
    )


@dataclass(frozen=True, slots=True, eq=False)
class AccessState:
    """One version of an account's Access configuration, compiled for requests."""

    account_id: str
    version: int
    """The control-plane version the snapshot was read at."""
    index: AppIndex
    organization: OrgView | None
    """The account's organization (None: there is none, and nothing is admitted)."""
    zone_organizations: dict[str, OrgView]
    """Zone id → the zone's own organization."""
    revoked_at: dict[str, float]
    """Application id → epoch seconds of its last `revoke_tokens` (JWTs issued at or before
    are refused); absent when never revoked."""
    token_headers: frozenset[str]
    """Every application's `read_service_tokens_from_header`, lowercased: never forwarded."""
    _lifetimes: dict[tuple[str, str], int] = field(default_factory=dict, repr=False)

    @property
    def app_count(self) -> int:
        """How many applications were compiled."""
        return self.index.app_count

    def org_for(self, app: AppView) -> OrgView | None:
        """The organization governing `app`: its zone's when it has one, else the
        account's."""
        if app.zone_id is not None:
            zone = self.zone_organizations.get(app.zone_id)
            if zone is not None:
                return zone
        return self.organization

    def lifetime(self, policy: PolicyView | None, app: AppView, org: OrgView) -> int:
        """Seconds a JWT `policy` earns for `app` lives (`domain.enforcement.session_seconds`),
        worked out once per application and policy of this version."""
        key = (app.id, "" if policy is None else policy.id)
        seconds = self._lifetimes.get(key)
        if seconds is None:
            seconds = self._lifetimes[key] = session_seconds(policy, app, org)
        return seconds


def compile_state(
    snapshot: ControlPlaneSnapshot, previous: AccessState | None = None
) -> AccessState:
    """The snapshot compiled: every application's views in one index, the organizations
    by zone, the revocation cut-offs. Applications unchanged since `previous` (the state
    in force) keep their compiled policies."""
    views = [app_view(entry) for entry in snapshot.applications]
    account_org: OrgView | None = None
    zones: dict[str, OrgView] = {}
    for organization in snapshot.organizations:
        container = organization.container
        if container.kind is ContainerKind.ACCOUNT:
            account_org = org_view(organization)
        else:
            zones[container.id] = org_view(organization)
    revoked = {
        entry.app.id: entry.app.tokens_revoked_at.timestamp()
        for entry in snapshot.applications
        if entry.app.tokens_revoked_at is not None
    }
    headers = frozenset(
        view.read_service_tokens_from_header.lower()
        for view in views
        if view.read_service_tokens_from_header
    )
    return AccessState(
        account_id=snapshot.account_id,
        version=snapshot.version,
        index=compile_apps(
            views,
            None
            if previous is None or previous.account_id != snapshot.account_id
            else previous.index,
        ),
        organization=account_org,
        zone_organizations=zones,
        revoked_at=revoked,
        token_headers=headers,
    )
