"""What a caller presents to the management API, before it is checked."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ApiKeyCredential", "ApiTokenCredential", "Credential"]


@dataclass(frozen=True, slots=True)
class ApiTokenCredential:
    """`Authorization: Bearer <token>`."""

    token: str


@dataclass(frozen=True, slots=True)
class ApiKeyCredential:
    """`X-Auth-Email` + `X-Auth-Key` (a user's global API key)."""

    email: str
    key: str


Credential = ApiTokenCredential | ApiKeyCredential
