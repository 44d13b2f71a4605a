"""Small builders of the engine's inputs for the enforcement tests."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from servicetokens.domain.enforcement import (
    AppView,
    OrgView,
    PolicyView,
    RequestFacts,
    TokenFacts,
)

__all__ = [
    "ACCOUNT",
    "ANY_TOKEN",
    "EVERYONE",
    "OTHER_ACCOUNT",
    "ZONE",
    "app",
    "email",
    "facts",
    "ip",
    "org",
    "policy",
    "service_token",
    "token",
]

ACCOUNT = "0" * 31 + "a"
OTHER_ACCOUNT = "0" * 31 + "b"
ZONE = "1" * 32

EVERYONE: Mapping[str, Any] = {"everyone": {}}
ANY_TOKEN: Mapping[str, Any] = {"any_valid_service_token": {}}


def service_token(token_id: str) -> Mapping[str, Any]:
    return {"service_token": {"token_id": token_id}}


def ip(cidr: str) -> Mapping[str, Any]:
    return {"ip": {"ip": cidr}}


def email(address: str) -> Mapping[str, Any]:
    return {"email": {"email": address}}


def policy(
    decision: str,
    include: Sequence[Mapping[str, Any]],
    *,
    require: Sequence[Mapping[str, Any]] = (),
    exclude: Sequence[Mapping[str, Any]] = (),
    precedence: int = 1,
    id: str | None = None,
    session_duration: str | None = None,
) -> PolicyView:
    return PolicyView(
        id=id or f"{decision}-{precedence}",
        decision=decision,
        precedence=precedence,
        include=tuple(include),
        require=tuple(require),
        exclude=tuple(exclude),
        session_duration=session_duration,
    )


def app(
    domain: str = "app.example.com",
    *policies: PolicyView,
    id: str = "app-1",
    **fields: Any,
) -> AppView:
    fields.setdefault("account_id", ACCOUNT)
    fields.setdefault("aud", (id.encode().hex() * 64)[:64])
    return AppView(id=id, domain=domain, policies=tuple(policies), **fields)


def token(
    name: str = "tok-1", *, account_id: str = ACCOUNT, zone_id: str | None = None
) -> TokenFacts:
    """A valid token whose id is `name` (its client id is `<name>.access`)."""
    return TokenFacts(
        token_id=name, client_id=f"{name}.access", account_id=account_id, zone_id=zone_id
    )


def org(*, strict: bool = True, **fields: Any) -> OrgView:
    fields.setdefault("auth_domain", "team.cloudflareaccess.com")
    return OrgView(strict_service_token_auth=strict, **fields)


def facts(
    host: str = "app.example.com",
    path: str = "/",
    *,
    client_ip: str | None = "198.51.100.7",
    token: TokenFacts | None = None,
    rejected: bool = False,
    session: bool = False,
    preflight: bool = False,
) -> RequestFacts:
    return RequestFacts(
        host=host,
        path=path,
        client_ip=client_ip,
        token=token,
        credentials_rejected=rejected,
        session=session,
        preflight=preflight,
    )
