"""The three classes of Access rule at the gate (spec §3.1, §5.3): which selector is which,
and what each evaluable one means for a request."""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from servicetokens.domain.enforcement import RuleClass, classify_rule, rule_value
from tests.unit.enforcement.builders import (
    ACCOUNT,
    ANY_TOKEN,
    EVERYONE,
    OTHER_ACCOUNT,
    ZONE,
    facts,
    ip,
    service_token,
    token,
)

# Every member of the SDK's rule union (26), as the SDK sends it (spec §3.1's table).
SDK_RULES: dict[str, tuple[dict[str, Any], RuleClass]] = {
    "service_token": ({"token_id": "tok-1"}, RuleClass.EVALUABLE),
    "any_valid_service_token": ({}, RuleClass.EVALUABLE),
    "everyone": ({}, RuleClass.EVALUABLE),
    "ip": ({"ip": "192.0.2.0/24"}, RuleClass.EVALUABLE),
    "geo": ({"country_code": "US"}, RuleClass.UNAVAILABLE),
    "ip_list": ({"id": "list"}, RuleClass.UNAVAILABLE),
    "certificate": ({}, RuleClass.UNAVAILABLE),
    "common_name": ({"common_name": "cn"}, RuleClass.UNAVAILABLE),
    "device_posture": ({"integration_uid": "u"}, RuleClass.UNAVAILABLE),
    "linked_app_token": ({"app_uid": "a"}, RuleClass.UNAVAILABLE),
    "group": ({"id": "g"}, RuleClass.UNAVAILABLE),
    "email": ({"email": "a@example.com"}, RuleClass.IDENTITY),
    "email_domain": ({"domain": "example.com"}, RuleClass.IDENTITY),
    "email_list": ({"id": "l"}, RuleClass.IDENTITY),
    "azureAD": ({"id": "g", "identity_provider_id": "i"}, RuleClass.IDENTITY),
    "github-organization": ({"identity_provider_id": "i", "name": "o"}, RuleClass.IDENTITY),
    "gsuite": ({"email": "g@example.com", "identity_provider_id": "i"}, RuleClass.IDENTITY),
    "okta": ({"identity_provider_id": "i", "name": "n"}, RuleClass.IDENTITY),
    "saml": (
        {"attribute_name": "a", "attribute_value": "v", "identity_provider_id": "i"},
        RuleClass.IDENTITY,
    ),
    "oidc": (
        {"claim_name": "c", "claim_value": "v", "identity_provider_id": "i"},
        RuleClass.IDENTITY,
    ),
    "auth_context": ({"id": "x", "ac_id": "c1", "identity_provider_id": "i"}, RuleClass.IDENTITY),
    "login_method": ({"id": "idp"}, RuleClass.IDENTITY),
    "auth_method": ({"auth_method": "mfa"}, RuleClass.IDENTITY),
    "user_risk_score": ({"user_risk_score": ["low"]}, RuleClass.IDENTITY),
    "cloudflare_account_member": ({}, RuleClass.IDENTITY),
    "external_evaluation": ({"evaluate_url": "u", "keys_url": "k"}, RuleClass.IDENTITY),
}

A_TOKEN = token("tok-1")


def test_the_table_covers_the_whole_sdk_union() -> None:
    assert len(SDK_RULES) == 26


@pytest.mark.parametrize(("key", "case"), sorted(SDK_RULES.items()))
def test_each_sdk_selector_is_classified(key: str, case: tuple[dict[str, Any], RuleClass]) -> None:
    value, expected = case
    assert classify_rule({key: value}) is expected


@pytest.mark.parametrize(
    "rule",
    [
        None,
        "everyone",
        [],
        {},
        {"everyone": {}, "ip": {"ip": "10.0.0.0/8"}},  # two keys
        {"everyone": True},  # value not an object
        {"email": "a@example.com"},  # identity selector, malformed value
        {"ip": {"ip": "not-an-address"}},
        {"ip": {"ip": 10}},
        {"ip": {}},
        {"service_token": {}},
        {"service_token": {"token_id": ""}},
        {"service_token": {"token_id": 7}},
        {"brand_new_selector": {"x": 1}},  # unknown: forward compatibility
        {1: {}},
    ],
)
def test_malformed_and_unknown_rules_are_unavailable(rule: object) -> None:
    assert classify_rule(rule) is RuleClass.UNAVAILABLE


