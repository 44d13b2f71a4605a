"""Access rules (the items of `include` / `require` / `exclude`) as the gate sees them.

A rule is a JSON object with exactly one key naming its selector. For a request carrying a
service token (or nothing), every rule falls in one of three classes (spec §3.1, §5.3):

| Class | In `include` / `require` | In `exclude` | Selectors |
|---|---|---|---|
| evaluable | computed | computed | `service_token`, `any_valid_service_token`, `everyone`, `ip` |
| identity | false | false | `email`, `email_domain`, `email_list`, `azureAD`, … (below) |
| unavailable | false | **true** | `geo`, `ip_list`, `group`, … (below), unknown, malformed |

- identity: `email`, `email_domain`, `email_list`, `azureAD`, `github-organization`, `gsuite`,
  `okta`, `saml`, `oidc`, `auth_context`, `login_method`, `auth_method`, `user_risk_score`,
  `cloudflare_account_member`, `external_evaluation`;
- unavailable: `geo`, `ip_list`, `certificate`, `common_name`, `device_posture`,
  `linked_app_token`, `group`, any key not named here, and any malformed rule.

Identity rules are false wherever they appear: a token request has no identity, on Cloudflare
too, so an identity `exclude` never fires for it. Unavailable rules need a signal the gate does
not have (GeoIP, Zero Trust lists, mTLS, device posture, groups): they fail closed, so an
`exclude` the gate cannot evaluate refuses rather than silently widening access. A malformed
rule (not a one-key object, a value that is not an object, an `ip` that is not an address or
CIDR, a `service_token` without a `token_id` string) is unavailable too. An `ip` rule when the
client address is unknown is unavailable for that request.

Values are three-valued: True, False, or None for "cannot tell" (an unavailable rule); a
policy reads None as false in `include`/`require` and as true in `exclude` (`policies.py`).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Mapping
from enum import StrEnum
from functools import lru_cache
from typing import Any

from servicetokens.domain.enforcement.views import RequestFacts

__all__ = [
    "EVALUABLE_SELECTORS",
    "IDENTITY_SELECTORS",
    "UNAVAILABLE_SELECTORS",
    "RuleCheck",
    "RuleClass",
    "classify_rule",
    "compile_rule",
    "rule_value",
]

RuleCheck = Callable[[RequestFacts], bool | None]
"""A compiled rule: True, False, or None when the gate cannot tell."""

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
"""The known selectors the gate cannot evaluate; unknown selectors are treated the same."""

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class RuleClass(StrEnum):
    """How the gate treats a rule (see the module's table)."""

    EVALUABLE = "evaluable"
    IDENTITY = "identity"
    UNAVAILABLE = "unavailable"


def _selector(rule: object) -> tuple[str, Mapping[str, Any]] | None:
    """The one (key, value) of a well-formed rule, else None."""
    if not isinstance(rule, Mapping) or len(rule) != 1:
        return None
    ((key, value),) = rule.items()
    if not isinstance(key, str) or not isinstance(value, Mapping):
        return None
    return key, value


def _token_id(value: Mapping[str, Any]) -> str | None:
    token_id = value.get("token_id")
    return token_id.lower() if isinstance(token_id, str) and token_id else None


def _network(value: Mapping[str, Any]) -> IPNetwork | None:
    text = value.get("ip")
    if not isinstance(text, str):
        return None
    try:
        return ipaddress.ip_network(text.strip(), strict=False)
    except ValueError:
        return None


def classify_rule(rule: object) -> RuleClass:
    """The class of one stored rule: evaluable (with a valid value), identity, or unavailable
    (unknown selectors and malformed rules included)."""
    selected = _selector(rule)
    if selected is None:
        return RuleClass.UNAVAILABLE
    key, value = selected
    if key in IDENTITY_SELECTORS:
        return RuleClass.IDENTITY
    if key not in EVALUABLE_SELECTORS:
        return RuleClass.UNAVAILABLE
    if key == "service_token" and _token_id(value) is None:
        return RuleClass.UNAVAILABLE
    if key == "ip" and _network(value) is None:
        return RuleClass.UNAVAILABLE
    return RuleClass.EVALUABLE


@lru_cache(maxsize=4096)
def _client_address(text: str) -> IPAddress | None:
    """The client address as an `ipaddress` value (IPv4-mapped IPv6 as IPv4), or None."""
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _never(facts: RequestFacts) -> bool | None:
    return False


def _unknown(facts: RequestFacts) -> bool | None:
    return None


def _always(facts: RequestFacts) -> bool | None:
    return True


def _owns(account_id: str, zone_id: str | None) -> Callable[[RequestFacts], bool]:
    """Whether the request's token belongs to the application's owner: any token of the
    account for an account application; the zone's or the account's own for a zone one."""

    def owns(facts: RequestFacts) -> bool:
        token = facts.token
        if token is None or token.account_id != account_id:
            return False
        return zone_id is None or token.zone_id is None or token.zone_id == zone_id

    return owns


def compile_rule(rule: object, *, account_id: str, zone_id: str | None) -> RuleCheck:
    """An evaluator for `rule` within an application of `account_id` (and `zone_id`)."""
    cls = classify_rule(rule)
    if cls is RuleClass.IDENTITY:
        return _never
    if cls is RuleClass.UNAVAILABLE:
        return _unknown
    selected = _selector(rule)
    assert selected is not None  # evaluable rules are well formed
    key, value = selected
    if key == "everyone":
        return _always
    owns = _owns(account_id, zone_id)
    if key == "any_valid_service_token":
        return owns
    if key == "service_token":
        wanted = _token_id(value)

        def service_token(facts: RequestFacts) -> bool | None:
            token = facts.token
            return token is not None and token.token_id.lower() == wanted and owns(facts)

        return service_token
    network = _network(value)
    assert network is not None  # classify_rule checked it

    def ip(facts: RequestFacts) -> bool | None:
        if facts.client_ip is None:
            return None
        address = _client_address(facts.client_ip)
        if address is None:
            return None
        return address.version == network.version and address in network

    return ip


def rule_value(
    rule: object, facts: RequestFacts, *, account_id: str, zone_id: str | None = None
) -> bool | None:
    """One rule's value for one request (True, False, or None: cannot tell). The gate uses
    compiled rules; this is the same answer, for tests and one-off checks."""
    return compile_rule(rule, account_id=account_id, zone_id=zone_id)(facts)
