"""The `policies` field of an application request.

Each item is one of: a reusable policy's id (a string); a link `{"id", "precedence"?,
"account_id"?}`; or an inline policy (the fields of an app-scoped policy, with an optional
`id`), which is created, or updated when its id is one of the application's own policies.
Order is precedence: an item's explicit `precedence`, else its position from 1; two items
with one precedence are refused with Cloudflare's message.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from servicetokens.domain.access.policies import parse_precedence
from servicetokens.domain.access.values import JsonObject, json_object, string
from servicetokens.domain.errors import ValidationError

__all__ = ["MAX_POLICIES_PER_APP", "PolicyItem", "parse_policy_items", "precedences_unique"]

MAX_POLICIES_PER_APP = 1000
_POLICY_FIELDS = frozenset({"name", "decision", "include", "require", "exclude"})
"""Keys that make an item an inline policy rather than a link."""


@dataclass(frozen=True, slots=True)
class PolicyItem:
    """One item of an application's `policies`, in request order."""

    id: str | None
    """The policy it names (a link), or the id an inline policy carries (None: a new one)."""
    precedence: int
    inline: JsonObject | None
    """The inline policy's fields; None for a link to an existing policy."""


def _item(value: object, index: int) -> tuple[str | None, int | None, JsonObject | None]:
    field = f"policies[{index}]"
    if isinstance(value, str):
        return string(value, field, max_length=64).lower(), None, None
    if not isinstance(value, Mapping):
        raise ValidationError(f"{field} must be a policy id or an object")
    item = json_object(value, field)
    raw_id = item.get("id")
    policy_id = None if raw_id is None else string(raw_id, f"{field}.id", max_length=64).lower()
    raw_precedence = item.get("precedence")
    precedence = (
        None if raw_precedence is None else parse_precedence(raw_precedence, f"{field}.precedence")
    )
    if _POLICY_FIELDS & item.keys():
        return policy_id, precedence, item
    if policy_id is None:
        raise ValidationError(f"{field} needs the id of the policy to link")
    return policy_id, precedence, None


def parse_policy_items(value: object) -> list[PolicyItem]:
    """The items of `policies`, each with its precedence (400/12130 on a malformed item or
    on two items sharing a precedence)."""
    if not isinstance(value, list):
        raise ValidationError("policies must be an array")
    if len(value) > MAX_POLICIES_PER_APP:
        raise ValidationError(f"policies has more than {MAX_POLICIES_PER_APP} items")
    items = []
    for index, raw in enumerate(value):
        policy_id, precedence, inline = _item(raw, index)
        items.append(PolicyItem(policy_id, index + 1 if precedence is None else precedence, inline))
    ids = [item.id for item in items if item.id is not None]
    if len(ids) != len(set(ids)):
        raise ValidationError("policies names one policy twice")
    precedences_unique([item.precedence for item in items])
    return items


def precedences_unique(precedences: Sequence[int]) -> None:
    """Refuse two policies of one application with the same precedence."""
    if len(precedences) != len(set(precedences)):
        raise ValidationError("policy precedences must be unique")
