"""The decision on a request (§5.4, §6.1, §6.3): bypass admits without credentials, Service
Auth admits a matching token, Block refuses, Allow never admits a token; strict and
non-strict answers; unmatched requests refused."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st

from servicetokens.domain.enforcement import (
    AppView,
    OrgView,
    Outcome,
    RequestFacts,
    Verdict,
    compile_apps,
    decide,
    enforce,
)
from tests.unit.enforcement.builders import (
    ANY_TOKEN,
    EVERYONE,
    OTHER_ACCOUNT,
    app,
    email,
    facts,
    ip,
    org,
    policy,
    service_token,
    token,
)

A_TOKEN = token("tok-1")
SERVICE_AUTH = policy("non_identity", [service_token("tok-1")], id="sa")
STRICT = org(strict=True)
LAX = org(strict=False)


def verdict(view: AppView, o: OrgView, request: RequestFacts) -> Verdict:
    return enforce(compile_apps([view]), o, request)


def test_unmatched_requests_are_refused_whatever_deny_unmatched_requests_says() -> None:
    for o in (org(deny_unmatched_requests=True), org(deny_unmatched_requests=False), LAX):
        got = verdict(app("app.example.com", SERVICE_AUTH), o, facts("other.example.com"))
        assert (got.outcome, got.status, got.app) == (Outcome.FORBIDDEN, 403, None)
    assert decide(None, LAX, facts(token=A_TOKEN)).status == 403


@pytest.mark.parametrize("o", [STRICT, LAX])
def test_a_matching_service_auth_policy_admits_the_token(o: OrgView) -> None:
    got = verdict(app("app.example.com", SERVICE_AUTH), o, facts(token=A_TOKEN))
    assert got.outcome is Outcome.ADMIT
    assert got.status == 200
    assert got.admitted
    assert got.policy == SERVICE_AUTH
    # strict: no CF_Authorization cookie; non-strict: offered
    assert got.set_cookie is (o is LAX)


def test_strict_refuses_a_valid_token_no_policy_admits_with_403() -> None:
    view = app("app.example.com", SERVICE_AUTH, policy("allow", [EVERYONE], precedence=2))
    got = verdict(view, STRICT, facts(token=token("tok-2")))
    assert (got.outcome, got.status, got.set_cookie) == (Outcome.FORBIDDEN, 403, False)


def test_strict_refuses_credentials_that_do_not_authenticate_with_401_before_any_policy() -> None:
    view = app("app.example.com", policy("bypass", [EVERYONE]))
    got = verdict(view, STRICT, facts(rejected=True))
    assert (got.outcome, got.status) == (Outcome.UNAUTHORIZED, 401)
    # non-strict: treated as absent, so the bypass policy admits
    assert verdict(view, LAX, facts(rejected=True)).outcome is Outcome.BYPASS


def test_bypass_admits_without_credentials_and_without_a_jwt() -> None:
    view = app("app.example.com", policy("bypass", [EVERYONE]))
    for o in (STRICT, LAX):
        for request in (facts(), facts(token=A_TOKEN)):
            got = verdict(view, o, request)
            assert (got.outcome, got.status, got.set_cookie) == (Outcome.BYPASS, 200, False)


def test_service_auth_with_everyone_admits_without_credentials_without_a_cookie() -> None:
    view = app("app.example.com", policy("non_identity", [ip("198.51.100.0/24")]))
    got = verdict(view, LAX, facts(client_ip="198.51.100.7"))
    assert (got.outcome, got.set_cookie) == (Outcome.ADMIT, False)
    assert verdict(view, LAX, facts(client_ip="203.0.113.1")).outcome is Outcome.REDIRECT


def test_allow_never_admits_a_token() -> None:
    view = app(
        "app.example.com", policy("allow", [EVERYONE]), policy("allow", [ANY_TOKEN], precedence=2)
    )
    assert verdict(view, STRICT, facts(token=A_TOKEN)).status == 403
    got = verdict(view, LAX, facts(token=A_TOKEN))
    assert got.outcome is Outcome.REDIRECT  # "an Allow policy 302s the token to login"
    assert got.reason == "allow policy needs a login"


def test_block_refuses_and_cannot_stop_a_token_service_auth_admits() -> None:
    block = policy("deny", [EVERYONE], precedence=1, id="block")
    late_service_auth = policy("non_identity", [ANY_TOKEN], precedence=9, id="sa")
    view = app("app.example.com", block, late_service_auth)
    # Service Auth runs first whatever the precedence: the token passes
    assert verdict(view, LAX, facts(token=A_TOKEN)).outcome is Outcome.ADMIT
    got = verdict(view, LAX, facts())
    assert (got.outcome, got.status, got.policy) == (Outcome.FORBIDDEN, 403, block)
    got = verdict(view, LAX, facts(token=token(account_id=OTHER_ACCOUNT)))
    assert got.status == 403


def test_allow_before_block_stops_the_walk() -> None:
    view = app(
        "app.example.com",
        policy("allow", [EVERYONE], precedence=1),
        policy("deny", [EVERYONE], precedence=2),
    )
    assert verdict(view, LAX, facts()).outcome is Outcome.REDIRECT
    view = app(
        "app.example.com",
        policy("allow", [EVERYONE], precedence=2),
        policy("deny", [EVERYONE], precedence=1),
    )
    assert verdict(view, LAX, facts()).outcome is Outcome.FORBIDDEN


def test_non_strict_refusals_follow_the_app_settings() -> None:
    base: dict[str, Any] = {"aud": "ab" * 32}
    plain = verdict(app("app.example.com", SERVICE_AUTH, **base), LAX, facts(path="/a b?x=1"))
    assert plain.outcome is Outcome.REDIRECT
    assert plain.status == 302
    assert plain.location is not None
    url = urlsplit(plain.location)
    assert (url.scheme, url.netloc) == ("https", "team.cloudflareaccess.com")
    assert url.path == "/cdn-cgi/access/login/app.example.com"
    assert parse_qs(url.query) == {"kid": ["ab" * 32], "redirect_url": ["/a b?x=1"]}

    custom = app("app.example.com", SERVICE_AUTH, custom_non_identity_deny_url="https://x.test/no")
    got = verdict(custom, LAX, facts(token=token("tok-2")))
    assert (got.outcome, got.location) == (Outcome.REDIRECT, "https://x.test/no")

    four01 = app(
        "app.example.com",
        SERVICE_AUTH,
        service_auth_401_redirect=True,
        custom_non_identity_deny_url="https://x.test/no",
    )
    for request in (facts(), facts(token=token("tok-2")), facts(rejected=True)):
        got = verdict(four01, LAX, request)
        assert (got.outcome, got.status, got.location) == (Outcome.UNAUTHORIZED, 401, None)


def test_the_login_redirect_names_the_host_without_its_port() -> None:
    got = verdict(app("app.example.com", SERVICE_AUTH), LAX, facts("APP.example.com:8443"))
    assert got.location is not None
    assert "/login/app.example.com?" in got.location


def test_a_presented_app_jwt_admits_only_where_an_allow_policy_exists() -> None:
    only_service_auth = app("app.example.com", SERVICE_AUTH)
    with_allow = app(
        "app.example.com", SERVICE_AUTH, policy("allow", [email("a@b.c")], precedence=2)
    )
    assert verdict(only_service_auth, LAX, facts(session=True)).outcome is Outcome.REDIRECT
    got = verdict(with_allow, LAX, facts(session=True))
    assert (got.outcome, got.set_cookie) == (Outcome.SESSION, False)
    # strict mode governs requests with credentials: a valid token no policy admits is 403
    assert verdict(with_allow, STRICT, facts(session=True, token=token("tok-2"))).status == 403
    assert verdict(with_allow, STRICT, facts(session=True)).outcome is Outcome.SESSION
    blocked = app(
        "app.example.com", policy("deny", [EVERYONE]), policy("allow", [EVERYONE], precedence=2)
    )
    assert verdict(blocked, LAX, facts(session=True)).status == 403


def test_public_overrides_and_preflights_pass_without_access() -> None:
    destinations: tuple[Mapping[str, Any], ...] = (
        {
            "type": "public",
            "uri": "app.example.com",
            "overrides": [{"behavior": "public", "path_pattern": "/health"}],
        },
    )
    view = app("app.example.com", SERVICE_AUTH, destinations=destinations)
    assert verdict(view, STRICT, facts(path="/health", rejected=True)).outcome is Outcome.BYPASS
    # the override covers exactly /health; without credentials the usual refusal applies
    assert verdict(view, STRICT, facts(path="/health/x")).outcome is Outcome.REDIRECT
    preflight = app("app.example.com", SERVICE_AUTH, options_preflight_bypass=True)
    assert verdict(preflight, STRICT, facts(preflight=True)).outcome is Outcome.BYPASS
    assert verdict(preflight, LAX, facts()).outcome is Outcome.REDIRECT
    assert verdict(view, LAX, facts(preflight=True)).outcome is Outcome.REDIRECT


def test_a_zone_application_refuses_a_token_of_another_zone() -> None:
    view = app("app.example.com", policy("non_identity", [ANY_TOKEN]), zone_id="1" * 32)
    assert verdict(view, STRICT, facts(token=token(zone_id="1" * 32))).outcome is Outcome.ADMIT
    assert verdict(view, STRICT, facts(token=token(zone_id="2" * 32))).status == 403


# --- properties -------------------------------------------------------------------------

RULE = st.sampled_from(
    [
        EVERYONE,
        ANY_TOKEN,
        service_token("tok-1"),
        ip("198.51.100.0/24"),
        email("a@b.c"),
        {"geo": {}},
    ]
)
IDENTITY_RULE = st.sampled_from([email("a@b.c"), {"okta": {"name": "x"}}, {"email_domain": {}}])
DECISION = st.sampled_from(["allow", "deny", "non_identity", "bypass"])
POLICY = st.builds(
    lambda d, inc, req, exc, prec, i: policy(
        d, inc, require=req, exclude=exc, precedence=prec, id=f"p{i}"
    ),
    DECISION,
    st.lists(RULE, min_size=1, max_size=3),
    st.lists(RULE, max_size=2),
    st.lists(RULE, max_size=2),
    st.integers(min_value=1, max_value=5),
    st.integers(min_value=0, max_value=99),
)
REQUEST = st.builds(
    lambda tok, rejected, session, client: facts(
        token=A_TOKEN if tok and not rejected else None,
        rejected=rejected,
        session=session,
        client_ip=client,
    ),
    st.booleans(),
    st.booleans(),
    st.booleans(),
    st.sampled_from(["198.51.100.7", "203.0.113.1", None]),
)
ORG = st.builds(org, strict=st.booleans())


@given(st.lists(POLICY, max_size=5), REQUEST, ORG)
def test_strict_mode_never_offers_a_cookie_and_answers_only_200_401_403(
    policies: list[Any], request: RequestFacts, o: OrgView
) -> None:
    got = verdict(app("app.example.com", *policies), o, request)
    if o.strict_service_token_auth:
        assert not got.set_cookie
        if request.token is not None or request.credentials_rejected:
            assert got.status in (200, 401, 403)
    assert got.set_cookie <= (got.outcome is Outcome.ADMIT and request.token is not None)


@given(
    st.lists(
        st.builds(
            lambda d, inc, i: policy(d, inc, id=f"p{i}", precedence=i),
            DECISION,
            st.lists(IDENTITY_RULE, min_size=1, max_size=3),
            st.integers(1, 9),
        ),
        min_size=1,
        max_size=5,
    ),
    ORG,
)
def test_identity_only_policies_never_admit_a_token(policies: list[Any], o: OrgView) -> None:
    got = verdict(app("app.example.com", *policies), o, facts(token=A_TOKEN))
    assert not got.admitted


@given(st.lists(POLICY, max_size=5), REQUEST, ORG)
def test_only_service_auth_admits_with_a_jwt_and_only_bypass_without(
    policies: list[Any], request: RequestFacts, o: OrgView
) -> None:
    got = verdict(app("app.example.com", *policies), o, request)
    if got.outcome is Outcome.ADMIT:
        assert got.policy is not None
        assert got.policy.decision == "non_identity"
    if got.outcome is Outcome.BYPASS:
        assert got.policy is not None
        assert got.policy.decision == "bypass"
    if got.outcome is Outcome.FORBIDDEN and got.policy is not None:
        assert got.policy.decision == "deny"


@given(st.lists(POLICY, max_size=5), REQUEST, ORG, st.sampled_from(["", "/x", "/a/b"]))
def test_unmatched_hosts_are_always_refused(
    policies: list[Any], request: RequestFacts, o: OrgView, path: str
) -> None:
    index = compile_apps([app("app.example.com", *policies)])
    got = decide(index.lookup("elsewhere.example.com", path), o, request)
    assert (got.outcome, got.app) == (Outcome.FORBIDDEN, None)


def test_facts_cannot_both_authenticate_and_be_rejected() -> None:
    with pytest.raises(ValueError, match="both"):
        facts(token=A_TOKEN, rejected=True)


# --- the shortcuts decide takes (policies filed by token id, never-matching ones skipped) ---


def admitted_by(view: AppView, request: RequestFacts, o: OrgView = STRICT) -> str | None:
    got = verdict(view, o, request)
    return None if got.policy is None else got.policy.id


def test_an_open_policy_listed_before_a_token_policy_still_comes_first() -> None:
    open_first = app(
        "app.example.com",
        policy("non_identity", [ip("198.51.100.0/24")], precedence=1, id="open"),
        policy("non_identity", [service_token("tok-1")], precedence=2, id="listed"),
    )
    assert admitted_by(open_first, facts(token=A_TOKEN)) == "open"
    assert admitted_by(open_first, facts(token=A_TOKEN, client_ip="203.0.113.1")) == "listed"
    listed_first = app(
        "app.example.com",
        policy("bypass", [service_token("tok-1")], precedence=1, id="listed"),
        policy("non_identity", [EVERYONE], precedence=2, id="open"),
    )
    assert admitted_by(listed_first, facts(token=A_TOKEN)) == "listed"
    assert admitted_by(listed_first, facts(token=token("tok-2"))) == "open"
    assert admitted_by(listed_first, facts()) == "open"


def test_a_require_naming_the_token_is_kept() -> None:
    view = app(
        "app.example.com",
        policy("non_identity", [ANY_TOKEN], require=[service_token("tok-1")], id="one"),
        policy(
            "non_identity",
            [ANY_TOKEN],
            require=[service_token("tok-1"), service_token("tok-2")],  # never all true
            precedence=0,
            id="two",
        ),
    )
    assert admitted_by(view, facts(token=A_TOKEN)) == "one"
    assert verdict(view, STRICT, facts(token=token("tok-2"))).status == 403


def test_policies_that_can_never_match_are_skipped_but_still_count_as_allow() -> None:
    never = app(
        "app.example.com",
        policy("allow", [email("a@b.c")], precedence=1),  # identity only: never matches
        policy("non_identity", [EVERYONE], exclude=[{"geo": {}}], precedence=2),
        policy("bypass", [ANY_TOKEN], require=[{"group": {"id": "g"}}], precedence=3),
        policy("deny", [EVERYONE], exclude=[EVERYONE], precedence=4),
    )
    for o in (STRICT, LAX):
        assert not verdict(never, o, facts(token=A_TOKEN)).admitted
        assert not verdict(never, o, facts()).admitted
    # the Allow policy never matches a request here, yet it makes an app JWT reusable
    assert verdict(never, LAX, facts(session=True)).outcome is Outcome.SESSION
