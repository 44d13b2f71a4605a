"""Webhook destinations' shared secrets at rest: sealed under the deployment's key-encryption
key, as the gates' signing keys are wrapped (`signing/kek.py`).

A secret has to be sent as it is (`cf-webhook-auth`) and keys the Standard Webhooks
signature, so it cannot be stored as a digest; sealed, a copy of the database (a backup, a
read replica, an SQL injection elsewhere) does not hand an attacker the means to forge
alerts to the receivers. The KEK is never in the database: on SQLite it is the file beside
it (made on first use, shared with the gates), on PostgreSQL the deployment's
`SERVICETOKENS_KEY_ENCRYPTION_KEY`.

The KEK is found on first use, so commands that never touch a secret do not need one.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import replace

from servicetokens.domain.notifications.destinations import WebhookDestination
from servicetokens.domain.notifications.errors import SecretsUnavailable
from servicetokens.signing.kek import KekError, KeyEncryptionKey
from servicetokens.store.database import Database, Transaction

__all__ = ["WebhookSecrets"]

log = logging.getLogger("servicetokens.usecases.webhook_secrets")


class WebhookSecrets:
    """Seals and opens webhook secrets under the KEK `find` returns (called once)."""

    def __init__(self, find: Callable[[], KeyEncryptionKey]) -> None:
        self._find = find
        self._kek: KeyEncryptionKey | None = None
        self._lock = threading.Lock()

    @classmethod
    def of(cls, database: Database) -> WebhookSecrets:
        """Under the KEK of a process on `database`, found as `database_files.find_kek`
        says (on SQLite, generated beside the file on first use)."""
        from servicetokens.usecases.database_files import find_kek

        url = database.engine.url.render_as_string(hide_password=False)

        def find() -> KeyEncryptionKey:
            found = find_kek(url)
            if found.generated is not None:
                log.warning("generated a key-encryption key in %s: keep it", found.generated)
            return found.kek

        return cls(find)

    def kek(self) -> KeyEncryptionKey:
        """The KEK (found now if not yet); `SecretsUnavailable` when there is none (the fix
        is logged: it names settings, which are the operator's business, not a client's)."""
        with self._lock:
            if self._kek is None:
                try:
                    self._kek = self._find()
                except KekError as exc:
                    log.error("webhook secrets: %s", exc)
                    raise SecretsUnavailable() from None
            return self._kek

    def sealed(self, webhook: WebhookDestination, secret: str | None) -> WebhookDestination:
        """`webhook` holding `secret` (None: none) sealed for its row."""
        if secret is None:
            return replace(webhook, sealed_secret=None, secret_kek_id=None)
        kek = self.kek()
        return replace(
            webhook,
            sealed_secret=kek.seal_webhook_secret(webhook.id, secret),
            secret_kek_id=kek.key_id,
        )

    def open(self, webhook: WebhookDestination) -> str | None:
        """The destination's secret as it was given (None: it has none)."""
        if webhook.sealed_secret is None:
            return None
        if webhook.secret_kek_id is None:  # written before secrets were sealed
            return webhook.sealed_secret
        return self.kek().open_webhook_secret(
            webhook.id, webhook.secret_kek_id, webhook.sealed_secret
        )

    def seal_stored(self, database: Database) -> int:
        """Seal the secrets of rows written before secrets were sealed; how many there
        were (the API does this when it starts)."""

        def unit(tx: Transaction) -> int:
            found = tx.webhooks.unsealed()
            for webhook in found:
                tx.webhooks.save(self.sealed(webhook, webhook.sealed_secret))
            return len(found)

        with database.read() as tx:
            if not tx.webhooks.unsealed():
                return 0
        return database.run_write(unit)
