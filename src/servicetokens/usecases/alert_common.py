"""What the notification use cases share: the account a request names (alerting is
account-scoped only), a write transaction, and the check of a destination's URL."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TypeVar

from servicetokens.domain.clock import Clock
from servicetokens.domain.notifications.limits import AlertLimits
from servicetokens.domain.notifications.targets import TargetRules
from servicetokens.domain.permissions import Container, Permission, Principal
from servicetokens.store.database import Database, Transaction
from servicetokens.usecases.authorization import Authorization, ContainerRef
from servicetokens.usecases.webhook_secrets import WebhookSecrets
from servicetokens.webhooks.sender import SendResult, post_once

__all__ = ["NotificationScope", "Poster", "default_poster"]

T = TypeVar("T")

Poster = Callable[[str, bytes, dict[str, str]], SendResult]
"""Sends one message now: URL, body, headers → result (the test message)."""

TEST_TIMEOUT = 10.0
"""Seconds the test message of a new or changed destination may take."""


def default_poster(rules: TargetRules) -> Poster:
    """A `Poster` that sends through `webhooks.sender` under `rules`."""

    def post(url: str, body: bytes, headers: dict[str, str]) -> SendResult:
        return post_once(rules, url, body, headers, timeout=TEST_TIMEOUT)

    return post


class NotificationScope:
    """Authorized access to one account's notification settings."""

    def __init__(
        self,
        database: Database,
        authorization: Authorization,
        clock: Clock,
        *,
        rules: TargetRules,
        poster: Poster | None = None,
        secrets: WebhookSecrets | None = None,
        limits: AlertLimits | None = None,
    ) -> None:
        self.database = database
        self.authorization = authorization
        self.clock = clock
        self.rules = rules
        self.poster = poster or default_poster(rules)
        self.secrets = secrets or WebhookSecrets.of(database)
        """Seals and opens destinations' secrets (under the deployment's KEK)."""
        self.limits = limits or AlertLimits()
        """The per-account caps on destinations and policies."""

    def account(self, principal: Principal, ref: ContainerRef, need: Permission) -> Container:
        """The account the request names, once `principal` holds `need` on it."""
        return self.authorization.require(principal, ref, need)

    def write(self, unit: Callable[[Transaction, datetime], T], *, account_id: str) -> T:
        """`unit(tx, now)` in a committed write transaction holding the account's
        notifications lock: the caps on destinations and policies, and a policy's check that
        its destinations exist, see no concurrent create or delete (PostgreSQL)."""

        def locked(tx: Transaction) -> T:
            tx.versions.lock_notifications(account_id)
            return unit(tx, self.clock())

        return self.database.run_write(locked)
