"""The claims of the JWT an application issues when it admits a request (spec §8); the gate
adds its own bookkeeping claims, picks the key and signs.

For a service token: `type: "app"`, `aud: [<app aud tag>]`, `iss: "https://<auth_domain>"`,
`iat`, `exp`, `common_name: <client id>`, `sub: ""`, and no `email`. A Service Auth admission
without a token (an `everyone` or `ip` rule) gets the same claims without `common_name`.

Lifetime: the admitting policy's `session_duration` if it has a usable one, else the
application's, else the organization's, else 24 hours. A duration that does not parse as a
Go duration, or is not positive, is skipped.
"""

from __future__ import annotations

from typing import Any

from servicetokens.domain.durations import DurationError, parse_go_duration
from servicetokens.domain.enforcement.views import AppView, OrgView, PolicyView, TokenFacts

__all__ = ["DEFAULT_SESSION_SECONDS", "issuer", "jwt_claims", "session_seconds"]

DEFAULT_SESSION_SECONDS = 24 * 3600
_NANOS = 1_000_000_000


def _seconds(duration: str | None) -> int | None:
    if not duration:
        return None
    try:
        nanos = parse_go_duration(duration)
    except DurationError:
        return None
    seconds = nanos // _NANOS
    return seconds if seconds > 0 else None


def session_seconds(policy: PolicyView | None, app: AppView, org: OrgView) -> int:
    """How long a JWT issued for `app` (admitted by `policy`) lives, in whole seconds."""
    for duration in (
        None if policy is None else policy.session_duration,
        app.session_duration,
        org.session_duration,
    ):
        seconds = _seconds(duration)
        if seconds is not None:
            return seconds
    return DEFAULT_SESSION_SECONDS


def issuer(org: OrgView) -> str:
    """The `iss` claim: `https://<auth_domain>`."""
    return f"https://{org.auth_domain}"


def jwt_claims(
    *,
    app: AppView,
    org: OrgView,
    policy: PolicyView | None,
    token: TokenFacts | None,
    now: int,
) -> dict[str, Any]:
    """The payload of the app JWT for a request admitted at epoch second `now`."""
    claims: dict[str, Any] = {
        "type": "app",
        "aud": [app.aud],
        "iss": issuer(org),
        "iat": now,
        "exp": now + session_seconds(policy, app, org),
        "sub": "",
    }
    if token is not None:
        claims["common_name"] = token.client_id
    return claims
