"""The notification history (`tx.alert_history`): the account's deliveries, newest first."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select

from servicetokens.domain.clock import to_micros
from servicetokens.domain.notifications.delivery import Delivery
from servicetokens.store.dialect import Session
from servicetokens.store.outbox import delivery_from_row
from servicetokens.store.schema import alert_deliveries

__all__ = ["AlertHistoryStore"]


class AlertHistoryStore(Session):
    """Every account's delivery history."""

    __slots__ = ()

    def _where(
        self, account_id: str, since: datetime | None, before: datetime | None, status: str | None
    ) -> list[object]:
        c = alert_deliveries.c
        where: list[object] = [c.account_id == account_id]
        if since is not None:
            where.append(c.created_at >= to_micros(since))
        if before is not None:
            where.append(c.created_at < to_micros(before))
        if status is not None:
            where.append(c.status == status)
        return where

    def page(
        self,
        account_id: str,
        *,
        since: datetime | None,
        before: datetime | None,
        status: str | None,
        offset: int,
        limit: int,
    ) -> tuple[list[Delivery], int]:
        """One page (newest first, ties by id) and how many match in all."""
        where = self._where(account_id, since, before, status)
        total = int(
            self._conn.execute(
                select(func.count()).select_from(alert_deliveries).where(*where)  # type: ignore[arg-type]
            ).scalar_one()
        )
        rows = self._conn.execute(
            select(alert_deliveries)
            .where(*where)  # type: ignore[arg-type]
            .order_by(alert_deliveries.c.created_at.desc(), alert_deliveries.c.id.desc())
            .offset(offset)
            .limit(limit)
        )
        return [delivery_from_row(row) for row in rows], total
