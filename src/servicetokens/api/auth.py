"""Credential headers → principal: Bearer API tokens, or X-Auth-Email + X-Auth-Key.

Routes never parse these headers themselves; they declare the principal as a dependency.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated

from fastapi import Depends, Request

from servicetokens.domain.errors import InvalidHeaders, MissingCredentials
from servicetokens.domain.permissions import Principal
from servicetokens.domain.secrets import API_KEY_PATTERN, API_TOKEN_PATTERN
from servicetokens.service import Service

__all__ = ["CurrentPrincipal", "bearer_token", "get_principal", "get_service"]

_MAX_EMAIL = 254


def get_service(request: Request) -> Service:
    """The service the app was built with."""
    service: Service = request.app.state.service
    return service


def bearer_token(request: Request) -> str | None:
    """The Bearer token in `Authorization`, None when absent; 400/6003 when malformed."""
    header = request.headers.get("authorization")
    if header is None:
        return None
    scheme, _, token = header.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not API_TOKEN_PATTERN.match(token):
        raise InvalidHeaders("Authorization")
    return token


def get_principal(request: Request) -> Principal:
    """Authenticate the request; the principal carries the caller's address for the audit log."""
    principal = _authenticate(request)
    origin = request.client.host if request.client else None
    return replace(principal, origin=origin)


def _authenticate(request: Request) -> Principal:
    """The key pair wins when both kinds are sent (as in Python's SDK)."""
    service = get_service(request)
    email = request.headers.get("x-auth-email")
    key = request.headers.get("x-auth-key")
    if email is not None or key is not None:
        if email is not None and key is not None:
            email = email.strip()
            if not email or len(email) > _MAX_EMAIL or "@" not in email:
                raise InvalidHeaders("X-Auth-Email")
            key = key.strip()
            if not API_KEY_PATTERN.match(key):
                raise InvalidHeaders("X-Auth-Key")
            return service.principal_for_api_key(email, key)
        token = bearer_token(request)
        if token is not None:
            return service.principal_for_api_token(token)
        raise InvalidHeaders("X-Auth-Key" if key is None else "X-Auth-Email")
    token = bearer_token(request)
    if token is None:
        raise MissingCredentials()
    return service.principal_for_api_token(token)


CurrentPrincipal = Annotated[Principal, Depends(get_principal)]
"""The authenticated caller of a route."""

ServiceDep = Annotated[Service, Depends(get_service)]
"""The service layer."""
