"""The dashboard's rows: users' password hashes, sessions, and sign-in throttling."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Row, delete, select, update

from servicetokens.domain.clock import from_micros, to_micros
from servicetokens.domain.sign_in import Attempts, DashboardSession
from servicetokens.store.dialect import Session
from servicetokens.store.rows import micros_or_none, moment_or_none
from servicetokens.store.schema import dashboard_sessions, login_throttle, users

__all__ = ["DashboardStore", "PendingSecret"]

PendingSecret = tuple[str, str, datetime]
"""A sealed secret waiting to be shown: (token id, sealed text, shown no later than)."""


def _session_from_row(row: Row[Any]) -> DashboardSession:
    return DashboardSession(
        id_digest=bytes(row.id_digest),
        email=row.email,
        created_at=from_micros(row.created_at),
        last_used_at=from_micros(row.last_used_at),
        expires_at=from_micros(row.expires_at),
        idle_expires_at=from_micros(row.idle_expires_at),
        revoked_at=moment_or_none(row.revoked_at),
    )


class DashboardStore(Session):
    """Password hashes, sessions and failed sign-in counts."""

    __slots__ = ()

    # -- passwords --------------------------------------------------------------------------

    def password_hash(self, email: str) -> str | None:
        """The user's argon2id hash; None when there is no such user or no password."""
        row = self._conn.execute(
            select(users.c.password_hash).where(users.c.email == email)
        ).first()
        return None if row is None else row.password_hash

    def set_password_hash(self, email: str, password_hash: str) -> bool:
        """Replace the user's password hash; False when there is no such user."""
        result = self._conn.execute(
            update(users).where(users.c.email == email).values(password_hash=password_hash)
        )
        return result.rowcount == 1

    # -- sessions ---------------------------------------------------------------------------

    def add_session(self, session: DashboardSession) -> None:
        """Store a new session."""
        self._conn.execute(
            dashboard_sessions.insert().values(
                id_digest=session.id_digest,
                email=session.email,
                created_at=to_micros(session.created_at),
                last_used_at=to_micros(session.last_used_at),
                expires_at=to_micros(session.expires_at),
                idle_expires_at=to_micros(session.idle_expires_at),
            )
        )

    def session(self, id_digest: bytes) -> DashboardSession | None:
        """The session whose id has this digest."""
        row = self._conn.execute(
            select(dashboard_sessions).where(dashboard_sessions.c.id_digest == id_digest)
        ).first()
        return None if row is None else _session_from_row(row)

    def touch_session(self, id_digest: bytes, *, now: datetime, idle_until: datetime) -> None:
        """Note a use of the session: its idle end moves to `idle_until`."""
        self._conn.execute(
            update(dashboard_sessions)
            .where(dashboard_sessions.c.id_digest == id_digest)
            .values(last_used_at=to_micros(now), idle_expires_at=to_micros(idle_until))
        )

    def revoke_session(self, id_digest: bytes, *, now: datetime) -> None:
        """End one session (sign-out), and drop any secret it held."""
        self._conn.execute(
            update(dashboard_sessions)
            .where(dashboard_sessions.c.id_digest == id_digest)
            .values(
                revoked_at=to_micros(now),
                pending_token_id=None,
                pending_secret=None,
                pending_until=None,
            )
        )

    def revoke_user_sessions(self, email: str, *, now: datetime) -> int:
        """End every live session of a user; how many were ended."""
        result = self._conn.execute(
            update(dashboard_sessions)
            .where(dashboard_sessions.c.email == email, dashboard_sessions.c.revoked_at.is_(None))
            .values(
                revoked_at=to_micros(now),
                pending_token_id=None,
                pending_secret=None,
                pending_until=None,
            )
        )
        return int(result.rowcount)

    def delete_dead_sessions(self, email: str, *, now: datetime) -> None:
        """Forget a user's sessions that can never be used again."""
        micros = to_micros(now)
        table = dashboard_sessions
        self._conn.execute(
            delete(table).where(
                table.c.email == email,
                table.c.revoked_at.is_not(None)
                | (table.c.expires_at <= micros)
                | (table.c.idle_expires_at <= micros),
            )
        )

    def delete_user_sessions(self, email: str) -> None:
        """Forget every session of a user (before the user row is deleted)."""
        self._conn.execute(delete(dashboard_sessions).where(dashboard_sessions.c.email == email))

    def hold_secret(self, id_digest: bytes, *, token_id: str, sealed: str, until: datetime) -> None:
        """Keep one sealed secret with the session until it is shown (or `until`)."""
        self._conn.execute(
            update(dashboard_sessions)
            .where(dashboard_sessions.c.id_digest == id_digest)
            .values(
                pending_token_id=token_id, pending_secret=sealed, pending_until=to_micros(until)
            )
        )

    def take_secret(self, id_digest: bytes) -> PendingSecret | None:
        """The sealed secret the session holds, erased from the row as it is read."""
        table = dashboard_sessions
        row = self._conn.execute(
            select(table.c.pending_token_id, table.c.pending_secret, table.c.pending_until).where(
                table.c.id_digest == id_digest
            )
        ).first()
        if row is None or row.pending_secret is None:
            return None
        # Erased only if still there: of two requests racing (two tabs, PostgreSQL's READ
        # COMMITTED), the one whose erasure finds it gone gets nothing.
        erased = self._conn.execute(
            update(table)
            .where(table.c.id_digest == id_digest, table.c.pending_secret == row.pending_secret)
            .values(pending_token_id=None, pending_secret=None, pending_until=None)
        )
        if erased.rowcount != 1:
            return None
        return row.pending_token_id, row.pending_secret, from_micros(row.pending_until)

    # -- throttling -------------------------------------------------------------------------

    def attempts(self, key: str, *, for_update: bool = False) -> tuple[Attempts, str | None] | None:
        """The failures counted against `key`, and the email a device key belongs to."""
        statement = select(login_throttle).where(login_throttle.c.key == key)
        if for_update and self._dialect.postgres:
            statement = statement.with_for_update()
        row = self._conn.execute(statement).first()
        if row is None:
            return None
        attempts = Attempts(
            row.failures, from_micros(row.window_started_at), moment_or_none(row.blocked_until)
        )
        return attempts, row.email

    def put_attempts(self, key: str, attempts: Attempts, *, email: str | None = None) -> None:
        """Store the count for `key` (inserted or replaced)."""
        values = {
            "failures": attempts.failures,
            "window_started_at": to_micros(attempts.window_started_at),
            "blocked_until": micros_or_none(attempts.blocked_until),
            "email": email,
        }
        statement = self._dialect.upsert(login_throttle).values(key=key, **values)
        self._conn.execute(statement.on_conflict_do_update(index_elements=["key"], set_=values))

    def prune_attempts(
        self, *, stale_before: datetime, forget_devices_before: datetime, now: datetime, batch: int
    ) -> None:
        """Forget up to `batch` counts of addresses and emails whose window began before
        `stale_before` and whose block (if any) has ended: they are as good as none. Known
        browsers' rows (with an email) are kept until their last use is older than
        `forget_devices_before` (their cookie has expired in the browser by then)."""
        table = login_throttle
        ended = table.c.blocked_until.is_(None) | (table.c.blocked_until <= to_micros(now))
        stale = (
            select(table.c.key)
            .where(
                (
                    table.c.email.is_(None)
                    & (table.c.window_started_at < to_micros(stale_before))
                    & ended
                )
                | (
                    table.c.email.is_not(None)
                    & (table.c.window_started_at < to_micros(forget_devices_before))
                    & ended
                )
            )
            .limit(batch)
        )
        self._conn.execute(delete(table).where(table.c.key.in_(stale)))

    def clear_attempts(self, key: str) -> None:
        """Forget the failures counted against `key`."""
        self._conn.execute(delete(login_throttle).where(login_throttle.c.key == key))
