"""The JWT payload an application issues (§8): audience, issuer, lifetime, identity claims."""

from __future__ import annotations

import time

import jwt as pyjwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from servicetokens.domain.enforcement import issuer, jwt_claims, session_seconds
from tests.unit.enforcement.builders import EVERYONE, app, org, policy, token

AUD = "c0ffee" * 10 + "beef"
APP = app("app.example.com", aud=AUD)
ORG = org()


def test_a_service_token_jwt_has_the_spec_claims() -> None:
    claims = jwt_claims(app=APP, org=ORG, policy=None, token=token("tok-1"), now=1_000)
    assert claims == {
        "type": "app",
        "aud": [AUD],
        "iss": "https://team.cloudflareaccess.com",
        "iat": 1_000,
        "exp": 1_000 + 24 * 3600,
        "common_name": "tok-1.access",
        "sub": "",
    }
    assert "email" not in claims


def test_an_admission_without_a_token_has_no_common_name() -> None:
    claims = jwt_claims(app=APP, org=ORG, policy=None, token=None, now=5)
    assert "common_name" not in claims
    assert claims["sub"] == ""


@pytest.mark.parametrize(
    ("policy_duration", "app_duration", "org_duration", "seconds"),
    [
        ("30m", "24h", "8h", 1800),  # the policy's first
        (None, "2h", "8h", 7200),  # then the app's
        (None, None, "8h", 28800),  # then the organization's
        (None, None, None, 86400),  # then 24 hours
        ("nonsense", "1h30m", None, 5400),  # unusable durations are skipped
        ("0s", "-5m", "90s", 90),
        ("1.5h", None, None, 5400),
    ],
)
def test_lifetime_precedence(
    policy_duration: str | None, app_duration: str | None, org_duration: str | None, seconds: int
) -> None:
    p = policy("non_identity", [EVERYONE], session_duration=policy_duration)
    a = app("app.example.com", p, session_duration=app_duration)
    o = org(session_duration=org_duration)
    assert session_seconds(p, a, o) == seconds
    assert jwt_claims(app=a, org=o, policy=p, token=None, now=0)["exp"] == seconds


def test_the_issuer_is_the_auth_domain_url() -> None:
    assert issuer(org(auth_domain="acme.cloudflareaccess.com")) == (
        "https://acme.cloudflareaccess.com"
    )


def test_signed_claims_verify_with_pyjwt_for_the_app_audience() -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    claims = jwt_claims(app=APP, org=ORG, policy=None, token=token(), now=int(time.time()))
    encoded = pyjwt.encode(claims, key, algorithm="RS256", headers={"kid": "k1"})
    decoded = pyjwt.decode(
        encoded,
        key.public_key(),
        algorithms=["RS256"],
        audience=AUD,
        issuer="https://team.cloudflareaccess.com",
    )
    assert decoded["common_name"] == "tok-1.access"
    with pytest.raises(pyjwt.InvalidAudienceError):
        pyjwt.decode(encoded, key.public_key(), algorithms=["RS256"], audience="other")
