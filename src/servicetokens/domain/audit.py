"""Audit entries: who did what to which token, when, and from where. Never a secret."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from servicetokens.domain.permissions import Principal
from servicetokens.domain.tokens import ServiceToken

__all__ = ["AuditEntry", "token_audit"]


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One recorded event."""

    at: datetime
    actor_kind: str
    """`api_token`, `user`, `cli` or `gate`."""
    actor_id: str
    """The API token's id, the user's email, the OS user, or the gate's account."""
    action: str
    """E.g. `service_token.create`, `service_token.rotate`, `gate.auth_failed`."""
    account_id: str | None = None
    target: str | None = None
    """The service token's id, where there is one."""
    origin: str | None = None
    """The caller's network address."""
    detail: Mapping[str, object] = field(default_factory=dict)
    """JSON-ready facts (client id, name, changed fields, reason); never a secret."""


def token_audit(
    principal: Principal,
    action: str,
    token: ServiceToken,
    *,
    now: datetime,
    **detail: object,
) -> AuditEntry:
    """The entry for a principal's mutation of `token`."""
    return AuditEntry(
        at=now,
        actor_kind=principal.kind.value,
        actor_id=principal.id,
        action=f"service_token.{action}",
        account_id=token.container.account_id,
        target=token.id,
        origin=principal.origin,
        detail={
            "client_id": token.client_id,
            "name": token.name,
            "container": f"{token.container.kind.value}/{token.container.id}",
            "client_secret_version": token.client_secret_version,
            **detail,
        },
    )
