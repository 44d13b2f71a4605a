"""What the control-plane use cases share: id checks, the service-token reference check,
expanding applications with their policies, and the shape of a write.

Every control-plane write runs `ControlPlaneWrites.run`: one write transaction that first
takes the account's control-plane lock (so reference checks see no concurrent change on
PostgreSQL; token deletion takes the same lock), then does its work and records the change
and the audit entry through `usecases.changes.record_control_plane_change`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from servicetokens.domain.access.applications import Application
from servicetokens.domain.access.policies import AccessPolicy
from servicetokens.domain.access.snapshot import AppWithPolicies, LinkedPolicy
from servicetokens.domain.clock import Clock
from servicetokens.domain.errors import NotFound, ValidationError
from servicetokens.domain.permissions import Container, ContainerKind, Permission, Principal
from servicetokens.store.database import Database, Transaction
from servicetokens.usecases.authorization import Authorization, ContainerRef
from servicetokens.usecases.changes import record_control_plane_change

__all__ = [
    "ControlPlaneWrites",
    "PolicyView",
    "assemble",
    "check_object_id",
    "check_token_references",
    "expand_apps",
    "views_of",
]

T = TypeVar("T")

_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


@dataclass(frozen=True, slots=True)
class PolicyView:
    """A policy as a response shows it: with `app_count` (reusable policies at
    `/access/policies`) or with its `precedence` in an application."""

    policy: AccessPolicy
    app_count: int | None = None
    precedence: int | None = None


def check_object_id(object_id: str) -> str:
    """A policy or application id from a path: a malformed one names nothing (404, as an
    unknown one, answered after the caller is authorized)."""
    if not _UUID.match(object_id):
        raise NotFound()
    return object_id


def _may_name(token: Container, owner: Container) -> bool:
    if owner.kind is ContainerKind.ACCOUNT:
        return token.account_id == owner.account_id
    return token == owner or (token.kind is ContainerKind.ACCOUNT and token.id == owner.account_id)


def check_token_references(tx: Transaction, owner: Container, token_ids: Collection[str]) -> None:
    """Refuse (400/12130) rules naming a service token that does not exist where the
    policy may see it: the account's tokens (its own and its zones') for an account's
    policy; the zone's or the owning account's for a zone application's policy."""
    if not token_ids:
        return
    found = tx.tokens.containers_of(token_ids)
    for token_id in sorted(token_ids):
        container = found.get(token_id)
        if container is None or not _may_name(container, owner):
            raise ValidationError(f"service token {token_id} not found")


def expand_apps(tx: Transaction, apps: Sequence[Application]) -> list[AppWithPolicies]:
    """Each application with its policies (linked reusable ones and its own), by
    precedence."""
    if not apps:
        return []
    ids = [app.id for app in apps]
    links = tx.access_apps.links(ids)
    linked_ids = {policy_id for pairs in links.values() for policy_id, _ in pairs}
    reusable: dict[str, AccessPolicy] = {}
    for account_id in {app.account_id for app in apps}:
        reusable.update(tx.access_policies.reusable_by_id(account_id, linked_ids))
    return assemble(apps, links, tx.access_policies.of_apps(ids), reusable)


def assemble(
    apps: Sequence[Application],
    links: Mapping[str, Sequence[tuple[str, int]]],
    scoped: Mapping[str, Sequence[AccessPolicy]],
    reusable: Mapping[str, AccessPolicy],
) -> list[AppWithPolicies]:
    """Applications with their policies, from what was read: each application's links
    (reusable policy id, precedence), its own policies, and the reusable policies by id."""
    expanded = []
    for app in apps:
        policies = [
            LinkedPolicy(reusable[policy_id], precedence)
            for policy_id, precedence in links.get(app.id, ())
            if policy_id in reusable
        ]
        policies += [LinkedPolicy(p, p.precedence or 0) for p in scoped.get(app.id, ())]
        policies.sort(key=lambda linked: (linked.precedence, linked.policy.created_at))
        expanded.append(AppWithPolicies(app, tuple(policies)))
    return expanded


def views_of(app: AppWithPolicies) -> list[PolicyView]:
    """An expanded application's policies as response items."""
    return [PolicyView(linked.policy, precedence=linked.precedence) for linked in app.policies]


class ControlPlaneWrites:
    """Authorized reads and locked, recorded writes of one account's control plane."""

    def __init__(self, database: Database, authorization: Authorization, clock: Clock) -> None:
        self.database = database
        self.authorization = authorization
        self.clock = clock

    def container(self, principal: Principal, ref: ContainerRef, need: Permission) -> Container:
        """The account or zone the request names, once `principal` holds `need` on it."""
        return self.authorization.require(principal, ref, need)

    def run(self, container: Container, unit: Callable[[Transaction, datetime], T]) -> T:
        """`unit(tx, now)` in a write transaction holding the account's control-plane lock."""

        def locked(tx: Transaction) -> T:
            tx.versions.lock_control_plane(container.account_id)
            return unit(tx, self.clock())

        return self.database.run_write(locked)

    @staticmethod
    def record(
        tx: Transaction,
        principal: Principal,
        action: str,
        *,
        account_id: str,
        target: str,
        now: datetime,
        **detail: object,
    ) -> None:
        """The change and its audit entry (`usecases.changes.record_control_plane_change`)."""
        record_control_plane_change(
            tx, principal, action, account_id=account_id, target=target, now=now, **detail
        )
