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
A list of rules compiles to one `RuleSet` (flags, a set of token ids, the networks), so a
policy's `include` costs a few lookups however many `service_token` rules it lists.

Token ids compare in lower case: rules are lowered when compiled, and `TokenFacts.token_id`
is expected as stored (lower-case UUIDs); another spelling simply matches nothing.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from servicetokens.domain.access.rules import (
    EVALUABLE_SELECTORS,
    IDENTITY_SELECTORS,
    UNAVAILABLE_SELECTORS,
    RuleClass,
)
from servicetokens.domain.enforcement.views import RequestFacts, TokenFacts

__all__ = [
    "EVALUABLE_SELECTORS",
    "IDENTITY_SELECTORS",
    "UNAVAILABLE_SELECTORS",
    "RuleClass",
    "RuleSet",
    "classify_rule",
    "rule_value",
]

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = tuple[int, int]
"""(IP version, the address as an integer)."""
Range = tuple[int, int, int]
"""(IP version, network address as an integer, netmask as an integer)."""


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
def _client_address(text: str) -> Address | None:
    """The client address as (version, integer), IPv4-mapped IPv6 read as IPv4; or None."""
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.version, int(address)


def _range(network: IPNetwork) -> Range:
    return network.version, int(network.network_address), int(network.netmask)


def _in_ranges(address: Address, ranges: tuple[Range, ...]) -> bool:
    version, value = address
    for v, net, mask in ranges:  # noqa: SIM110 - a loop: 3x cheaper than any() on a generator
        if v == version and value & mask == net:
            return True
    return False


def _owned(token: TokenFacts, account_id: str, zone_id: str | None) -> bool:
    """Whether the token belongs to the application's owner: any token of the account for an
    account application; the zone's or the account's own for a zone one."""
    if token.account_id != account_id:
        return False
    return zone_id is None or token.zone_id is None or token.zone_id == zone_id


_NO_IDS: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class RuleSet:
    """A list of rules (one of a policy's `include`, `require`, `exclude`), compiled for an
    application of `account_id` (and `zone_id`) into what its rules ask about a request."""

    size: int
    everyone: bool
    any_token: bool
    token_ids: frozenset[str]
    networks: tuple[Range, ...]
    """The `ip` rules' networks as (version, network, netmask) integers."""
    identity: bool
    """Holds an identity rule (false for every request)."""
    unknown: bool
    """Holds a rule the gate cannot evaluate."""
    account_id: str
    zone_id: str | None

    @classmethod
    def of(cls, rules: Iterable[object], *, account_id: str, zone_id: str | None) -> RuleSet:
        """The compiled form of `rules`."""
        size = 0
        everyone = any_token = identity = unknown = False
        token_ids: set[str] = set()
        networks: list[Range] = []
        for rule in rules:
            size += 1
            kind = classify_rule(rule)
            if kind is RuleClass.IDENTITY:
                identity = True
                continue
            selected = _selector(rule)
            if kind is RuleClass.UNAVAILABLE or selected is None:
                unknown = True
                continue
            key, value = selected
            if key == "everyone":
                everyone = True
            elif key == "any_valid_service_token":
                any_token = True
            elif key == "service_token":
                token_ids.add(_token_id(value) or "")
            else:
                network = _network(value)
                assert network is not None  # classify_rule checked it
                networks.append(_range(network))
        if size == 0:
            return _EMPTY  # most `require` and `exclude` lists: one shared object
        return cls(
            size,
            everyone,
            any_token,
            frozenset(token_ids) if token_ids else _NO_IDS,
            tuple(networks),
            identity,
            unknown,
            account_id,
            zone_id,
        )

    @property
    def can_hold_any(self) -> bool:
        """Whether `any_value` can be True for some request."""
        return self.everyone or self.any_token or bool(self.token_ids) or bool(self.networks)

    @property
    def can_hold_all(self) -> bool:
        """Whether `all_true` can be True for some request."""
        return not (self.unknown or self.identity or len(self.token_ids) > 1)

    @property
    def never_false(self) -> bool:
        """Whether `any_value` is True or None for every request (an `exclude` that always
        refuses)."""
        return self.everyone or self.unknown

    def any_value(self, facts: RequestFacts) -> bool | None:
        """True if any rule holds; else None if one cannot be evaluated; else False."""
        if self.everyone:
            return True
        token = facts.token
        if (
            token is not None
            and (self.any_token or token.token_id in self.token_ids)
            and _owned(token, self.account_id, self.zone_id)
        ):
            return True
        unknown = self.unknown
        if self.networks:
            address = None if facts.client_ip is None else _client_address(facts.client_ip)
            if address is None:
                unknown = True
            elif _in_ranges(address, self.networks):
                return True
        return None if unknown else False

    def all_true(self, facts: RequestFacts) -> bool:
        """Whether every rule holds (vacuously true when there are none)."""
        if self.size == 0:
            return True
        if self.unknown or self.identity:
            return False
        if self.any_token or self.token_ids:
            token = facts.token
            if token is None or not _owned(token, self.account_id, self.zone_id):
                return False
            if self.token_ids and (len(self.token_ids) > 1 or token.token_id not in self.token_ids):
                return False
        if self.networks:
            address = None if facts.client_ip is None else _client_address(facts.client_ip)
            if address is None:
                return False
            version, value = address
            for v, net, mask in self.networks:
                if v != version or value & mask != net:
                    return False
        return True


_EMPTY = RuleSet(0, False, False, _NO_IDS, (), False, False, "", None)


def rule_value(
    rule: object, facts: RequestFacts, *, account_id: str, zone_id: str | None = None
) -> bool | None:
    """One rule's value for one request within an application of `account_id` (and
    `zone_id`): True, False, or None when the gate cannot tell."""
    return RuleSet.of([rule], account_id=account_id, zone_id=zone_id).any_value(facts)
