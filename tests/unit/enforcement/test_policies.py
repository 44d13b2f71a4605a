"""One policy's verdict (§5.3: include any, require all, exclude none, failing closed) and the
order an application's policies run in (§5.2)."""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from servicetokens.domain.enforcement import PolicyView, order_policies, policy_matches
from tests.unit.enforcement.builders import (
    ACCOUNT,
    ANY_TOKEN,
    EVERYONE,
    email,
    facts,
    ip,
    policy,
    service_token,
    token,
)

Rule = Mapping[str, Any]
A_TOKEN = token("tok-1")
GEO: Rule = {"geo": {"country_code": "RU"}}
GROUP: Rule = {"group": {"id": "g"}}


def matches(p: PolicyView, *, with_token: bool = True, client_ip: str = "192.0.2.10") -> bool:
    request = facts(token=A_TOKEN if with_token else None, client_ip=client_ip)
    return policy_matches(p, request, account_id=ACCOUNT)


def test_include_is_any_of() -> None:
    assert matches(policy("non_identity", [service_token("other"), ANY_TOKEN]))
    assert not matches(policy("non_identity", [service_token("other"), email("a@b.c")]))


def test_require_is_all_of() -> None:
    p = policy("non_identity", [ANY_TOKEN], require=[ip("192.0.2.0/24"), service_token("tok-1")])
    assert matches(p)
    assert not matches(p, client_ip="203.0.113.1")


def test_exclude_is_none_of() -> None:
    p = policy("non_identity", [ANY_TOKEN], exclude=[ip("203.0.113.0/24")])
    assert matches(p)
    assert not matches(p, client_ip="203.0.113.1")


def test_an_empty_include_never_matches() -> None:
    assert not matches(policy("non_identity", []))


def test_identity_rules_never_fire_even_in_exclude() -> None:
    # `exclude: [{email: ...}]` never fires for a token on Cloudflare either.
    assert matches(policy("non_identity", [ANY_TOKEN], exclude=[email("a@example.com")]))
    assert not matches(policy("non_identity", [ANY_TOKEN], require=[email("a@example.com")]))


@pytest.mark.parametrize("unavailable", [GEO, GROUP, {"ip_list": {"id": "l"}}, {"new": {}}])
def test_unavailable_rules_fail_closed_wherever_they_are(unavailable: Rule) -> None:
    assert not matches(policy("non_identity", [unavailable]))
    assert not matches(policy("non_identity", [ANY_TOKEN], require=[unavailable]))
    # an exclude the gate cannot evaluate refuses instead of silently widening access
    assert not matches(policy("non_identity", [ANY_TOKEN], exclude=[unavailable]))
    assert matches(policy("non_identity", [unavailable, ANY_TOKEN]))


def test_an_unknown_decision_never_matches() -> None:
    assert not matches(policy("maybe", [EVERYONE]))


def test_the_spec_order_example() -> None:
    # "Allow A, Block B, Service Auth C, Bypass D, Allow E runs as C > D > A > B > E"
    listed = [
        policy("allow", [EVERYONE], precedence=1, id="A"),
        policy("deny", [EVERYONE], precedence=2, id="B"),
        policy("non_identity", [EVERYONE], precedence=3, id="C"),
        policy("bypass", [EVERYONE], precedence=4, id="D"),
        policy("allow", [EVERYONE], precedence=5, id="E"),
    ]
    assert [p.id for p in order_policies(listed)] == ["C", "D", "A", "B", "E"]
    assert [p.id for p in order_policies(reversed(listed))] == ["C", "D", "A", "B", "E"]


# --- properties -------------------------------------------------------------------------

EVALUABLE = st.sampled_from(
    [EVERYONE, ANY_TOKEN, service_token("tok-1"), service_token("tok-2"), ip("192.0.2.0/24")]
)
IDENTITY = st.sampled_from([email("a@example.com"), {"okta": {"name": "n"}}, {"saml": {}}])
UNAVAILABLE = st.sampled_from([GEO, GROUP, {"certificate": {}}, {"mystery": {}}])
ANY_RULE = st.one_of(EVALUABLE, IDENTITY, UNAVAILABLE)
RULES = st.lists(ANY_RULE, max_size=4)
DECISIONS = st.sampled_from(["allow", "deny", "non_identity", "bypass"])


@given(DECISIONS, st.lists(ANY_RULE, min_size=1, max_size=4), RULES, RULES, st.booleans())
def test_a_true_exclude_always_wins(
    decision: str, include: list[Rule], require: list[Rule], exclude: list[Rule], tok: bool
) -> None:
    for winner in (EVERYONE, GEO):  # evaluated true, or cannot tell
        p = policy(decision, include, require=require, exclude=[*exclude, winner])
        assert not matches(p, with_token=tok)


@given(DECISIONS, st.lists(IDENTITY, min_size=1, max_size=4), RULES, RULES, st.booleans())
def test_an_identity_only_include_never_matches(
    decision: str, include: list[Rule], require: list[Rule], exclude: list[Rule], tok: bool
) -> None:
    assert not matches(policy(decision, include, require=require, exclude=exclude), with_token=tok)


@given(DECISIONS, st.lists(ANY_RULE, min_size=1, max_size=4), RULES, RULES, UNAVAILABLE)
def test_adding_an_unavailable_rule_never_widens_a_policy(
    decision: str, include: list[Rule], require: list[Rule], exclude: list[Rule], extra: Rule
) -> None:
    base = matches(policy(decision, include, require=require, exclude=exclude))
    for widened in (
        policy(decision, include, require=[*require, extra], exclude=exclude),
        policy(decision, include, require=require, exclude=[*exclude, extra]),
        policy(decision, [*include, extra], require=require, exclude=exclude),
    ):
        assert matches(widened) <= base


@given(
    st.lists(
        st.tuples(DECISIONS, st.integers(min_value=0, max_value=5), st.uuids()),
        max_size=8,
        unique_by=lambda t: t[2],
    ),
    st.randoms(use_true_random=False),
)
def test_the_order_is_groups_then_precedence_whatever_the_listing(
    rows: list[tuple[str, int, Any]], rnd: Any
) -> None:
    listed = [policy(d, [EVERYONE], precedence=p, id=str(u)) for d, p, u in rows]
    ordered = order_policies(listed)
    shuffled = list(listed)
    rnd.shuffle(shuffled)
    assert order_policies(shuffled) == ordered
    groups = [p.decision not in ("non_identity", "bypass") for p in ordered]
    assert groups == sorted(groups)  # Service Auth and Bypass strictly first
    for (g1, first), (g2, second) in itertools.pairwise(zip(groups, ordered, strict=True)):
        if g1 == g2:
            assert first.precedence <= second.precedence
