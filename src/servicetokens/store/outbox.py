"""The delivery outbox (`tx.outbox`): rows written with the change that caused them, claimed
by the one delivery worker, and updated with every attempt; and the worker's lease.

A row is open while `next_attempt_at` is set. Claiming a row moves its `next_attempt_at` to
the end of the claim (`lease_until`): a holder that crashes mid-send leaves it to be sent
again then (at least once), and no other claim takes it before.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import Row, delete, func, insert, select, update

from servicetokens.domain.clock import from_micros, to_micros
from servicetokens.domain.notifications.delivery import Attempt, Delivery, DeliveryStatus
from servicetokens.store.dialect import Session
from servicetokens.store.rows import micros_or_none, moment_or_none
from servicetokens.store.schema import alert_deliveries, worker_leases

__all__ = ["OutboxStore", "RecordedAttempt", "delivery_from_row"]


def _attempts(text: str) -> tuple[Attempt, ...]:
    return tuple(
        Attempt(
            at=from_micros(item["at"]),
            status=item["status"],
            latency_ms=item["latency_ms"],
            error=item["error"],
        )
        for item in orjson.loads(text)
    )


def _attempt_log(attempts: Iterable[Attempt]) -> str:
    return orjson.dumps(
        [
            {
                "at": to_micros(a.at),
                "status": a.status,
                "latency_ms": a.latency_ms,
                "error": a.error,
            }
            for a in attempts
        ]
    ).decode()


def delivery_from_row(row: Row[Any]) -> Delivery:
    """A stored row as a `Delivery`."""
    return Delivery(
        id=row.id,
        account_id=row.account_id,
        webhook_id=row.webhook_id,
        policy_id=row.policy_id,
        policy_name=row.policy_name,
        description=row.description,
        alert_type=row.alert_type,
        correlation_id=row.correlation_id,
        alert_event=row.alert_event,
        body=bytes(row.body),
        status=DeliveryStatus(row.status),
        created_at=from_micros(row.created_at),
        next_attempt_at=moment_or_none(row.next_attempt_at),
        attempts=_attempts(row.attempt_log),
    )


@dataclass(frozen=True, slots=True)
class RecordedAttempt:
    """An attempt's outcome as the worker records it."""

    delivery: Delivery
    attempt: Attempt
    status: DeliveryStatus
    next_attempt_at: datetime | None


