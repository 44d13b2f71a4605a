"""What a caller presents to the management API, and the stored credentials it is checked by."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from servicetokens.domain.permissions import ContainerKind, Permission

__all__ = ["ApiKeyCredential", "ApiToken", "ApiTokenCredential", "Credential", "User"]


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


@dataclass(frozen=True, slots=True)
class ApiToken:
    """A stored API token (for the management API): its one grant and its standing."""

    id: str
    name: str
    scope: ContainerKind
    scope_id: str
    permission: Permission
    status: str
    expires_at: datetime | None
    created_at: datetime | None = None
    last_used_at: datetime | None = None
    """Written behind by the API processes: a few seconds stale at most."""


@dataclass(frozen=True, slots=True)
class User:
    """A user who authenticates with X-Auth-Email + X-Auth-Key."""

    email: str
    api_key_digest: bytes
    account_ids: tuple[str, ...]
