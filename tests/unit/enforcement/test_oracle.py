"""The engine against a plain reading of the spec: rule lists against their rules one by one,
and `decide` (which skips policies that cannot match and files the rest by token id) against
a decision that runs every policy in order."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from servicetokens.domain.enforcement import (
    AppView,
    OrgView,
    Outcome,
    PolicyView,
    RequestFacts,
    compile_apps,
    decide,
    order_policies,
    policy_matches,
    rule_value,
)
from servicetokens.domain.enforcement.rules import RuleSet
from tests.unit.enforcement.builders import (
    ACCOUNT,
    ANY_TOKEN,
    EVERYONE,
    OTHER_ACCOUNT,
    ZONE,
    app,
    email,
    facts,
    ip,
    org,
    policy,
    service_token,
    token,
)

Rule = Mapping[str, Any]

EVALUABLE_RULE = st.sampled_from(
    [
        EVERYONE,
        ANY_TOKEN,
        service_token("tok-1"),
        service_token("tok-2"),
        service_token("tok-3"),
        ip("198.51.100.0/24"),
        ip("198.51.100.0/28"),
        ip("2001:db8::/32"),
    ]
)
OTHER_RULE = st.sampled_from(
    [email("a@b.c"), {"geo": {"country_code": "XX"}}, {"service_token": {}}]  # last: malformed
)
RULE = st.one_of(EVALUABLE_RULE, EVALUABLE_RULE, EVALUABLE_RULE, OTHER_RULE)
RULES = st.lists(RULE, max_size=4)
TOKEN = st.one_of(
    st.none(),
    st.builds(
        token,
        st.sampled_from(["tok-1", "tok-2", "tok-3", "tok-9"]),
        account_id=st.sampled_from([ACCOUNT, OTHER_ACCOUNT]),
        zone_id=st.sampled_from([None, ZONE, "2" * 32]),
    ),
)
CLIENT = st.sampled_from(["198.51.100.7", "198.51.100.200", "203.0.113.1", "2001:db8::5", None])
REQUEST = st.builds(
    lambda tok, rejected, session, client: facts(
        token=tok if not rejected else None, rejected=rejected, session=session, client_ip=client
    ),
    TOKEN,
    st.booleans(),
    st.booleans(),
    CLIENT,
)
POLICY = st.builds(
    lambda d, inc, req, exc, prec, n: policy(
        d, inc, require=req, exclude=exc, precedence=prec, id=f"p{n}"
    ),
    st.sampled_from(["allow", "deny", "non_identity", "bypass", "unknown"]),
    st.lists(RULE, min_size=1, max_size=4),
    st.lists(RULE, max_size=2),
    st.lists(RULE, max_size=2),
    st.integers(min_value=1, max_value=6),
    st.integers(min_value=0, max_value=999),
)
APP = st.builds(
    lambda policies, zone, redirect_401, preflight: app(
        "app.example.com",
        *policies,
        zone_id=zone,
        service_auth_401_redirect=redirect_401,
        options_preflight_bypass=preflight,
    ),
    st.lists(POLICY, max_size=6, unique_by=lambda p: p.id),
    st.sampled_from([None, ZONE]),
    st.booleans(),
    st.booleans(),
)


def _tri_any(values: list[bool | None]) -> bool | None:
    if any(v is True for v in values):
        return True
    return None if any(v is None for v in values) else False


@settings(max_examples=300, deadline=None)
@given(RULES, REQUEST, st.sampled_from([None, ZONE]))
def test_a_rule_list_is_its_rules_taken_one_by_one(
    rules: list[Rule], request: RequestFacts, zone: str | None
) -> None:
    compiled = RuleSet.of(rules, account_id=ACCOUNT, zone_id=zone)
    values = [rule_value(r, request, account_id=ACCOUNT, zone_id=zone) for r in rules]
    assert compiled.any_value(request) is _tri_any(values)
    assert compiled.all_true(request) is all(v is True for v in values)


def reference(view: AppView, o: OrgView, request: RequestFacts) -> tuple[Outcome, str | None]:
    """§5.4 read plainly: every policy, in §5.2 order, no shortcuts."""
    if request.preflight and view.options_preflight_bypass:
        return Outcome.BYPASS, None
    strict = o.strict_service_token_auth
    if request.credentials_rejected and strict:
        return Outcome.UNAUTHORIZED, None

    def matching(decisions: set[str]) -> PolicyView | None:
        for p in order_policies(view.policies):
            if p.decision in decisions and policy_matches(
                p, request, account_id=view.account_id, zone_id=view.zone_id
            ):
                return p
        return None

    first = matching({"non_identity", "bypass"})
    if first is not None:
        return (Outcome.BYPASS if first.decision == "bypass" else Outcome.ADMIT), first.id
    if request.token is not None and strict:
        return Outcome.FORBIDDEN, None
    then = matching({"allow", "deny"})
    if then is not None and then.decision == "deny":
        return Outcome.FORBIDDEN, then.id
    if request.session and any(p.decision == "allow" for p in view.policies):
        return Outcome.SESSION, None
    return (Outcome.UNAUTHORIZED if view.service_auth_401_redirect else Outcome.REDIRECT), None


@settings(max_examples=500, deadline=None)
@given(APP, REQUEST, st.builds(org, strict=st.booleans()), st.booleans())
def test_decide_agrees_with_running_every_policy_in_order(
    view: AppView, request: RequestFacts, o: OrgView, preflight: bool
) -> None:
    if preflight:
        request = RequestFacts(
            request.host,
            request.path,
            request.client_ip,
            request.token,
            request.credentials_rejected,
            request.session,
            preflight=True,
        )
    got = decide(compile_apps([view]).lookup(request.host, request.path), o, request)
    expected_outcome, expected_policy = reference(view, o, request)
    assert got.outcome is expected_outcome
    assert (None if got.policy is None else got.policy.id) == expected_policy
    assert got.set_cookie is (
        got.outcome is Outcome.ADMIT
        and request.token is not None
        and not o.strict_service_token_auth
    )
