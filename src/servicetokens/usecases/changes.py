"""The one point every mutation passes through, inside the mutation's own transaction.

`record_token_change` is called by every service-token mutation (create, update, delete,
refresh, rotate): it bumps the container's version (which invalidates every process's list
memo), appends to the change feed (which the gates' caches follow) and writes the audit
entry. `record_control_plane_change` is its sibling for the Access control plane (policies,
applications, organizations): it bumps the account's control-plane version (with NOTIFY on
PostgreSQL, which gates reload their applications by) and writes the audit entry.
`record_operator_change` is the counterpart for the operator's actions: the audit entry and,
when API credentials changed, the credentials version (which every process's cached
principals are checked by). All write in the caller's transaction, so a mutation commits
with its change and its entry or not at all.
"""

from __future__ import annotations

import getpass
from datetime import datetime

from servicetokens.domain.audit import AuditEntry, token_audit
from servicetokens.domain.permissions import Principal
from servicetokens.domain.tokens import ServiceToken
from servicetokens.store.database import Transaction
from servicetokens.usecases.alert_outbox import token_change_alerts

__all__ = [
    "record_control_plane_change",
    "record_notification_change",
    "record_operator_change",
    "record_token_change",
    "record_user_event",
]


def record_token_change(
    tx: Transaction,
    principal: Principal,
    action: str,
    token: ServiceToken,
    *,
    now: datetime,
    count_delta: int = 0,
    previous: ServiceToken | None = None,
    **detail: object,
) -> None:
    """Record that `principal` did `action` (`create`, `update`, `rotate`, …) to `token` at
    `now`: the container's version and token count (moved by `count_delta`), the change
    feed, the audit entry (`service_token.<action>`, with `detail`), and the alerts it
    raises in the outbox (`alert_outbox.token_change_alerts`; `previous` is the token before
    an update, so a disable can be told from other edits)."""
    tx.versions.record_change(token, now=now, count_delta=count_delta)
    tx.audit.add(token_audit(principal, action, token, now=now, **detail))
    token_change_alerts(tx, action, token, previous=previous, now=now)


def record_control_plane_change(
    tx: Transaction,
    principal: Principal,
    action: str,
    *,
    account_id: str,
    target: str,
    now: datetime,
    **detail: object,
) -> None:
    """Record that `principal` did `action` (`access_policy.create`, `access_app.update`,
    `access_organization.update`, …) to `target` (the object's id, or the organization's
    account or zone) in `account_id` at `now`: the account's control-plane version, and the
    audit entry with `detail`."""
    tx.versions.bump_control_plane(account_id)
    tx.audit.add(_entry(principal, action, account_id, target, now, detail))


def record_notification_change(
    tx: Transaction,
    principal: Principal,
    action: str,
    *,
    account_id: str,
    target: str,
    now: datetime,
    **detail: object,
) -> None:
    """Record that `principal` did `action` (`alert_webhook.create`, `alert_policy.update`,
    …) to `target` in `account_id`: the audit entry (nothing caches notification settings,
    so there is no version to move)."""
    tx.audit.add(_entry(principal, action, account_id, target, now, detail))


def _entry(
    principal: Principal,
    action: str,
    account_id: str,
    target: str,
    now: datetime,
    detail: dict[str, object],
) -> AuditEntry:
    """The audit entry of a principal's change to an object of an account."""
    return AuditEntry(
        at=now,
        actor_kind=principal.kind.value,
        actor_id=principal.id,
        action=action,
        account_id=account_id,
        target=target,
        origin=principal.origin,
        detail=detail,
    )


def record_operator_change(
    tx: Transaction,
    action: str,
    *,
    now: datetime,
    account_id: str | None,
    target: str | None = None,
    credentials: bool = False,
    **detail: object,
) -> None:
    """Record an operator's `action` (e.g. `api_token.revoke`) at `now`, with the
    operating-system user as the actor; `credentials` when it changed an API credential
    (bumps the credentials version, so cached principals are read again everywhere)."""
    if credentials:
        tx.versions.bump_credentials()
    tx.audit.add(
        AuditEntry(
            at=now,
            actor_kind="cli",
            actor_id=getpass.getuser(),
            action=action,
            account_id=account_id,
            target=target,
            detail=detail,
        )
    )


def record_user_event(
    tx: Transaction,
    email: str,
    action: str,
    *,
    now: datetime,
    origin: str | None,
    **detail: object,
) -> None:
    """Record a person's own action on their sign-in (`dashboard.sign_in`,
    `dashboard.sign_in_failed`, `dashboard.sign_out`) from `origin` at `now`: the audit
    entry only (no managed object changed)."""
    tx.audit.add(
        AuditEntry(
            at=now,
            actor_kind="user",
            actor_id=email,
            action=action,
            account_id=None,
            origin=origin,
            detail=detail,
        )
    )
