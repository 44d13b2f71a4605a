"""Notification policies (`tx.alert_policies`)."""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy import Row, delete, func, insert, select, update

from servicetokens.domain.clock import from_micros, to_micros
from servicetokens.domain.notifications.policies import NotificationPolicy, PolicyFields
from servicetokens.store.dialect import Session
from servicetokens.store.schema import alert_policies

__all__ = ["AlertPolicyStore"]

_ORDER = (alert_policies.c.created_at, alert_policies.c.id)


def _body(fields: PolicyFields) -> str:
    return orjson.dumps(
        {
            "name": fields.name,
            "webhooks": list(fields.webhooks),
            "emails": list(fields.emails),
            "description": fields.description,
            "alert_interval": fields.alert_interval,
            "filters": fields.filters,
        }
    ).decode()


def _from_row(row: Row[Any]) -> NotificationPolicy:
    body = orjson.loads(row.body)
    fields = PolicyFields(
        name=body["name"],
        alert_type=row.alert_type,
        enabled=bool(row.enabled),
        webhooks=tuple(body["webhooks"]),
        emails=tuple(body["emails"]),
        description=body["description"],
        alert_interval=body["alert_interval"],
        filters=body["filters"],
    )
    return NotificationPolicy(
        row.id, row.account_id, fields, from_micros(row.created_at), from_micros(row.modified_at)
    )


def _values(policy: NotificationPolicy) -> dict[str, Any]:
    return {
        "alert_type": policy.fields.alert_type,
        "enabled": policy.fields.enabled,
        "body": _body(policy.fields),
        "modified_at": to_micros(policy.modified),
    }


class AlertPolicyStore(Session):
    """Every account's notification policies."""

    __slots__ = ()

    def of_account(self, account_id: str) -> list[NotificationPolicy]:
        """The account's policies, oldest first."""
        rows = self._conn.execute(
            select(alert_policies)
            .where(alert_policies.c.account_id == account_id)
            .order_by(*_ORDER)
        )
        return [_from_row(row) for row in rows]

    def count(self, account_id: str) -> int:
        """How many policies the account has."""
        return int(
            self._conn.execute(
                select(func.count())
                .select_from(alert_policies)
                .where(alert_policies.c.account_id == account_id)
            ).scalar_one()
        )

    def get(self, account_id: str, policy_id: str) -> NotificationPolicy | None:
        """The account's policy with that id."""
        row = self._conn.execute(
            select(alert_policies).where(
                alert_policies.c.id == policy_id, alert_policies.c.account_id == account_id
            )
        ).first()
        return None if row is None else _from_row(row)

    def enabled_for(self, account_id: str, alert_type: str) -> list[NotificationPolicy]:
        """The account's enabled policies of one alert type (an indexed lookup: every token
        change that can raise an alert asks it)."""
        rows = self._conn.execute(
            select(alert_policies)
            .where(
                alert_policies.c.alert_type == alert_type,
                alert_policies.c.enabled.is_(True),
                alert_policies.c.account_id == account_id,
            )
            .order_by(*_ORDER)
        )
        return [_from_row(row) for row in rows]

    def enabled_of_type(self, alert_type: str) -> list[NotificationPolicy]:
        """Every account's enabled policies of one alert type (the scheduled checks)."""
        rows = self._conn.execute(
            select(alert_policies)
            .where(alert_policies.c.alert_type == alert_type, alert_policies.c.enabled.is_(True))
            .order_by(alert_policies.c.account_id, *_ORDER)
        )
        return [_from_row(row) for row in rows]

    def insert(self, policy: NotificationPolicy) -> None:
        """Store a new policy."""
        values = _values(policy)
        values.update(
            id=policy.id, account_id=policy.account_id, created_at=to_micros(policy.created)
        )
        self._conn.execute(insert(alert_policies), values)

    def save(self, policy: NotificationPolicy) -> None:
        """Overwrite a policy's fields."""
        self._conn.execute(
            update(alert_policies).where(alert_policies.c.id == policy.id).values(**_values(policy))
        )

    def delete(self, policy_id: str) -> None:
        """Remove a policy."""
        self._conn.execute(delete(alert_policies).where(alert_policies.c.id == policy_id))
