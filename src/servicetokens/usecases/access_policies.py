"""Reusable Access policies (`/accounts/{account_id}/access/policies`): list, get, create,
update (a whole replacement) and delete (refused while an application links the policy).

`app_count` is read from the links, so it is exact at all times.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from servicetokens.domain.access.policies import AccessPolicy, parse_policy_fields
from servicetokens.domain.errors import Conflict, NotFound
from servicetokens.domain.paging import ListQuery, PageInfo
from servicetokens.domain.permissions import Container, Permission, Principal
from servicetokens.domain.secrets import new_token_id
from servicetokens.store.database import Transaction
from servicetokens.usecases.access_common import (
    ControlPlaneWrites,
    PolicyView,
    check_object_id,
    check_token_references,
)
from servicetokens.usecases.authorization import ContainerRef

__all__ = ["PolicyPage", "ReusablePolicies"]


@dataclass(frozen=True, slots=True)
class PolicyPage:
    """One page of policies and its `result_info`."""

    policies: list[PolicyView]
    info: PageInfo


def _reusable(tx: Transaction, container: Container, policy_id: str) -> AccessPolicy:
    policy = tx.access_policies.get(container.account_id, check_object_id(policy_id))
    if policy is None or not policy.reusable:
        raise NotFound()
    return policy


def _audit(policy: AccessPolicy) -> dict[str, object]:
    return {"name": policy.fields.name, "decision": policy.fields.decision.value}


class ReusablePolicies:
    """The account's reusable policies."""

    def __init__(self, writes: ControlPlaneWrites) -> None:
        self._writes = writes

    def read_page(self, principal: Principal, ref: ContainerRef, query: ListQuery) -> PolicyPage:
        """A page of the account's reusable policies, oldest first (Read)."""
        container = self._writes.container(principal, ref, Permission.READ)
        with self._writes.database.read() as tx:
            total = tx.access_policies.reusable_count(container.account_id)
            policies = []
            if not query.past_any_end and query.offset < total:
                policies = tx.access_policies.reusable_page(
                    container.account_id, offset=query.offset, limit=query.per_page
                )
            counts = tx.access_apps.link_counts([p.id for p in policies])
        views = [PolicyView(p, app_count=counts[p.id]) for p in policies]
        return PolicyPage(views, PageInfo(query.page, query.per_page, len(views), total))

    def get(self, principal: Principal, ref: ContainerRef, policy_id: str) -> PolicyView:
        """One reusable policy with its `app_count` (Read); 404 if the account has none such."""
        container = self._writes.container(principal, ref, Permission.READ)
        with self._writes.database.read() as tx:
            policy = _reusable(tx, container, policy_id)
            count = tx.access_apps.link_counts([policy.id])[policy.id]
        return PolicyView(policy, app_count=count)

    def create(self, principal: Principal, ref: ContainerRef, body: object) -> PolicyView:
        """A new reusable policy (Write); the service tokens its rules name must exist."""
        container = self._writes.container(principal, ref, Permission.WRITE)
        fields = parse_policy_fields(body)

        def unit(tx: Transaction, now: datetime) -> PolicyView:
            check_token_references(tx, container, fields.token_ids)
            policy = AccessPolicy(new_token_id(), container, None, None, fields, now, now)
            tx.access_policies.insert(policy)
            self._writes.record(
                tx,
                principal,
                "access_policy.create",
                account_id=container.account_id,
                target=policy.id,
                now=now,
                **_audit(policy),
            )
            return PolicyView(policy, app_count=0)

        return self._writes.run(container, unit)

    def update(
        self, principal: Principal, ref: ContainerRef, policy_id: str, body: object
    ) -> PolicyView:
        """Replace a reusable policy's fields (Write): omitted optional fields take their
        defaults; its id, creation time and links stay. Every application linking it uses
        the new version."""
        container = self._writes.container(principal, ref, Permission.WRITE)
        fields = parse_policy_fields(body)
        check_object_id(policy_id)

        def unit(tx: Transaction, now: datetime) -> PolicyView:
            stored = _reusable(tx, container, policy_id)
            check_token_references(tx, container, fields.token_ids)
            policy = replace(stored, fields=fields, updated_at=now)
            tx.access_policies.save(policy)
            self._writes.record(
                tx,
                principal,
                "access_policy.update",
                account_id=container.account_id,
                target=policy.id,
                now=now,
                **_audit(policy),
            )
            return PolicyView(policy, app_count=tx.access_apps.link_counts([policy.id])[policy.id])

        return self._writes.run(container, unit)

    def delete(self, principal: Principal, ref: ContainerRef, policy_id: str) -> AccessPolicy:
        """Remove a reusable policy (Write); 409 while any application links it."""
        container = self._writes.container(principal, ref, Permission.WRITE)
        check_object_id(policy_id)

        def unit(tx: Transaction, now: datetime) -> AccessPolicy:
            policy = _reusable(tx, container, policy_id)
            if tx.access_apps.link_counts([policy.id])[policy.id]:
                raise Conflict("policy is used by one or more applications")
            tx.access_policies.delete([policy.id])
            self._writes.record(
                tx,
                principal,
                "access_policy.delete",
                account_id=container.account_id,
                target=policy.id,
                now=now,
                **_audit(policy),
            )
            return policy

        return self._writes.run(container, unit)
