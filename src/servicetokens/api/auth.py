"""Credential headers → credential: Bearer API tokens, or X-Auth-Email + X-Auth-Key.

Routes never parse these headers themselves: they declare the credential as a dependency (or,
on the list hot path, call `parse_credential`), and the use cases authenticate it.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from starlette.datastructures import Headers

from servicetokens.domain.credentials import ApiKeyCredential, ApiTokenCredential, Credential
from servicetokens.domain.errors import InvalidHeaders, MissingCredentials
from servicetokens.domain.network import TrustedProxies
from servicetokens.domain.secrets import API_KEY_PATTERN, API_TOKEN_PATTERN
from servicetokens.usecases.facade import UseCases

__all__ = [
    "CurrentCredential",
    "ServiceDep",
    "bearer_token",
    "get_service",
    "origin_of",
    "parse_credential",
    "read_credential",
]

_MAX_EMAIL = 254
_CREDENTIAL_HEADERS = (
    ("authorization", "Authorization"),
    ("x-auth-email", "X-Auth-Email"),
    ("x-auth-key", "X-Auth-Key"),
)


def get_service(request: Request) -> UseCases:
    """The use cases the app was built with."""
    service: UseCases = request.app.state.service
    return service


def bearer_token(request: Request) -> str | None:
    """The Bearer token in `Authorization`, None when absent; 400/6003 when malformed."""
    return _bearer(request.headers)


def _bearer(headers: Headers) -> str | None:
    header = headers.get("authorization")
    if header is None:
        return None
    scheme, _, token = header.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not API_TOKEN_PATTERN.match(token):
        raise InvalidHeaders("Authorization")
    return token


async def read_credential(request: Request) -> Credential:
    """The credential the request presents (400 when missing or malformed; not yet checked)."""
    return parse_credential(request.headers)


def parse_credential(headers: Headers) -> Credential:
    """The credential in these headers (400 when missing or malformed; not yet checked).

    The key pair wins when both kinds are sent, as in Python's SDK; a lone X-Auth-Email or
    X-Auth-Key beside a Bearer token is ignored, as the TypeScript SDK sends every header
    it was configured with.
    """
    # A credential header sent twice is ambiguous: which one would we check? Refuse it.
    for name, label in _CREDENTIAL_HEADERS:
        if len(headers.getlist(name)) > 1:
            raise InvalidHeaders(label)
    email = headers.get("x-auth-email")
    key = headers.get("x-auth-key")
    if email is not None and key is not None:
        email = email.strip()
        if not email or len(email) > _MAX_EMAIL or "@" not in email:
            raise InvalidHeaders("X-Auth-Email")
        key = key.strip()
        if not API_KEY_PATTERN.match(key):
            raise InvalidHeaders("X-Auth-Key")
        return ApiKeyCredential(email, key)
    token = _bearer(headers)
    if token is not None:
        return ApiTokenCredential(token)
    if email is not None or key is not None:
        raise InvalidHeaders("X-Auth-Key" if key is None else "X-Auth-Email")
    raise MissingCredentials()


CurrentCredential = Annotated[Credential, Depends(read_credential)]
"""The credential a route's caller presents."""


def origin_of(request: Request) -> str | None:
    """The caller's network address (a validated IP address), for the audit log: the peer,
    or the client a trusted proxy names in `X-Forwarded-For`."""
    proxies: TrustedProxies = request.app.state.trusted_proxies
    peer = request.client.host if request.client else None
    return proxies.resolve(peer, request.headers.getlist("x-forwarded-for")).client


ServiceDep = Annotated[UseCases, Depends(get_service)]
"""The service layer (the app's `UseCases`)."""
