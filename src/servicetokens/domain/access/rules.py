"""Access rules: the items of a policy's `include`, `require` and `exclude` lists.

A rule is a JSON object with exactly one key, the selector, whose value is an object
(`{"service_token": {"token_id": "…"}}`, `{"everyone": {}}`). Rules are stored verbatim, key
spellings (`azureAD`, `github-organization`) and old field names included, so SDK and
Terraform round trips are exact. Only the four selectors a gate can evaluate for a request
without a human identity are checked strictly; every other known or unknown selector is kept
as sent. How each selector is classed (evaluable, identity, unavailable) is what a gate
needs to fail closed: see docs/compatibility.md.
"""

from __future__ import annotations

import enum
import ipaddress
from collections.abc import Iterable, Mapping, Sequence

from servicetokens.domain.access.values import JsonObject, json_object
from servicetokens.domain.errors import ValidationError

__all__ = [
    "EVALUABLE_SELECTORS",
    "IDENTITY_SELECTORS",
    "MAX_RULES_PER_LIST",
    "UNAVAILABLE_SELECTORS",
    "RuleClass",
    "classify",
    "parse_rules",
    "selector",
    "token_ids",
]

MAX_RULES_PER_LIST = 1000
"""Cloudflare allows 1,000 rules per application; no one list may hold more."""


class RuleClass(enum.StrEnum):
    """What a gate can make of a rule for a request that carries no human identity."""

    EVALUABLE = "evaluable"
    """Decided from the request: the service token, the client address, or nothing."""
    IDENTITY = "identity"
    """Needs a human login: false for a token request, wherever it appears."""
    UNAVAILABLE = "unavailable"
    """Needs a signal the gate does not have (mTLS, device posture, lists, groups, GeoIP) or
    is unknown: fails closed (false in include/require, true in exclude)."""


EVALUABLE_SELECTORS = frozenset({"service_token", "any_valid_service_token", "everyone", "ip"})

IDENTITY_SELECTORS = frozenset(
    {
        "email",
        "email_domain",
        "email_list",
        "azureAD",
        "github-organization",
        "gsuite",
        "okta",
        "saml",
        "oidc",
        "auth_context",
        "login_method",
        "auth_method",
        "user_risk_score",
        "cloudflare_account_member",
        "external_evaluation",
    }
)

UNAVAILABLE_SELECTORS = frozenset(
    {
        "geo",
        "ip_list",
        "certificate",
        "common_name",
        "device_posture",
        "linked_app_token",
        "group",
    }
)
"""Known selectors the gate cannot evaluate; an unknown selector is classed the same way."""


def selector(rule: Mapping[str, object]) -> str:
    """The rule's one key (a stored rule always has exactly one)."""
    return next(iter(rule))


def classify(rule: Mapping[str, object]) -> RuleClass:
    """Whether a gate can evaluate `rule` for a token request (see `RuleClass`)."""
    key = selector(rule)
    if key in EVALUABLE_SELECTORS:
        return RuleClass.EVALUABLE
    if key in IDENTITY_SELECTORS:
        return RuleClass.IDENTITY
    return RuleClass.UNAVAILABLE


def _invalid(field: str, index: int, detail: str) -> ValidationError:
    return ValidationError(f"invalid rule: {field}[{index}] {detail}")


def _check_evaluable(key: str, value: JsonObject, field: str, index: int) -> None:
    if key == "service_token":
        token_id = value.get("token_id")
        if not isinstance(token_id, str) or not token_id:
            raise _invalid(field, index, "service_token needs a token_id string")
    elif key == "ip":
        cidr = value.get("ip")
        if not isinstance(cidr, str):
            raise _invalid(field, index, "ip needs an ip string (an address or CIDR block)")
        try:
            ipaddress.ip_network(cidr.strip(), strict=False)
        except ValueError:
            raise _invalid(
                field, index, f"ip {cidr[:64]!r} is not an address or CIDR block"
            ) from None


def parse_rules(value: object, field: str, *, required: bool = False) -> list[JsonObject]:
    """A rule list as sent, each rule checked (400/12130 `invalid rule: …` otherwise).

    `required` lists must hold at least one rule ("All Access policies must contain at least
    one Include rule")."""
    if not isinstance(value, list):
        raise ValidationError(f"{field} must be an array of rules")
    if required and not value:
        raise ValidationError(f"{field} must contain at least one rule")
    if len(value) > MAX_RULES_PER_LIST:
        raise ValidationError(f"{field} has more than {MAX_RULES_PER_LIST} rules")
    rules: list[JsonObject] = []
    for index, item in enumerate(value):
        if not isinstance(item, Mapping):
            raise _invalid(field, index, "is not an object")
        if len(item) != 1:
            raise _invalid(field, index, f"must have exactly one selector, not {len(item)}")
        key, inner = next(iter(item.items()))
        if not isinstance(key, str) or not key:
            raise _invalid(field, index, "has an empty selector")
        if not isinstance(inner, Mapping):
            raise _invalid(field, index, f"{key} must be an object")
        copied = json_object(inner, f"{field}[{index}].{key}")
        if key in EVALUABLE_SELECTORS:
            _check_evaluable(key, copied, field, index)
        rules.append({key: copied})
    return rules


def token_ids(rule_lists: Iterable[Sequence[Mapping[str, object]]]) -> frozenset[str]:
    """The ids of the service tokens the rules name (`service_token.token_id`), lowercased;
    `any_valid_service_token` names none."""
    found = set()
    for rules in rule_lists:
        for rule in rules:
            inner = rule.get("service_token")
            if isinstance(inner, Mapping):
                token_id = inner.get("token_id")
                if isinstance(token_id, str):
                    found.add(token_id.lower())
    return frozenset(found)