class OutboxStore(Session):
    """Every account's deliveries, as the worker sees them."""

    __slots__ = ()

    def add(self, deliveries: Sequence[Delivery]) -> None:
        """Queue new deliveries (in the caller's transaction)."""
        if not deliveries:
            return
        self._conn.execute(
            insert(alert_deliveries),
            [
                {
                    "id": d.id,
                    "account_id": d.account_id,
                    "webhook_id": d.webhook_id,
                    "policy_id": d.policy_id,
                    "policy_name": d.policy_name,
                    "description": d.description,
                    "alert_type": d.alert_type,
                    "correlation_id": d.correlation_id,
                    "alert_event": d.alert_event,
                    "body": d.body,
                    "status": d.status.value,
                    "created_at": to_micros(d.created_at),
                    "next_attempt_at": micros_or_none(d.next_attempt_at),
                    "attempts": len(d.attempts),
                    "attempt_log": _attempt_log(d.attempts),
                }
                for d in deliveries
            ],
        )

    def claim_due(
        self,
        now: datetime,
        *,
        until: datetime,
        limit: int,
        per_destination: int = 4,
        per_account: int = 16,
        busy_destinations: Mapping[str, int] | None = None,
        busy_accounts: Mapping[str, int] | None = None,
    ) -> list[Delivery]:
        """Up to `limit` open deliveries due at `now`, claimed until `until` (their
        `next_attempt_at` moves there): oldest due first, but no destination more than
        `per_destination` and no account more than `per_account`, counting what is still
        in flight (`busy_*`), so one account's backlog cannot fill a claim."""
        c = alert_deliveries.c
        in_destination = (
            select(
                c.id,
                c.account_id,
                c.webhook_id,
                c.next_attempt_at,
                func.row_number()
                .over(partition_by=c.webhook_id, order_by=(c.next_attempt_at, c.id))
                .label("rank"),
            )
            .where(c.next_attempt_at <= to_micros(now))
            .subquery()
        )
        d = in_destination.c
        in_account = (
            select(
                d.id,
                d.account_id,
                d.webhook_id,
                d.next_attempt_at,
                func.row_number()
                .over(partition_by=d.account_id, order_by=(d.next_attempt_at, d.id))
                .label("rank"),
            )
            .where(d.rank <= per_destination)
            .subquery()
        )
        a = in_account.c
        candidates = self._conn.execute(
            select(a.id, a.account_id, a.webhook_id)
            .where(a.rank <= per_account)
            .order_by(a.next_attempt_at, a.id)
            .limit(limit * 2)
        ).all()
        destinations = Counter(busy_destinations or {})
        accounts = Counter(busy_accounts or {})
        chosen: list[str] = []
        for row in candidates:
            if len(chosen) >= limit:
                break
            if destinations[row.webhook_id] >= per_destination:
                continue
            if accounts[row.account_id] >= per_account:
                continue
            destinations[row.webhook_id] += 1
            accounts[row.account_id] += 1
            chosen.append(row.id)
        claimed: list[Delivery] = []
        for start in range(0, len(chosen), 500):
            ids = chosen[start : start + 500]
            rows = self._conn.execute(
                self._dialect.for_update(
                    select(alert_deliveries).where(
                        c.id.in_(ids), c.next_attempt_at <= to_micros(now)
                    )
                )
            ).all()
            claimed.extend(delivery_from_row(row) for row in rows)
            self._conn.execute(
                update(alert_deliveries)
                .where(c.id.in_([row.id for row in rows]))
                .values(next_attempt_at=to_micros(until))
            )
        claimed.sort(key=lambda delivery: (delivery.next_attempt_at or now, delivery.id))
        return claimed

    def next_due(self) -> datetime | None:
        """When the earliest open delivery is due (None: nothing open)."""
        value = self._conn.execute(
            select(alert_deliveries.c.next_attempt_at)
            .where(alert_deliveries.c.next_attempt_at.is_not(None))
            .order_by(alert_deliveries.c.next_attempt_at)
            .limit(1)
        ).scalar()
        return moment_or_none(value)

    def record(self, outcomes: Sequence[RecordedAttempt]) -> None:
        """Write each attempt's outcome; a row closed meanwhile (cancelled) stays closed."""
        for outcome in outcomes:
            d = outcome.delivery
            self._conn.execute(
                update(alert_deliveries)
                .where(
                    alert_deliveries.c.id == d.id,
                    alert_deliveries.c.next_attempt_at.is_not(None),
                )
                .values(
                    status=outcome.status.value,
                    next_attempt_at=micros_or_none(outcome.next_attempt_at),
                    attempts=len(d.attempts) + 1,
                    attempt_log=_attempt_log([*d.attempts, outcome.attempt]),
                )
            )

    def cancel_for_webhook(self, webhook_id: str) -> None:
        """Close every open delivery to a destination (it was deleted)."""
        self._conn.execute(
            update(alert_deliveries)
            .where(
                alert_deliveries.c.webhook_id == webhook_id,
                alert_deliveries.c.next_attempt_at.is_not(None),
            )
            .values(status=DeliveryStatus.CANCELLED.value, next_attempt_at=None)
        )

    def prune_closed(self, before: datetime) -> None:
        """Drop closed deliveries created before `before` (the history's retention)."""
        self._conn.execute(
            delete(alert_deliveries).where(
                alert_deliveries.c.next_attempt_at.is_(None),
                alert_deliveries.c.created_at < to_micros(before),
            )
        )

    def open_count(self) -> int:
        """How many deliveries are still to be sent."""
        return int(
            self._conn.execute(
                select(func.count())
                .select_from(alert_deliveries)
                .where(alert_deliveries.c.next_attempt_at.is_not(None))
            ).scalar_one()
        )

    def hold_lease(self, name: str, holder: str, *, now: datetime, until: datetime) -> bool:
        """Whether `holder` holds lease `name` until `until` after this transaction: it
        held it already, or nobody held it, or its holder let it expire."""
        self._conn.execute(
            self._dialect.upsert(worker_leases)
            .values(name=name, holder=holder, expires_at=to_micros(until))
            .on_conflict_do_nothing(index_elements=["name"])
        )
        row = self._conn.execute(
            self._dialect.for_update(select(worker_leases).where(worker_leases.c.name == name))
        ).one()
        if row.holder != holder and row.expires_at >= to_micros(now):
            return False
        self._conn.execute(
            update(worker_leases)
            .where(worker_leases.c.name == name)
            .values(holder=holder, expires_at=to_micros(until))
        )
        return True

    def release_lease(self, name: str, holder: str) -> None:
        """Give the lease up at once (a clean shutdown), if `holder` has it."""
        self._conn.execute(
            update(worker_leases)
            .where(worker_leases.c.name == name, worker_leases.c.holder == holder)
            .values(expires_at=0)
        )
