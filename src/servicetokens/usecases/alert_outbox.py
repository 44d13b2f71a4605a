"""Putting alerts in the outbox: one delivery per destination of every enabled policy of
the event's account and type that covers the token, written in the caller's transaction.

`token_change_alerts` is what `changes.record_token_change` calls for every token
mutation, so a rotate, disable, delete or inactivity action commits with its alerts or not
at all. The scheduled alerts (`expiry_alerts.py`) queue theirs through `queue_event` too.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from servicetokens.domain.notifications.alert_types import (
    INACTIVE_ACTION,
    TOKEN_DELETED,
    TOKEN_DISABLED,
    TOKEN_ROTATED,
)
from servicetokens.domain.notifications.delivery import Delivery, DeliveryStatus
from servicetokens.domain.notifications.destinations import new_alerting_id
from servicetokens.domain.notifications.payloads import (
    AlertEvent,
    lifecycle_event,
    render_payload,
)
from servicetokens.domain.notifications.policies import NotificationPolicy
from servicetokens.domain.tokens import ServiceToken
from servicetokens.store.database import Transaction

__all__ = ["queue_event", "token_change_alerts"]


def queue_event(
    tx: Transaction,
    event: AlertEvent,
    *,
    now: datetime,
    policies: Sequence[NotificationPolicy] | None = None,
) -> int:
    """Queue `event` for `policies` (default: the account's enabled ones of its type) that
    cover its token; how many deliveries were queued. Email mechanisms queue nothing (they
    are stored, not delivered: docs/compatibility.md)."""
    if policies is None:
        policies = tx.alert_policies.enabled_for(event.account_id, event.alert_type)
    covering = [p for p in policies if p.fields.covers(event.token_id)]
    if not covering:
        return 0
    destinations = tx.webhooks.by_ids({w for p in covering for w in p.fields.webhooks})
    deliveries = []
    for policy in covering:
        for webhook_id in policy.fields.webhooks:
            destination = destinations.get(webhook_id)
            if destination is None or destination.account_id != event.account_id:
                continue
            body = render_payload(
                event,
                destination_name=destination.name,
                policy_id=policy.id,
                policy_name=policy.fields.name,
                now=now,
            )
            deliveries.append(
                Delivery(
                    id=new_alerting_id(),
                    account_id=event.account_id,
                    webhook_id=webhook_id,
                    policy_id=policy.id,
                    policy_name=policy.fields.name,
                    description=policy.fields.description,
                    alert_type=event.alert_type,
                    correlation_id=event.correlation_id,
                    alert_event=event.event,
                    body=body,
                    status=DeliveryStatus.PENDING,
                    created_at=now,
                    next_attempt_at=now,
                )
            )
    tx.outbox.add(deliveries)
    return len(deliveries)


def _events(
    action: str, token: ServiceToken, previous: ServiceToken | None, now: datetime
) -> list[AlertEvent]:
    if action in ("rotate", "update_rotate"):
        return [lifecycle_event(TOKEN_ROTATED, token, now=now)]
    if action == "delete":
        return [lifecycle_event(TOKEN_DELETED, token, now=now)]
    if action == "inactivity_disable":
        return [
            lifecycle_event(INACTIVE_ACTION, token, now=now, action="disabled"),
            lifecycle_event(TOKEN_DISABLED, token, now=now),
        ]
    if action == "inactivity_delete":
        return [
            lifecycle_event(INACTIVE_ACTION, token, now=now, action="deleted"),
            lifecycle_event(TOKEN_DELETED, token, now=now),
        ]
    if previous is not None and previous.enabled and not token.enabled:
        return [lifecycle_event(TOKEN_DISABLED, token, now=now)]
    return []


def token_change_alerts(
    tx: Transaction,
    action: str,
    token: ServiceToken,
    *,
    previous: ServiceToken | None,
    now: datetime,
) -> int:
    """Queue the extension alerts a token mutation raises (rotated, disabled, deleted,
    inactivity action); creates and refreshes raise none here (the expiring alert is the
    scheduled job's)."""
    return sum(queue_event(tx, event, now=now) for event in _events(action, token, previous, now))