def value(rule: object, **kwargs: Any) -> bool | None:
    zone_id = kwargs.pop("zone_id", None)
    return rule_value(rule, facts(**kwargs), account_id=ACCOUNT, zone_id=zone_id)


def test_service_token_matches_its_token_by_id_not_client_id() -> None:
    assert value(service_token("tok-1"), token=A_TOKEN) is True
    assert value(service_token("TOK-1"), token=A_TOKEN) is True  # UUIDs compare in any case
    assert value(service_token("tok-2"), token=A_TOKEN) is False
    assert value(service_token("tok-1.access"), token=A_TOKEN) is False
    assert value(service_token("tok-1")) is False  # no token


def test_any_valid_service_token_means_a_token_of_the_account() -> None:
    assert value(ANY_TOKEN, token=A_TOKEN) is True
    assert value(ANY_TOKEN, token=token(zone_id=ZONE)) is True  # a zone of the account
    assert value(ANY_TOKEN, token=token(account_id=OTHER_ACCOUNT)) is False
    assert value(ANY_TOKEN) is False


def test_a_zone_application_takes_its_zone_and_its_account_tokens() -> None:
    assert value(ANY_TOKEN, token=token(), zone_id=ZONE) is True
    assert value(ANY_TOKEN, token=token(zone_id=ZONE), zone_id=ZONE) is True
    assert value(ANY_TOKEN, token=token(zone_id="2" * 32), zone_id=ZONE) is False
    assert value(service_token("tok-1"), token=token(zone_id="2" * 32), zone_id=ZONE) is False


def test_a_token_of_another_account_matches_no_token_rule() -> None:
    assert value(service_token("tok-1"), token=token(account_id=OTHER_ACCOUNT)) is False


def test_everyone_is_true_with_or_without_credentials() -> None:
    assert value(EVERYONE) is True
    assert value(EVERYONE, token=A_TOKEN) is True
    assert value(EVERYONE, client_ip=None) is True


@pytest.mark.parametrize(
    ("cidr", "client", "expected"),
    [
        ("192.0.2.0/24", "192.0.2.200", True),
        ("192.0.2.0/24", "192.0.3.1", False),
        ("192.0.2.7", "192.0.2.7", True),  # a bare address is a /32
        ("192.0.2.7", "192.0.2.8", False),
        ("192.0.2.1/24", "192.0.2.99", True),  # host bits set: read as the network
        ("2001:db8::/32", "2001:db8:1::5", True),
        ("2001:db8::/32", "2001:db9::5", False),
        ("192.0.2.0/24", "::ffff:192.0.2.5", True),  # IPv4-mapped IPv6 client
        ("::/0", "192.0.2.5", False),  # families never mix
        ("0.0.0.0/0", "2001:db8::1", False),
    ],
)
def test_ip_rules(cidr: str, client: str, expected: bool) -> None:
    assert value(ip(cidr), client_ip=client) is expected


def test_an_ip_rule_cannot_tell_without_a_usable_client_address() -> None:
    assert value(ip("0.0.0.0/0"), client_ip=None) is None
    assert value(ip("0.0.0.0/0"), client_ip="garbage") is None


@pytest.mark.parametrize(("key", "case"), sorted(SDK_RULES.items()))
def test_identity_rules_are_false_and_unavailable_ones_unknown(
    key: str, case: tuple[dict[str, Any], RuleClass]
) -> None:
    rule_value_, cls = case
    got = value({key: rule_value_}, token=A_TOKEN, client_ip="192.0.2.10")
    if cls is RuleClass.IDENTITY:
        assert got is False
    elif cls is RuleClass.UNAVAILABLE:
        assert got is None
    else:
        assert got is True  # every evaluable example above matches A_TOKEN from 192.0.2.10


@given(st.ip_addresses(), st.integers(min_value=0, max_value=128))
def test_ip_rules_agree_with_ipaddress(address: Any, prefix: int) -> None:
    prefix = min(prefix, address.max_prefixlen)
    network = ipaddress.ip_network(f"{address}/{prefix}", strict=False)
    inside = str(network.network_address)
    assume(getattr(network.network_address, "ipv4_mapped", None) is None)
    assume(getattr(address, "ipv4_mapped", None) is None)
    assert value(ip(f"{address}/{prefix}"), client_ip=inside) is True
    assert value(ip(str(network)), client_ip=str(address)) is True
