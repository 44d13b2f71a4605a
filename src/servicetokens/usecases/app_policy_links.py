"""Resolving an application request's `policies` against what is stored.

An item naming a reusable policy of the account becomes a link (whatever else the item
carries: a client that sends back the expanded policies of a GET links them again); one
naming a policy of this application keeps it (merging an inline item's fields into it);
any other inline item creates an app-scoped policy. Reusable and app-scoped policies are
mutually exclusive in one request; the policies the request no longer names are deleted.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime

from servicetokens.domain.access.policies import (
    AccessPolicy,
    merge_policy_body,
    parse_policy_fields,
)
from servicetokens.domain.access.policy_items import PolicyItem
from servicetokens.domain.access.rules import MAX_RULES_PER_LIST
from servicetokens.domain.errors import ValidationError
from servicetokens.domain.permissions import Container
from servicetokens.domain.secrets import new_token_id
from servicetokens.store.database import Transaction
from servicetokens.usecases.access_common import check_token_references

__all__ = ["MAX_RULES_PER_APP", "Resolved", "apply_resolution", "resolve_policies"]

MAX_RULES_PER_APP = MAX_RULES_PER_LIST
"""Cloudflare's limit: 1,000 rules per application, over all its policies."""


@dataclass(slots=True)
class Resolved:
    """What an application's policies become."""

    links: list[tuple[str, int]] = field(default_factory=list)
    """(reusable policy id, precedence)."""
    added: list[AccessPolicy] = field(default_factory=list)
    kept: list[AccessPolicy] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)


def _rule_count(policy: AccessPolicy) -> int:
    fields = policy.fields
    return len(fields.include) + len(fields.require) + len(fields.exclude)


def resolve_policies(
    tx: Transaction,
    *,
    container: Container,
    app_id: str,
    items: list[PolicyItem],
    existing: list[AccessPolicy],
    now: datetime,
) -> Resolved:
    """The links and app-scoped policies `items` stand for (400/12130 for an unknown
    reusable id, mixed kinds, a token that does not exist, or too many rules)."""
    named = [item.id for item in items if item.id is not None]
    reusable = tx.access_policies.reusable_by_id(container.account_id, named)
    own = {policy.id: policy for policy in existing}
    resolved = Resolved()
    for item in items:
        if item.id is not None and item.id in reusable:
            resolved.links.append((item.id, item.precedence))
        elif item.id is not None and item.id in own:
            stored = own[item.id]
            fields = (
                stored.fields
                if item.inline is None
                else merge_policy_body(stored.fields, item.inline)
            )
            changed = fields != stored.fields or item.precedence != stored.precedence
            policy = replace(stored, fields=fields, precedence=item.precedence)
            resolved.kept.append(replace(policy, updated_at=now) if changed else policy)
        elif item.inline is not None:
            fields = parse_policy_fields(item.inline)
            resolved.added.append(
                AccessPolicy(new_token_id(), container, app_id, item.precedence, fields, now, now)
            )
        else:
            raise ValidationError(f"policy {item.id} not found")
    scoped = [*resolved.kept, *resolved.added]
    if resolved.links and scoped:
        raise ValidationError("reusable and inline policies are mutually exclusive")
    kept_ids = {policy.id for policy in resolved.kept}
    resolved.removed = [policy.id for policy in existing if policy.id not in kept_ids]
    rules = sum(_rule_count(reusable[policy_id]) for policy_id, _ in resolved.links)
    rules += sum(_rule_count(policy) for policy in scoped)
    if rules > MAX_RULES_PER_APP:
        raise ValidationError("maximum number of rules per application has been reached")
    token_ids: set[str] = set()
    for policy in scoped:
        token_ids |= policy.fields.token_ids
    check_token_references(tx, container, token_ids)
    return resolved


def apply_resolution(tx: Transaction, app_id: str, resolved: Resolved) -> None:
    """Store what `resolve_policies` decided for the application."""
    tx.access_policies.delete(resolved.removed)
    for policy in resolved.kept:
        tx.access_policies.save(policy)
    for policy in resolved.added:
        tx.access_policies.insert(policy)
    tx.access_apps.set_links(app_id, resolved.links)
