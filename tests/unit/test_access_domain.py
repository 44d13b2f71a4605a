"""The control plane's pure rules: rule classes, rule parsing, hostname claims, the
`policies` items of an application, and organization merges."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from servicetokens.domain.access.destinations import claim_key, parse_destinations, parse_uri
from servicetokens.domain.access.organization import parse_organization
from servicetokens.domain.access.policies import (
    PolicyFields,
    merge_policy_body,
    parse_policy_fields,
)
from servicetokens.domain.access.policy_items import parse_policy_items
from servicetokens.domain.access.rules import (
    EVALUABLE_SELECTORS,
    IDENTITY_SELECTORS,
    UNAVAILABLE_SELECTORS,
    RuleClass,
    classify,
    parse_rules,
    token_ids,
)
from servicetokens.domain.errors import ValidationError
from tests.api.access_helpers import SDK_RULES


def test_every_sdk_selector_has_one_class() -> None:
    assert not (EVALUABLE_SELECTORS & IDENTITY_SELECTORS)
    assert not (EVALUABLE_SELECTORS & UNAVAILABLE_SELECTORS)
    assert not (IDENTITY_SELECTORS & UNAVAILABLE_SELECTORS)
    known = EVALUABLE_SELECTORS | IDENTITY_SELECTORS | UNAVAILABLE_SELECTORS
    sdk_selectors = {next(iter(rule)) for rule in SDK_RULES} | {"service_token"}
    assert sdk_selectors - known == {"a_selector_from_a_newer_sdk"}
    assert len(known) == 26  # the Python SDK's AccessRule union


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        ({"service_token": {"token_id": "x"}}, RuleClass.EVALUABLE),
        ({"any_valid_service_token": {}}, RuleClass.EVALUABLE),
        ({"everyone": {}}, RuleClass.EVALUABLE),
        ({"ip": {"ip": "10.0.0.0/8"}}, RuleClass.EVALUABLE),
        ({"email": {"email": "a@b.c"}}, RuleClass.IDENTITY),
        ({"azureAD": {"id": "x"}}, RuleClass.IDENTITY),
        ({"github-organization": {"name": "x"}}, RuleClass.IDENTITY),
        ({"geo": {"country_code": "US"}}, RuleClass.UNAVAILABLE),
        ({"group": {"id": "g"}}, RuleClass.UNAVAILABLE),
        ({"from_the_future": {}}, RuleClass.UNAVAILABLE),
    ],
)
def test_classify(rule: dict[str, Any], expected: RuleClass) -> None:
    assert classify(rule) is expected


@given(st.lists(st.sampled_from(SDK_RULES), max_size=20))
def test_rules_round_trip_verbatim(rules: list[dict[str, Any]]) -> None:
    parsed = parse_rules(rules, "include")
    assert parsed == rules
    assert parsed is not rules


def test_ip_rules_accept_addresses_and_blocks_of_both_families() -> None:
    for value in ("192.0.2.1", "192.0.2.0/24", "192.0.2.1/24", "2001:db8::/32", "::1"):
        parse_rules([{"ip": {"ip": value}}], "include")
    with pytest.raises(ValidationError, match="is not an address or CIDR block"):
        parse_rules([{"ip": {"ip": "192.0.2.0/40"}}], "include")


def test_token_ids_are_those_service_token_rules_name() -> None:
    rules = [
        {"service_token": {"token_id": "AAA"}},
        {"any_valid_service_token": {}},
        {"email": {"email": "x"}},
    ]
    assert token_ids([rules, [{"service_token": {"token_id": "bbb"}}]]) == {"aaa", "bbb"}


def test_stored_policy_fields_read_back_equal() -> None:
    fields = parse_policy_fields(
        {
            "name": "p",
            "decision": "non_identity",
            "include": SDK_RULES,
            "mfa_config": {"mfa_disabled": True},
        }
    )
    assert PolicyFields.from_stored(fields.as_body()) == fields


def test_an_app_scoped_merge_keeps_what_is_not_sent() -> None:
    stored = parse_policy_fields(
        {"name": "p", "decision": "deny", "include": [{"everyone": {}}], "session_duration": "1h"}
    )
    merged = merge_policy_body(stored, {"precedence": 3, "name": "q"})
    assert (merged.name, merged.decision.value, merged.session_duration) == ("q", "deny", "1h")
    reset = merge_policy_body(stored, {"session_duration": None})
    assert reset.session_duration == "24h"


@pytest.mark.parametrize(
    ("uri", "key"),
    [
        ("App.Example.com", "app.example.com"),
        ("app.example.com/", "app.example.com"),
        ("app.example.com/*", "app.example.com"),
        ("app.example.com.", "app.example.com"),
        ("app.example.com/Admin/", "app.example.com/Admin"),
        ("*.example.com/api/*", "*.example.com/api/*"),
    ],
)
def test_claim_keys(uri: str, key: str) -> None:
    assert claim_key(parse_uri(uri, "domain")) == key


@pytest.mark.parametrize(
    "uri", ["", "https://a.example", "a.example:8443", "a b.example", "a.**.example", "a..b"]
)
def test_malformed_uris(uri: str) -> None:
    with pytest.raises(ValidationError):
        parse_uri(uri, "domain")


def test_destinations_default_from_what_was_sent() -> None:
    assert parse_destinations("a.example", None, None) == (
        [{"type": "public", "uri": "a.example"}],
        ["a.example"],
    )
    destinations, hosted = parse_destinations(
        "a.example", [{"type": "private", "cidr": "10.0.0.0/8"}], None
    )
    assert (destinations, hosted) == ([{"type": "private", "cidr": "10.0.0.0/8"}], [])


def test_policy_items_precedence_and_kinds() -> None:
    items = parse_policy_items(
        ["P1", {"id": "p2", "precedence": 5}, {"name": "n", "decision": "bypass", "include": []}]
    )
    assert [(i.id, i.precedence, i.inline is None) for i in items] == [
        ("p1", 1, True),
        ("p2", 5, True),
        (None, 3, False),
    ]
    with pytest.raises(ValidationError, match="policy precedences must be unique"):
        parse_policy_items(["a", {"id": "b", "precedence": 1}])


def test_organization_merge_validates_the_whole() -> None:
    stored = parse_organization(
        {"name": "o", "auth_domain": "t.example.com"}, stored=None, strict_locked=False
    )
    assert stored["strict_service_token_auth"] is False
    merged = parse_organization({"name": "renamed"}, stored=stored, strict_locked=False)
    assert (merged["name"], merged["auth_domain"]) == ("renamed", "t.example.com")
    with pytest.raises(ValidationError, match="auth_domain is required"):
        parse_organization({"auth_domain": None}, stored=stored, strict_locked=False)
