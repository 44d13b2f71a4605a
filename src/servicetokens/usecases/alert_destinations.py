"""Webhook destinations (`/accounts/{account_id}/alerting/v3/destinations/webhooks`):
list, get, create, update, delete, and the test message.

A create, or an update that changes the URL or the secret, first sends the test message
Cloudflare sends, and is refused (400/17907) unless the destination answers 2xx; the
target rules are checked before (400/17908) and again, after DNS, by the send itself.
Deleting a destination removes it from the account's policies and cancels what was still
to be delivered to it.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from http import HTTPStatus

from servicetokens.domain.notifications.destinations import (
    WebhookDestination,
    alerting_id,
    new_alerting_id,
    parse_webhook_fields,
)
from servicetokens.domain.notifications.errors import (
    InvalidAlertRequest,
    InvalidWebhookUrl,
    LimitReached,
    WebhookNotFound,
    WebhookTestFailed,
)
from servicetokens.domain.notifications.payloads import TEST_MESSAGE
from servicetokens.domain.notifications.signatures import signed_headers
from servicetokens.domain.notifications.targets import parse_target
from servicetokens.domain.permissions import Permission, Principal
from servicetokens.store.database import Transaction
from servicetokens.usecases.alert_common import NotificationScope
from servicetokens.usecases.authorization import ContainerRef
from servicetokens.usecases.changes import record_notification_change
from servicetokens.usecases.webhook_secrets import WebhookSecrets
from servicetokens.webhooks.sender import SendResult

__all__ = ["WebhookDestinations"]


def _stored(tx: Transaction, account_id: str, webhook_id: str) -> WebhookDestination:
    found = alerting_id(webhook_id)
    webhook = None if found is None else tx.webhooks.get(account_id, found)
    if webhook is None:
        raise WebhookNotFound()
    return webhook


def _origin(url: str) -> tuple[str, str, int]:
    target = parse_target(url)
    return target.scheme, target.host, target.port


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


class WebhookDestinations:
    """The account's webhook destinations."""

    def __init__(self, scope: NotificationScope) -> None:
        self._scope = scope

    @property
    def secrets(self) -> WebhookSecrets:
        """How destinations' secrets are sealed at rest."""
        return self._scope.secrets

    def of_account(self, principal: Principal, ref: ContainerRef) -> list[WebhookDestination]:
        """Every destination of the account, oldest first (Read)."""
        account = self._scope.account(principal, ref, Permission.READ)
        with self._scope.database.read() as tx:
            return tx.webhooks.of_account(account.account_id)

    def get(self, principal: Principal, ref: ContainerRef, webhook_id: str) -> WebhookDestination:
        """One destination (Read); 404/17903 when the account has none such."""
        account = self._scope.account(principal, ref, Permission.READ)
        with self._scope.database.read() as tx:
            return _stored(tx, account.account_id, webhook_id)

    def send_test(self, url: str, secret: str | None) -> SendResult:
        """Send the test message to `url` now, signed as every message is."""
        now = self._scope.clock()
        headers = signed_headers(
            delivery_id=new_alerting_id(),
            timestamp=int(now.timestamp()),
            body=TEST_MESSAGE,
            secret=secret,
        )
        return self._scope.poster(url, TEST_MESSAGE, headers)

    def test_stored(
        self, principal: Principal, ref: ContainerRef, webhook_id: str
    ) -> tuple[WebhookDestination, SendResult]:
        """The test message to one of the account's destinations, signed with its secret
        (Write: it sends traffic on the account's behalf); 404/17903 when there is none."""
        account = self._scope.account(principal, ref, Permission.WRITE)
        with self._scope.database.read() as tx:
            webhook = _stored(tx, account.account_id, webhook_id)
        return webhook, self.send_test(webhook.url, self._scope.secrets.open(webhook))

    def _test(self, url: str, secret: str | None) -> None:
        result = self.send_test(url, secret)
        if result.refused is not None:
            raise InvalidWebhookUrl(result.refused)
        if result.status is not None and 200 <= result.status < 300:
            return
        if result.status is not None:
            status = result.status
            raise WebhookTestFailed(f" with status code {status} {status} {_reason(status)}")
        raise WebhookTestFailed(f": {result.error}")

    def _check_room(self, tx: Transaction, account_id: str) -> None:
        most = self._scope.limits.webhooks
        if tx.webhooks.count(account_id) >= most:
            raise LimitReached(f"an account may have at most {most} webhook destinations")

    def create(self, principal: Principal, ref: ContainerRef, body: object) -> WebhookDestination:
        """A new destination (Write), once its URL passes the rules and the test."""
        account = self._scope.account(principal, ref, Permission.WRITE)
        fields = parse_webhook_fields(body)
        self._scope.rules.check_port(fields.target)
        with self._scope.database.read() as tx:  # before the test message, so no POST
            self._check_room(tx, account.account_id)
        self._test(fields.target.url, fields.secret or None)

        def unit(tx: Transaction, now: datetime) -> WebhookDestination:
            self._check_room(tx, account.account_id)  # again: another create may have won
            fresh = WebhookDestination(
                id=new_alerting_id(),
                account_id=account.account_id,
                name=fields.name,
                url=fields.target.url,
                sealed_secret=None,
                secret_kek_id=None,
                type=fields.type,
                created_at=now,
            )
            webhook = self._scope.secrets.sealed(fresh, fields.secret or None)
            tx.webhooks.insert(webhook)
            record_notification_change(
                tx,
                principal,
                "alert_webhook.create",
                account_id=account.account_id,
                target=webhook.id,
                now=now,
                name=webhook.name,
            )
            return webhook

        return self._scope.write(unit, account_id=account.account_id)

    def update(
        self, principal: Principal, ref: ContainerRef, webhook_id: str, body: object
    ) -> WebhookDestination:
        """Change a destination's name, URL or secret (Write): an omitted secret is kept,
        `""` clears it; a URL on another origin (scheme, host, port) must say its secret
        again, so the stored one never travels to a server it was not given for; a new
        URL or secret is tested first, and a failed test changes nothing."""
        account = self._scope.account(principal, ref, Permission.WRITE)
        fields = parse_webhook_fields(body)
        secrets = self._scope.secrets
        with self._scope.database.read() as tx:
            stored = _stored(tx, account.account_id, webhook_id)
        kept = secrets.open(stored)
        if (
            fields.secret is None
            and kept is not None
            and _origin(fields.target.url) != _origin(stored.url)
        ):
            raise InvalidAlertRequest(
                'a url on another origin needs "secret" again ("" for none): the stored '
                "secret is only sent where it was given"
            )
        secret = kept if fields.secret is None else (fields.secret or None)
        if fields.target.url != stored.url or secret != kept:
            self._scope.rules.check_port(fields.target)
            self._test(fields.target.url, secret)

        def unit(tx: Transaction, now: datetime) -> WebhookDestination:
            current = _stored(tx, account.account_id, webhook_id)
            changed = replace(current, name=fields.name, url=fields.target.url, type=fields.type)
            webhook = secrets.sealed(changed, secret)
            tx.webhooks.save(webhook)
            record_notification_change(
                tx,
                principal,
                "alert_webhook.update",
                account_id=account.account_id,
                target=webhook.id,
                now=now,
                name=webhook.name,
                url_changed=webhook.url != current.url,
                secret_changed=secret != secrets.open(current),
            )
            return webhook

        return self._scope.write(unit, account_id=account.account_id)

    def delete(self, principal: Principal, ref: ContainerRef, webhook_id: str) -> None:
        """Remove a destination (Write): from every policy of the account too, and its
        open deliveries are cancelled."""
        account = self._scope.account(principal, ref, Permission.WRITE)

        def unit(tx: Transaction, now: datetime) -> None:
            webhook = _stored(tx, account.account_id, webhook_id)
            for policy in tx.alert_policies.of_account(account.account_id):
                if webhook.id in policy.fields.webhooks:
                    kept = tuple(w for w in policy.fields.webhooks if w != webhook.id)
                    tx.alert_policies.save(
                        replace(policy, fields=replace(policy.fields, webhooks=kept), modified=now)
                    )
            tx.outbox.cancel_for_webhook(webhook.id)
            tx.webhooks.delete(webhook.id)
            record_notification_change(
                tx,
                principal,
                "alert_webhook.delete",
                account_id=account.account_id,
                target=webhook.id,
                now=now,
                name=webhook.name,
            )

        self._scope.write(unit, account_id=account.account_id)

    def seal_stored(self) -> int:
        """Seal the secrets of destinations stored before secrets were sealed (the API
        does it when it starts); how many there were."""
        return self._scope.secrets.seal_stored(self._scope.database)

    def test_as_operator(
        self, webhook_id: str, *, account_id: str
    ) -> tuple[WebhookDestination, SendResult]:
        """`servicetokens notifications test`: the test message to a destination of
        `account_id` (the operator's command, like the other CLI actions; no API
        credential); 404/17903 when that account has none such."""
        with self._scope.database.read() as tx:
            webhook = _stored(tx, account_id, webhook_id)
        return webhook, self.send_test(webhook.url, self._scope.secrets.open(webhook))
