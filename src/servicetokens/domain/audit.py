"""Audit entries: who did what to which token, when, and from where. Never a secret."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime

from servicetokens.domain.network import parse_ip
from servicetokens.domain.permissions import Principal
from servicetokens.domain.tokens import ServiceToken

__all__ = [
    "AUDIT_FIELD_LIMITS",
    "MAX_DETAIL_CHARS",
    "AuditEntry",
    "detail_json",
    "storable",
    "token_audit",
]

AUDIT_FIELD_LIMITS = {
    "account_id": 32,
    "actor_kind": 16,
    "actor_id": 254,
    "action": 64,
    "target": 64,
    "origin": 64,
}
"""The most characters each text field of a stored entry holds (the audit_log columns)."""

MAX_DETAIL_CHARS = 16_384
"""The longest `detail` JSON stored; a longer one is replaced by a marker and a prefix."""


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


def _bounded_text(text: str, limit: int) -> str:
    # PostgreSQL text cannot hold NUL, and neither engine can encode a lone surrogate:
    # either would make the whole write fail, so both become U+FFFD.
    clean = text.replace("\x00", "\ufffd")
    if not clean.isascii():
        clean = "".join("\ufffd" if "\ud800" <= c <= "\udfff" else c for c in clean)
    return clean[:limit]


def storable(entry: AuditEntry) -> AuditEntry:
    """`entry` with every field within what storage holds, so no entry can fail a write.

    Text fields are cut to `AUDIT_FIELD_LIMITS`, with NUL and unencodable characters
    replaced; an origin that is not an IP address is dropped (None).
    """
    limits = AUDIT_FIELD_LIMITS

    def optional(text: str | None, name: str) -> str | None:
        return None if text is None else _bounded_text(text, limits[name])

    return replace(
        entry,
        account_id=optional(entry.account_id, "account_id"),
        actor_kind=_bounded_text(entry.actor_kind, limits["actor_kind"]),
        actor_id=_bounded_text(entry.actor_id, limits["actor_id"]),
        action=_bounded_text(entry.action, limits["action"]),
        target=optional(entry.target, "target"),
        origin=parse_ip(entry.origin),
    )


def detail_json(entry: AuditEntry) -> str:
    """`entry.detail` as the JSON text that is stored: ASCII only (so no NUL or surrogate
    reaches the database), at most `MAX_DETAIL_CHARS`, always valid JSON."""
    try:
        text = json.dumps(dict(entry.detail), sort_keys=True, default=str)
    except (TypeError, ValueError):  # keys of mixed types, a cycle
        return json.dumps({"detail_unserialisable": True})
    if len(text) > MAX_DETAIL_CHARS:
        # Escaping at most sextuples a character, so the marker stays within the bound.
        return json.dumps({"detail_truncated": text[: MAX_DETAIL_CHARS // 8]})
    return text
