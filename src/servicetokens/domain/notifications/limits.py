"""How much alerting one account may set up: every token change queues one delivery per
(enabled policy of its alert type × webhook the policy names), so these bound the
deliveries one change can write in its transaction and send to third parties.

Cloudflare documents no such limits; the defaults are far above what a real account
configures (a handful of destinations, a policy or two per alert type), and an operator
can raise the per-account ones (`SERVICETOKENS_MAX_WEBHOOKS`,
`SERVICETOKENS_MAX_ALERT_POLICIES`). With the defaults one change queues at most
200 × 10 = 2,000 deliveries (and in practice one per policy of its type).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "DEFAULT_MAX_POLICIES",
    "DEFAULT_MAX_WEBHOOKS",
    "MAX_WEBHOOKS_PER_POLICY",
    "AlertLimits",
]

DEFAULT_MAX_WEBHOOKS = 100
"""Webhook destinations per account."""
DEFAULT_MAX_POLICIES = 200
"""Notification policies per account (about 18 per served alert type)."""
MAX_WEBHOOKS_PER_POLICY = 10
"""Webhook mechanisms one policy may name (the fan-out of one event per policy)."""


@dataclass(frozen=True, slots=True)
class AlertLimits:
    """The per-account caps a create checks."""

    webhooks: int = DEFAULT_MAX_WEBHOOKS
    """Webhook destinations per account."""
    policies: int = DEFAULT_MAX_POLICIES
    """Notification policies per account."""
