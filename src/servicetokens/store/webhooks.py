"""Webhook destinations (`tx.webhooks`): every account's, and their last success/failure."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Row, delete, func, insert, select, update

from servicetokens.domain.clock import from_micros, to_micros
from servicetokens.domain.notifications.destinations import WebhookDestination
from servicetokens.store.dialect import Session
from servicetokens.store.rows import micros_or_none, moment_or_none
from servicetokens.store.schema import alert_webhooks

__all__ = ["WebhookStore"]


def _from_row(row: Row[Any]) -> WebhookDestination:
    return WebhookDestination(
        id=row.id,
        account_id=row.account_id,
        name=row.name,
        url=row.url,
        sealed_secret=row.secret,
        secret_kek_id=row.secret_kek_id,
        type=row.type,
        created_at=from_micros(row.created_at),
        last_success=moment_or_none(row.last_success),
        last_failure=moment_or_none(row.last_failure),
    )


class WebhookStore(Session):
    """Every account's webhook destinations."""

    __slots__ = ()

    def of_account(self, account_id: str) -> list[WebhookDestination]:
        """The account's destinations, oldest first."""
        rows = self._conn.execute(
            select(alert_webhooks)
            .where(alert_webhooks.c.account_id == account_id)
            .order_by(alert_webhooks.c.created_at, alert_webhooks.c.id)
        )
        return [_from_row(row) for row in rows]

    def count(self, account_id: str) -> int:
        """How many destinations the account has."""
        return int(
            self._conn.execute(
                select(func.count())
                .select_from(alert_webhooks)
                .where(alert_webhooks.c.account_id == account_id)
            ).scalar_one()
        )

    def get(self, account_id: str, webhook_id: str) -> WebhookDestination | None:
        """The account's destination with that id."""
        row = self._conn.execute(
            select(alert_webhooks).where(
                alert_webhooks.c.id == webhook_id, alert_webhooks.c.account_id == account_id
            )
        ).first()
        return None if row is None else _from_row(row)

    def by_ids(self, webhook_ids: Iterable[str]) -> dict[str, WebhookDestination]:
        """Destinations by id, whatever their account (the delivery worker's read)."""
        ids = sorted(set(webhook_ids))
        found: dict[str, WebhookDestination] = {}
        for start in range(0, len(ids), 500):
            rows = self._conn.execute(
                select(alert_webhooks).where(alert_webhooks.c.id.in_(ids[start : start + 500]))
            )
            found.update((row.id, _from_row(row)) for row in rows)
        return found

    def insert(self, webhook: WebhookDestination) -> None:
        """Store a new destination."""
        self._conn.execute(
            insert(alert_webhooks),
            {
                "id": webhook.id,
                "account_id": webhook.account_id,
                "name": webhook.name,
                "url": webhook.url,
                "secret": webhook.sealed_secret,
                "secret_kek_id": webhook.secret_kek_id,
                "type": webhook.type,
                "created_at": to_micros(webhook.created_at),
                "last_success": micros_or_none(webhook.last_success),
                "last_failure": micros_or_none(webhook.last_failure),
            },
        )

    def save(self, webhook: WebhookDestination) -> None:
        """Overwrite a destination's name, URL, secret and type."""
        self._conn.execute(
            update(alert_webhooks)
            .where(alert_webhooks.c.id == webhook.id)
            .values(
                name=webhook.name,
                url=webhook.url,
                secret=webhook.sealed_secret,
                secret_kek_id=webhook.secret_kek_id,
                type=webhook.type,
            )
        )

    def unsealed(self) -> list[WebhookDestination]:
        """Destinations whose secret is still stored as it came (written before secrets
        were sealed)."""
        rows = self._conn.execute(
            select(alert_webhooks).where(
                alert_webhooks.c.secret.is_not(None), alert_webhooks.c.secret_kek_id.is_(None)
            )
        )
        return [_from_row(row) for row in rows]

    def delete(self, webhook_id: str) -> None:
        """Remove a destination."""
        self._conn.execute(delete(alert_webhooks).where(alert_webhooks.c.id == webhook_id))

    def record_results(
        self, successes: Mapping[str, datetime], failures: Mapping[str, datetime]
    ) -> None:
        """Move `last_success` / `last_failure` forward (never back) for these ids."""
        for column, moments in (("last_success", successes), ("last_failure", failures)):
            col = alert_webhooks.c[column]
            for webhook_id, at in moments.items():
                micros = to_micros(at)
                self._conn.execute(
                    update(alert_webhooks)
                    .where(alert_webhooks.c.id == webhook_id, col.is_(None) | (col < micros))
                    .values({column: micros})
                )
