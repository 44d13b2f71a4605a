"""Notification policies (`/accounts/{account_id}/alerting/v3/policies`) and the
read-only alerting resources: available alerts, eligible destinations, history.

A policy's webhooks must be the account's own (400/17904). Email mechanisms are kept and
shown but never sent; the response says so in `messages` (code 17901). Changing a
policy's alert type forgets which tokens it already alerted about.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from servicetokens.domain.notifications.alert_types import CATALOGUE, ELIGIBILITY
from servicetokens.domain.notifications.delivery import Delivery
from servicetokens.domain.notifications.destinations import alerting_id, new_alerting_id
from servicetokens.domain.notifications.errors import (
    InvalidWebhookId,
    LimitReached,
    PolicyNotFound,
)
from servicetokens.domain.notifications.history import HistoryQuery
from servicetokens.domain.notifications.policies import (
    NotificationPolicy,
    PolicyFields,
    apply_update,
    parse_policy_create,
)
from servicetokens.domain.paging import PageInfo
from servicetokens.domain.permissions import Permission, Principal
from servicetokens.store.database import Transaction
from servicetokens.usecases.alert_common import NotificationScope
from servicetokens.usecases.authorization import ContainerRef
from servicetokens.usecases.changes import record_notification_change

__all__ = ["EMAIL_NOTICE", "HistoryPage", "NotificationPolicies", "PolicyWrite"]

EMAIL_NOTICE = {
    "code": 17901,
    "message": "email mechanisms are stored but not delivered by this server",
}


@dataclass(frozen=True, slots=True)
class PolicyWrite:
    """A stored policy and the notices its write earned (`messages`)."""

    policy: NotificationPolicy
    messages: list[dict[str, object]]


@dataclass(frozen=True, slots=True)
class HistoryPage:
    """One page of the history, newest first."""

    deliveries: list[Delivery]
    info: PageInfo


def _stored(tx: Transaction, account_id: str, policy_id: str) -> NotificationPolicy:
    found = alerting_id(policy_id)
    policy = None if found is None else tx.alert_policies.get(account_id, found)
    if policy is None:
        raise PolicyNotFound()
    return policy


def _check_webhooks(tx: Transaction, account_id: str, fields: PolicyFields) -> None:
    known = tx.webhooks.by_ids(fields.webhooks)
    for webhook_id in fields.webhooks:
        webhook = known.get(webhook_id)
        if webhook is None or webhook.account_id != account_id:
            raise InvalidWebhookId(webhook_id)


def _notices(fields: PolicyFields) -> list[dict[str, object]]:
    return [dict(EMAIL_NOTICE)] if fields.emails else []


class NotificationPolicies:
    """The account's notification policies, and what the API tells about alerting."""

    def __init__(self, scope: NotificationScope) -> None:
        self._scope = scope

    def of_account(self, principal: Principal, ref: ContainerRef) -> list[NotificationPolicy]:
        """Every policy of the account, oldest first (Read)."""
        account = self._scope.account(principal, ref, Permission.READ)
        with self._scope.database.read() as tx:
            return tx.alert_policies.of_account(account.account_id)

    def get(self, principal: Principal, ref: ContainerRef, policy_id: str) -> NotificationPolicy:
        """One policy (Read); 404/17902 when the account has none such."""
        account = self._scope.account(principal, ref, Permission.READ)
        with self._scope.database.read() as tx:
            return _stored(tx, account.account_id, policy_id)

    def create(self, principal: Principal, ref: ContainerRef, body: object) -> PolicyWrite:
        """A new policy (Write)."""
        account = self._scope.account(principal, ref, Permission.WRITE)
        fields = parse_policy_create(body)

        def unit(tx: Transaction, now: datetime) -> PolicyWrite:
            most = self._scope.limits.policies
            if tx.alert_policies.count(account.account_id) >= most:
                raise LimitReached(f"an account may have at most {most} notification policies")
            _check_webhooks(tx, account.account_id, fields)
            policy = NotificationPolicy(new_alerting_id(), account.account_id, fields, now, now)
            tx.alert_policies.insert(policy)
            self._record(tx, principal, "create", policy, now)
            return PolicyWrite(policy, _notices(fields))

        return self._scope.write(unit, account_id=account.account_id)

    def update(
        self, principal: Principal, ref: ContainerRef, policy_id: str, body: object
    ) -> PolicyWrite:
        """Change the fields the body carries (Write; PUT is partial, as the SDKs send it)."""
        account = self._scope.account(principal, ref, Permission.WRITE)

        def unit(tx: Transaction, now: datetime) -> PolicyWrite:
            stored = _stored(tx, account.account_id, policy_id)
            fields = apply_update(stored.fields, body)
            _check_webhooks(tx, account.account_id, fields)
            policy = NotificationPolicy(stored.id, stored.account_id, fields, stored.created, now)
            tx.alert_policies.save(policy)
            if fields.alert_type != stored.fields.alert_type:
                tx.alert_state.forget_policy(policy.id)
            self._record(tx, principal, "update", policy, now)
            return PolicyWrite(policy, _notices(fields))

        return self._scope.write(unit, account_id=account.account_id)

    def delete(self, principal: Principal, ref: ContainerRef, policy_id: str) -> None:
        """Remove a policy (Write); what it queued is still delivered."""
        account = self._scope.account(principal, ref, Permission.WRITE)

        def unit(tx: Transaction, now: datetime) -> None:
            policy = _stored(tx, account.account_id, policy_id)
            tx.alert_policies.delete(policy.id)
            tx.alert_state.forget_policy(policy.id)
            self._record(tx, principal, "delete", policy, now)

        self._scope.write(unit, account_id=account.account_id)

    @staticmethod
    def _record(
        tx: Transaction,
        principal: Principal,
        action: str,
        policy: NotificationPolicy,
        now: datetime,
    ) -> None:
        record_notification_change(
            tx,
            principal,
            f"alert_policy.{action}",
            account_id=policy.account_id,
            target=policy.id,
            now=now,
            name=policy.fields.name,
            alert_type=policy.fields.alert_type,
            enabled=policy.fields.enabled,
        )

    def available_alerts(
        self, principal: Principal, ref: ContainerRef
    ) -> dict[str, list[dict[str, object]]]:
        """The served alert types by category (Read)."""
        self._scope.account(principal, ref, Permission.READ)
        return dict(CATALOGUE)

    def eligible(
        self, principal: Principal, ref: ContainerRef
    ) -> dict[str, list[dict[str, object]]]:
        """Which mechanisms a policy may use (Read)."""
        self._scope.account(principal, ref, Permission.READ)
        return dict(ELIGIBILITY)

    def history(self, principal: Principal, ref: ContainerRef, query: HistoryQuery) -> HistoryPage:
        """A page of the account's deliveries, newest first (Read); a page past the end is
        empty (the SDKs stop on one)."""
        account = self._scope.account(principal, ref, Permission.READ)
        with self._scope.database.read() as tx:
            deliveries, total = tx.alert_history.page(
                account.account_id,
                since=query.since,
                before=query.before,
                status=query.status,
                offset=query.offset,
                limit=query.per_page,
            )
        info = PageInfo(query.page, query.per_page, len(deliveries), total)
        return HistoryPage(deliveries, info)
