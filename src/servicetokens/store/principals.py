"""API credentials: API tokens and users (global API keys) with their memberships."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import Row, and_, bindparam, delete, insert, select, update

from servicetokens.domain.clock import from_micros, to_micros
from servicetokens.domain.credentials import ApiToken, User
from servicetokens.domain.permissions import Container, ContainerKind, Permission
from servicetokens.store.dialect import Session
from servicetokens.store.rows import micros_or_none, moment_or_none
from servicetokens.store.schema import api_tokens, memberships, users, zones

__all__ = ["PrincipalStore"]

# A user and their memberships in one statement (the X-Auth-Email path).
_USER_WITH_MEMBERSHIPS = (
    select(users.c.email, users.c.api_key_digest, memberships.c.account_id)
    .select_from(users.outerjoin(memberships, memberships.c.email == users.c.email))
    .where(users.c.email == bindparam("email"))
    .order_by(memberships.c.account_id)
)


def _api_token_from_row(row: Row[Any]) -> ApiToken:
    return ApiToken(
        id=row.id,
        name=row.name,
        scope=ContainerKind(row.scope_kind),
        scope_id=row.scope_id,
        permission=Permission(row.permission),
        status=row.status,
        expires_at=moment_or_none(row.expires_at),
        created_at=from_micros(row.created_at),
        last_used_at=moment_or_none(row.last_used_at),
    )


class PrincipalStore(Session):
    """API tokens and users: what the management API authenticates callers against."""

    __slots__ = ()

    def add_api_token(
        self,
        *,
        token_id: str,
        name: str,
        token_digest: bytes,
        scope: Container,
        permission: Permission,
        now: datetime,
        expires_at: datetime | None = None,
    ) -> None:
        """Store an API token's digest and its one grant."""
        self._conn.execute(
            insert(api_tokens).values(
                id=token_id,
                name=name,
                token_digest=token_digest,
                scope_kind=scope.kind.value,
                scope_id=scope.id,
                permission=int(permission),
                status="active",
                expires_at=micros_or_none(expires_at),
                created_at=to_micros(now),
            )
        )

    def api_token_by_digest(self, token_digest: bytes) -> ApiToken | None:
        """The API token whose SHA-256 digest is `token_digest`."""
        row = self._conn.execute(
            select(api_tokens).where(api_tokens.c.token_digest == token_digest)
        ).first()
        return None if row is None else _api_token_from_row(row)

    def api_tokens(
        self, *, account_id: str | None = None, zone_id: str | None = None
    ) -> list[ApiToken]:
        """Stored API tokens in (created_at, id) order: all of them, those of one account
        (on the account itself or on any of its zones), or those on one zone."""
        statement = select(api_tokens).order_by(api_tokens.c.created_at, api_tokens.c.id)
        if zone_id is not None:
            statement = statement.where(
                api_tokens.c.scope_kind == ContainerKind.ZONE.value,
                api_tokens.c.scope_id == zone_id,
            )
        elif account_id is not None:
            on_account = and_(
                api_tokens.c.scope_kind == ContainerKind.ACCOUNT.value,
                api_tokens.c.scope_id == account_id,
            )
            on_its_zones = and_(
                api_tokens.c.scope_kind == ContainerKind.ZONE.value,
                api_tokens.c.scope_id.in_(
                    select(zones.c.id).where(zones.c.account_id == account_id)
                ),
            )
            statement = statement.where(on_account | on_its_zones)
        return [_api_token_from_row(row) for row in self._conn.execute(statement)]

    def touch_api_tokens_used(self, used: Iterable[tuple[str, datetime]]) -> None:
        """Move `last_used_at` forward (never back) for each (API token id, time)."""
        for token_id, moment in used:
            micros = to_micros(moment)
            self._conn.execute(
                update(api_tokens)
                .where(
                    api_tokens.c.id == token_id,
                    (api_tokens.c.last_used_at.is_(None)) | (api_tokens.c.last_used_at < micros),
                )
                .values(last_used_at=micros)
            )

    def set_api_token_status(self, token_id: str, status: str) -> bool:
        """Mark an API token active or revoked; False when there is no such token."""
        result = self._conn.execute(
            update(api_tokens).where(api_tokens.c.id == token_id).values(status=status)
        )
        return result.rowcount == 1

    def add_user(self, email: str, api_key_digest: bytes, *, now: datetime) -> None:
        """Store a user and the digest of their global API key."""
        self._conn.execute(
            insert(users).values(
                email=email, api_key_digest=api_key_digest, created_at=to_micros(now)
            )
        )

    def add_membership(self, email: str, account_id: str) -> None:
        """Make a user a member (with full rights) of an account."""
        self._conn.execute(insert(memberships).values(email=email, account_id=account_id))

    def user(self, email: str) -> User | None:
        """The user with that email and the accounts they belong to.

        One statement whether or not the user exists, so a known email costs the same
        database work as an unknown one (no timing oracle on X-Auth-Email).
        """
        rows = self._conn.execute(_USER_WITH_MEMBERSHIPS, {"email": email}).all()
        if not rows:
            return None
        account_ids = tuple(row.account_id for row in rows if row.account_id is not None)
        return User(rows[0].email, bytes(rows[0].api_key_digest), account_ids)

    def set_user_api_key(self, email: str, api_key_digest: bytes) -> bool:
        """Replace a user's global API key digest; False when there is no such user."""
        result = self._conn.execute(
            update(users).where(users.c.email == email).values(api_key_digest=api_key_digest)
        )
        return result.rowcount == 1

    def remove_membership(self, email: str, account_id: str) -> bool:
        """End a user's membership of an account; False when they were not a member."""
        result = self._conn.execute(
            delete(memberships).where(
                memberships.c.email == email, memberships.c.account_id == account_id
            )
        )
        return result.rowcount == 1

    def delete_user(self, email: str) -> None:
        """Remove a user row (its memberships must be gone already)."""
        self._conn.execute(delete(users).where(users.c.email == email))
