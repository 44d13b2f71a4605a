"""The audit log: written in the transaction of the change it records."""

from __future__ import annotations

import json
from datetime import datetime

from sqlalchemy import delete, func, insert, select

from servicetokens.domain.audit import AuditEntry, detail_json, storable
from servicetokens.domain.clock import from_micros, to_micros
from servicetokens.store.dialect import Session
from servicetokens.store.schema import audit_log

__all__ = ["AuditStore"]

_INSERT_AUDIT = insert(audit_log)


class AuditStore(Session):
    """Audit entries: appended, listed, pruned."""

    __slots__ = ()

    def add(self, entry: AuditEntry) -> None:
        """Record an audit entry (in the caller's transaction: it commits with the change).

        Every field is first bounded to what the columns hold (`domain.audit.storable`), so
        no entry, however hostile its values, can make the write fail."""
        entry = storable(entry)
        self._conn.execute(
            _INSERT_AUDIT,
            dict(
                at=to_micros(entry.at),
                account_id=entry.account_id,
                actor_kind=entry.actor_kind,
                actor_id=entry.actor_id,
                action=entry.action,
                target=entry.target,
                origin=entry.origin,
                detail=detail_json(entry),
            ),
        )

    def entries(
        self,
        *,
        account_id: str | None,
        since: datetime | None,
        limit: int,
        until: datetime | None = None,
        target: str | None = None,
        actor_id: str | None = None,
        action: str | None = None,
    ) -> list[AuditEntry]:
        """The newest `limit` entries (optionally of one account, at or after `since`,
        before `until`, about one `target`, by one actor, of one action), oldest first."""
        statement = select(audit_log).order_by(audit_log.c.at.desc(), audit_log.c.id.desc())
        if account_id is not None:
            statement = statement.where(audit_log.c.account_id == account_id)
        if since is not None:
            statement = statement.where(audit_log.c.at >= to_micros(since))
        if until is not None:
            statement = statement.where(audit_log.c.at < to_micros(until))
        if target is not None:
            statement = statement.where(audit_log.c.target == target)
        if actor_id is not None:
            statement = statement.where(audit_log.c.actor_id == actor_id)
        if action is not None:
            statement = statement.where(audit_log.c.action == action)
        rows = list(self._conn.execute(statement.limit(limit)))
        return [
            AuditEntry(
                at=from_micros(row.at),
                actor_kind=row.actor_kind,
                actor_id=row.actor_id,
                action=row.action,
                account_id=row.account_id,
                target=row.target,
                origin=row.origin,
                detail=json.loads(row.detail),
            )
            for row in reversed(rows)
        ]

    def count_since(self, account_id: str, action: str, target: str, since: datetime) -> int:
        """How many entries of `action` on `target` the account has at or after `since`
        (read through the account's time index: a few minutes of one account's entries)."""
        c = audit_log.c
        return int(
            self._conn.execute(
                select(func.count())
                .select_from(audit_log)
                .where(
                    c.account_id == account_id,
                    c.at >= to_micros(since),
                    c.action == action,
                    c.target == target,
                )
            ).scalar_one()
        )

    def prune(self, before: datetime, *, limit: int) -> int:
        """Delete at most `limit` entries older than `before`; how many were deleted.

        One bounded statement, so a large backlog never holds the write lock for long:
        callers repeat it, one short transaction each, until it deletes fewer than `limit`.
        """
        oldest = select(audit_log.c.id).where(audit_log.c.at < to_micros(before)).limit(limit)
        result = self._conn.execute(delete(audit_log).where(audit_log.c.id.in_(oldest)))
        return int(result.rowcount)
