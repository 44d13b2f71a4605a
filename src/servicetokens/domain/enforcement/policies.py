"""One policy's verdict for a request (spec §5.3) and the order an application's policies run
in (§5.2).

A policy matches when **any** `include` rule is true, **all** `require` rules are true and
**no** `exclude` rule is true. A rule the gate cannot evaluate (value None, see `rules.py`)
counts as false in `include`/`require` and as true in `exclude`: it never widens access.
An empty `include` never matches (the API refuses one anyway).

Order: Service Auth (`non_identity`) and Bypass policies first, by ascending precedence; then
Allow and Block, by ascending precedence. So `Allow A, Block B, Service Auth C, Bypass D,
Allow E` runs as `C > D > A > B > E`, and a Block policy cannot stop a token that a Service
Auth policy admits. Equal precedences (which the API refuses) fall back to the policy id, so
the order never depends on how the input was listed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from servicetokens.domain.enforcement.rules import RuleSet
from servicetokens.domain.enforcement.views import PolicyDecision, PolicyView, RequestFacts

__all__ = [
    "FIRST_DECISIONS",
    "CompiledPolicy",
    "compile_policy",
    "order_policies",
    "policy_matches",
]

FIRST_DECISIONS = frozenset({PolicyDecision.NON_IDENTITY, PolicyDecision.BYPASS})
"""The decisions evaluated before all others (§5.2)."""

_DECISIONS = {d.value: d for d in PolicyDecision}


@dataclass(frozen=True, slots=True)
class CompiledPolicy:
    """A policy with its rule lists compiled for one application."""

    view: PolicyView
    decision: PolicyDecision
    include: RuleSet
    require: RuleSet
    exclude: RuleSet

    @property
    def can_match(self) -> bool:
        """False when no request can ever match (an `include` that cannot hold, a `require`
        that cannot all hold, an `exclude` that always refuses): such a policy is skipped."""
        return (
            self.include.can_hold_any and self.require.can_hold_all and not self.exclude.never_false
        )

    def matches(self, facts: RequestFacts) -> bool:
        """any(include) and all(require) and not any(exclude), failing closed on None."""
        return (
            self.include.any_value(facts) is True
            and self.require.all_true(facts)
            and self.exclude.any_value(facts) is False
        )


def compile_policy(
    policy: PolicyView, *, account_id: str, zone_id: str | None
) -> CompiledPolicy | None:
    """The policy's rules compiled within an application of `account_id` (and `zone_id`);
    None when its `decision` is none of the four known ones (such a policy never matches)."""
    decision = _DECISIONS.get(policy.decision)
    if decision is None:
        return None

    def rules(items: Iterable[object]) -> RuleSet:
        return RuleSet.of(items, account_id=account_id, zone_id=zone_id)

    return CompiledPolicy(
        view=policy,
        decision=decision,
        include=rules(policy.include),
        require=rules(policy.require),
        exclude=rules(policy.exclude),
    )


def _order_key(policy: PolicyView) -> tuple[bool, int, str]:
    return (policy.decision not in FIRST_DECISIONS, policy.precedence, policy.id)


def order_policies(policies: Iterable[PolicyView]) -> tuple[PolicyView, ...]:
    """The policies in evaluation order: Service Auth and Bypass by precedence, then the
    rest by precedence (ties broken by id)."""
    return tuple(sorted(policies, key=_order_key))


def policy_matches(
    policy: PolicyView, facts: RequestFacts, *, account_id: str, zone_id: str | None = None
) -> bool:
    """Whether `policy`'s rules hold for the request, whatever its decision (§5.3); a policy
    with an unknown decision never matches."""
    compiled = compile_policy(policy, account_id=account_id, zone_id=zone_id)
    return compiled is not None and compiled.matches(facts)
