"""The audit log as a person sees it: one account's entries, filtered, for a principal
with Read on the account (the dashboard's audit page and a token's history)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from servicetokens.domain.audit import AuditEntry
from servicetokens.domain.permissions import ContainerKind, Permission, Principal
from servicetokens.store.database import Database
from servicetokens.usecases.authorization import Authorization, ContainerRef

__all__ = ["MAX_AUDIT_ROWS", "AuditFilter", "AuditReading"]

MAX_AUDIT_ROWS = 500


@dataclass(frozen=True, slots=True)
class AuditFilter:
    """Which entries: about one target (a token's id), by one actor, of one action, and
    in [since, until); None leaves a field open."""

    target: str | None = None
    actor_id: str | None = None
    action: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    limit: int = 100


class AuditReading:
    """One account's audit entries, for its readers."""

    def __init__(self, database: Database, authorization: Authorization) -> None:
        self._database = database
        self._authorization = authorization

    def entries(
        self, principal: Principal, account_id: str, where: AuditFilter
    ) -> list[AuditEntry]:
        """The newest matching entries of the account (Read on it), newest first."""
        ref = ContainerRef(ContainerKind.ACCOUNT, account_id, f"/accounts/{account_id}")
        container = self._authorization.require(principal, ref, Permission.READ)
        with self._database.read() as tx:
            found = tx.audit.entries(
                account_id=container.account_id,
                since=where.since,
                until=where.until,
                limit=max(1, min(where.limit, MAX_AUDIT_ROWS)),
                target=where.target,
                actor_id=where.actor_id,
                action=where.action,
            )
        return list(reversed(found))
