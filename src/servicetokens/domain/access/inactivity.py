"""Inactive service tokens (`service_token_inactivity` of an organization): which tokens an
organization's setting reaches, and what becomes of one.

A token is inactive when its `last_seen_at` (or, never seen, its `created_at`) is older
than the threshold. Tokens a policy names directly are never touched (Cloudflare skips
them: disabling one would silently break the application that admits it). An account's
organization governs the account's tokens and its zones'; a zone's organization its own.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from servicetokens.domain.access.organization import (
    InactivityAction,
    Organization,
    ServiceTokenInactivity,
)
from servicetokens.domain.tokens import ServiceToken

__all__ = ["InactivityRule", "disabled_for_inactivity", "inactivity_rules", "is_inactive"]


@dataclass(frozen=True, slots=True)
class InactivityRule:
    """One organization's enabled setting, ready to apply at a moment."""

    organization: Organization
    setting: ServiceTokenInactivity

    def cutoff(self, now: datetime) -> datetime:
        """Tokens not seen since before this moment are inactive."""
        return now - timedelta(days=self.setting.threshold_days)

    @property
    def action(self) -> InactivityAction:
        """Disable or delete."""
        return self.setting.action


def inactivity_rules(organizations: list[Organization]) -> list[InactivityRule]:
    """The organizations whose inactivity setting is on."""
    rules = []
    for organization in organizations:
        setting = organization.inactivity
        if setting is not None and setting.enabled:
            rules.append(InactivityRule(organization, setting))
    return rules


def is_inactive(token: ServiceToken, cutoff: datetime) -> bool:
    """Whether `token` was last seen (or, never seen, created) before `cutoff`."""
    return (token.last_seen_at or token.created_at) < cutoff


def disabled_for_inactivity(token: ServiceToken, *, now: datetime) -> ServiceToken:
    """The token, disabled at `now` (a re-enable through the API restores it)."""
    return replace(token, enabled=False, updated_at=now)
