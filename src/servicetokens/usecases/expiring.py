"""`servicetokens tokens expiring`: an account's tokens whose `expires_at` falls within a
window from now, soonest first, for scripts and cron (an operator's query, like the rest
of the CLI: no API credential)."""

from __future__ import annotations

from datetime import timedelta

from servicetokens.domain.errors import NotFound
from servicetokens.domain.notifications.payloads import EXPIRY_LEAD
from servicetokens.domain.permissions import ContainerKind
from servicetokens.domain.tokens import ServiceToken
from servicetokens.usecases.alert_common import NotificationScope

__all__ = ["ExpiringTokens"]

_LIMIT = 100_000


class ExpiringTokens:
    """Which tokens expire soon."""

    def __init__(self, scope: NotificationScope) -> None:
        self._scope = scope

    def within(
        self, account_id: str, window: timedelta = EXPIRY_LEAD, *, limit: int = _LIMIT
    ) -> list[ServiceToken]:
        """The account's tokens (its own and its zones') expiring after now and at most
        `window` from now; 404 for an unknown account."""
        now = self._scope.clock()
        with self._scope.database.read() as tx:
            if tx.containers.get(ContainerKind.ACCOUNT, account_id) is None:
                raise NotFound()
            return tx.alert_state.expiring(account_id, after=now, until=now + window, limit=limit)
