"""An application's policies (`/{accounts|zones}/{id}/access/apps/{app_id}/policies`).

The list shows every policy the application runs, by precedence: its own (app-scoped,
"legacy") policies and the reusable ones linked to it, so a caller sees the whole order.
Its own policies are created (201), read, merged by PUT (the SDKs may send only
`{"precedence": 2}`) and deleted (202) here; a reusable policy is read here but managed at
`/access/policies` (400 otherwise). Precedences are unique within the application.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from servicetokens.domain.access.policies import (
    AccessPolicy,
    merge_policy_body,
    parse_policy_fields,
    parse_precedence,
)
from servicetokens.domain.access.policy_items import precedences_unique
from servicetokens.domain.access.snapshot import AppWithPolicies
from servicetokens.domain.access.values import request_object
from servicetokens.domain.errors import NotFound, ValidationError
from servicetokens.domain.paging import ListQuery, PageInfo
from servicetokens.domain.permissions import Container, Permission, Principal
from servicetokens.domain.secrets import new_token_id
from servicetokens.store.database import Transaction
from servicetokens.usecases.access_apps import find_app
from servicetokens.usecases.access_common import (
    ControlPlaneWrites,
    PolicyView,
    check_object_id,
    check_token_references,
    expand_apps,
    views_of,
)
from servicetokens.usecases.access_policies import PolicyPage
from servicetokens.usecases.authorization import ContainerRef

__all__ = ["AppPolicies"]

_MANAGED_ELSEWHERE = "reusable policies are managed at /access/policies"


def _find(expanded: AppWithPolicies, policy_id: str) -> PolicyView:
    for view in views_of(expanded):
        if view.policy.id == policy_id:
            return view
    raise NotFound()


def _precedence(body: object) -> int | None:
    value = request_object(body).get("precedence")
    return None if value is None else parse_precedence(value)


class AppPolicies:
    """The policies of one application at a time."""

    def __init__(self, writes: ControlPlaneWrites) -> None:
        self._writes = writes

    def read_page(
        self, principal: Principal, ref: ContainerRef, app_id: str, query: ListQuery
    ) -> PolicyPage:
        """A page of the application's policies by precedence (Read)."""
        container = self._writes.container(principal, ref, Permission.READ)
        with self._writes.database.read() as tx:
            views = views_of(expand_apps(tx, [find_app(tx, container, app_id)])[0])
        start = min(query.offset, len(views))
        page = views[start : start + query.per_page]
        return PolicyPage(page, PageInfo(query.page, query.per_page, len(page), len(views)))

    def get(
        self, principal: Principal, ref: ContainerRef, app_id: str, policy_id: str
    ) -> PolicyView:
        """One of the application's policies, at its precedence there (Read)."""
        container = self._writes.container(principal, ref, Permission.READ)
        with self._writes.database.read() as tx:
            expanded = expand_apps(tx, [find_app(tx, container, app_id)])[0]
        return _find(expanded, check_object_id(policy_id))

    def create(
        self, principal: Principal, ref: ContainerRef, app_id: str, body: object
    ) -> PolicyView:
        """A new app-scoped policy (Write), at the sent `precedence` or after the last."""
        container = self._writes.container(principal, ref, Permission.WRITE)
        fields = parse_policy_fields(body)
        precedence = _precedence(body)
        check_object_id(app_id)

        def unit(tx: Transaction, now: datetime) -> PolicyView:
            app = find_app(tx, container, app_id)
            taken = [view.precedence or 0 for view in views_of(expand_apps(tx, [app])[0])]
            place = (max(taken, default=0) + 1) if precedence is None else precedence
            precedences_unique([*taken, place])
            check_token_references(tx, app.container, fields.token_ids)
            policy = AccessPolicy(new_token_id(), app.container, app.id, place, fields, now, now)
            tx.access_policies.insert(policy)
            self._record(tx, principal, "create", policy, now)
            return PolicyView(policy, precedence=place)

        return self._writes.run(container, unit)

    def update(
        self, principal: Principal, ref: ContainerRef, app_id: str, policy_id: str, body: object
    ) -> PolicyView:
        """Merge the sent fields into one of the application's own policies (Write)."""
        container = self._writes.container(principal, ref, Permission.WRITE)
        precedence = _precedence(body)
        check_object_id(app_id)
        check_object_id(policy_id)

        def unit(tx: Transaction, now: datetime) -> PolicyView:
            stored, others = self._own(tx, container, app_id, policy_id)
            fields = merge_policy_body(stored.fields, body)
            place = stored.precedence if precedence is None else precedence
            precedences_unique([*others, place or 0])
            check_token_references(tx, stored.container, fields.token_ids)
            policy = replace(stored, fields=fields, precedence=place, updated_at=now)
            tx.access_policies.save(policy)
            self._record(tx, principal, "update", policy, now)
            return PolicyView(policy, precedence=place)

        return self._writes.run(container, unit)

    def delete(
        self, principal: Principal, ref: ContainerRef, app_id: str, policy_id: str
    ) -> AccessPolicy:
        """Remove one of the application's own policies (Write)."""
        container = self._writes.container(principal, ref, Permission.WRITE)
        check_object_id(app_id)
        check_object_id(policy_id)

        def unit(tx: Transaction, now: datetime) -> AccessPolicy:
            policy, _ = self._own(tx, container, app_id, policy_id)
            tx.access_policies.delete([policy.id])
            self._record(tx, principal, "delete", policy, now)
            return policy

        return self._writes.run(container, unit)

    @staticmethod
    def _own(
        tx: Transaction, container: Container, app_id: str, policy_id: str
    ) -> tuple[AccessPolicy, list[int]]:
        """The application's own policy `policy_id` and the other policies' precedences;
        400 for a reusable policy linked to it, 404 for one it does not have."""
        app = find_app(tx, container, app_id)
        views = views_of(expand_apps(tx, [app])[0])
        for view in views:
            if view.policy.id == policy_id:
                if view.policy.reusable:
                    raise ValidationError(_MANAGED_ELSEWHERE)
                others = [v.precedence or 0 for v in views if v.policy.id != policy_id]
                return view.policy, others
        raise NotFound()

    def _record(
        self,
        tx: Transaction,
        principal: Principal,
        action: str,
        policy: AccessPolicy,
        now: datetime,
    ) -> None:
        self._writes.record(
            tx,
            principal,
            f"access_app_policy.{action}",
            account_id=policy.account_id,
            target=policy.id,
            now=now,
            app_id=policy.app_id,
            name=policy.fields.name,
            decision=policy.fields.decision.value,
        )
