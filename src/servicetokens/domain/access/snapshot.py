"""An account's control plane as one value: what a gate loads and evaluates requests by.

Applications come with their policies resolved (linked reusable ones and their own), in
evaluation order; the version is the account's control-plane version the snapshot was read
at (the data is at least that new), so a gate reloads when the version moves.
"""

from __future__ import annotations

from dataclasses import dataclass

from servicetokens.domain.access.applications import Application
from servicetokens.domain.access.organization import Organization
from servicetokens.domain.access.policies import AccessPolicy
from servicetokens.domain.permissions import ContainerKind

__all__ = ["AppWithPolicies", "ControlPlaneSnapshot", "LinkedPolicy"]


@dataclass(frozen=True, slots=True)
class LinkedPolicy:
    """A policy as one application runs it: at its precedence there (a reusable policy's
    link precedence, or an app-scoped policy's own)."""

    policy: AccessPolicy
    precedence: int


@dataclass(frozen=True, slots=True)
class AppWithPolicies:
    """An application and its policies, by ascending precedence."""

    app: Application
    policies: tuple[LinkedPolicy, ...]


@dataclass(frozen=True, slots=True)
class ControlPlaneSnapshot:
    """Every application (account and zones), policy and organization of one account."""

    account_id: str
    version: int
    applications: tuple[AppWithPolicies, ...]
    reusable_policies: tuple[AccessPolicy, ...]
    organizations: tuple[Organization, ...]
    """The account's organization (if any) and its zones'."""

    @property
    def organization(self) -> Organization | None:
        """The account's own organization: the JWT issuer of its applications."""
        for organization in self.organizations:
            if organization.container.kind is ContainerKind.ACCOUNT:
                return organization
        return None
