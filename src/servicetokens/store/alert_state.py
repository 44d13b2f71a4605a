"""What the scheduled alerts remember (`tx.alert_state`): which policy alerted about which
token at which `expires_at`, and the tokens still to alert about.

A marker is written in the transaction that queues the alert, so a token fires once per
(policy, expires_at): a refresh or a new duration moves `expires_at`, and the token may
fire again when it re-enters the window.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import and_, delete, exists, insert, select

from servicetokens.domain.clock import to_micros
from servicetokens.domain.notifications.policies import NotificationPolicy
from servicetokens.domain.tokens import ServiceToken
from servicetokens.store.dialect import Session
from servicetokens.store.schema import alert_fired, service_tokens
from servicetokens.store.token_rows import token_from_row

__all__ = ["AlertStateStore"]


class AlertStateStore(Session):
    """Fired markers, and the tokens they are about."""

    __slots__ = ()

    def unfired(
        self, policy: NotificationPolicy, *, after: datetime, until: datetime, limit: int
    ) -> list[ServiceToken]:
        """The enabled tokens of the policy's account (and its filter) whose `expires_at`
        lies in (`after`, `until`] and that the policy has not alerted about at that
        `expires_at`; at most `limit`, soonest first."""
        t = service_tokens.c
        fired = exists().where(
            and_(
                alert_fired.c.policy_id == policy.id,
                alert_fired.c.token_id == t.id,
                alert_fired.c.expires_at == t.expires_at,
            )
        )
        statement = select(service_tokens).where(
            t.account_id == policy.account_id,
            t.expires_at > to_micros(after),
            t.expires_at <= to_micros(until),
            t.enabled.is_(True),
            ~fired,
        )
        ids = policy.fields.token_ids
        if ids is not None:
            if not ids:
                return []
            statement = statement.where(t.id.in_(sorted(ids)))
        rows = self._conn.execute(statement.order_by(t.expires_at, t.id).limit(limit))
        return [token_from_row(row) for row in rows]

    def mark_fired(self, policy_id: str, tokens: Sequence[ServiceToken], *, now: datetime) -> None:
        """Remember that the policy alerted about these tokens at their `expires_at`."""
        if tokens:
            self._conn.execute(
                insert(alert_fired),
                [
                    {
                        "policy_id": policy_id,
                        "token_id": token.id,
                        "expires_at": to_micros(token.expires_at),
                        "fired_at": to_micros(now),
                    }
                    for token in tokens
                ],
            )

    def fired_since(self, marker: str, token_id: str, since: datetime) -> bool:
        """Whether alert `marker` (a name, in the policy id's place) fired for the token
        at or after `since` (the once-per-window alerts)."""
        c = alert_fired.c
        found = self._conn.execute(
            select(c.token_id)
            .where(c.policy_id == marker, c.token_id == token_id, c.expires_at >= to_micros(since))
            .limit(1)
        ).first()
        return found is not None

    def mark_token(self, marker: str, token_id: str, *, now: datetime) -> None:
        """Remember that alert `marker` fired for the token at `now`."""
        micros = to_micros(now)
        self._conn.execute(
            insert(alert_fired),
            {"policy_id": marker, "token_id": token_id, "expires_at": micros, "fired_at": micros},
        )

    def forget_policy(self, policy_id: str) -> None:
        """Drop a policy's markers (deleted, or its alert type changed)."""
        self._conn.execute(delete(alert_fired).where(alert_fired.c.policy_id == policy_id))

    def prune(self, before: datetime) -> None:
        """Drop markers written before `before` (their tokens have long expired)."""
        self._conn.execute(delete(alert_fired).where(alert_fired.c.fired_at < to_micros(before)))

    def expiring(
        self, account_id: str, *, after: datetime, until: datetime, limit: int
    ) -> list[ServiceToken]:
        """The account's tokens (its own and its zones') whose `expires_at` lies in
        (`after`, `until`], soonest first (`servicetokens tokens expiring`)."""
        t = service_tokens.c
        rows = self._conn.execute(
            select(service_tokens)
            .where(
                t.account_id == account_id,
                t.expires_at > to_micros(after),
                t.expires_at <= to_micros(until),
            )
            .order_by(t.expires_at, t.id)
            .limit(limit)
        )
        return [token_from_row(row) for row in rows]
