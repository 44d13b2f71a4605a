"""Administration use cases (the CLI's): accounts, zones, API tokens, users (and their
dashboard sessions), the audit log.

These run with the operator's authority (whoever can reach the database), so they take no
principal; each is recorded in the audit log with the operating-system user as the actor
(`usecases.changes.record_operator_change`, in the action's transaction).

Every change to an API credential (create, revoke, rotate a key, remove a user) bumps the
credentials version in the same transaction, so every process's cached principals are read
again on their next use.
"""

from __future__ import annotations

import getpass
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from servicetokens.domain.audit import AuditEntry
from servicetokens.domain.clock import Clock, system_clock
from servicetokens.domain.credentials import ApiToken
from servicetokens.domain.errors import ValidationError
from servicetokens.domain.permissions import (
    ContainerKind,
    Grant,
    Permission,
    Principal,
    PrincipalKind,
)
from servicetokens.domain.secrets import digest, new_api_key, new_api_token, new_container_id
from servicetokens.store.database import Database
from servicetokens.usecases.authorization import ContainerRef
from servicetokens.usecases.changes import record_operator_change

__all__ = ["Admin", "IssuedCredential", "normal_email"]

_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,189}$")


def normal_email(email: str) -> str:
    """`email` trimmed and lower-cased; refused (400) when it is not an email address."""
    email = email.strip().lower()
    if not _EMAIL.match(email):
        raise ValidationError(f"not an email address: {email!r}")
    return email


@dataclass(frozen=True, slots=True)
class IssuedCredential:
    """A newly made API credential; `secret` is shown once and never stored."""

    id: str
    secret: str
    expires_at: datetime | None = None
    """When an API token stops working (None: never)."""


class Admin:
    """The operator's use cases over one database."""

    def __init__(self, database: Database, *, clock: Clock = system_clock) -> None:
        self._database = database
        self._clock = clock

    def audit_log(
        self, *, account_id: str | None = None, since: datetime | None = None, limit: int = 100
    ) -> list[AuditEntry]:
        """The newest audit entries, oldest first (administration only)."""
        with self._database.read() as tx:
            return tx.audit.entries(account_id=account_id, since=since, limit=limit)

    def operator_on(self, kind: ContainerKind, container_id: str) -> tuple[Principal, ContainerRef]:
        """The operator as a caller with Write on an existing account or zone, for the use
        cases the CLI drives on the operator's behalf (the control plane's): their audit
        entries name the operating-system user, as every operator action's do."""
        with self._database.read() as tx:
            container = tx.containers.get(kind, container_id)
        if container is None:
            raise ValidationError(f"no {kind.value} {container_id}")
        grant = Grant(kind, container_id, Permission.WRITE)
        operator = Principal(PrincipalKind.OPERATOR, getpass.getuser(), (grant,))
        return operator, ContainerRef(kind, container_id, f"/{kind.value}s/{container_id}")

    def create_account(self, name: str) -> str:
        """A new account; returns its id."""
        account_id = new_container_id()
        now = self._clock()
        with self._database.write() as tx:
            tx.containers.add_account(account_id, name, now=now)
            record_operator_change(tx, "account.create", now=now, account_id=account_id, name=name)
        return account_id

    def create_zone(self, name: str, *, account_id: str) -> str:
        """A new zone in an account; returns its id."""
        zone_id = new_container_id()
        with self._database.write() as tx:
            if tx.containers.get(ContainerKind.ACCOUNT, account_id) is None:
                raise ValidationError(f"no account {account_id}")
            now = self._clock()
            tx.containers.add_zone(zone_id, account_id, name, now=now)
            record_operator_change(
                tx, "zone.create", now=now, account_id=account_id, target=zone_id, name=name
            )
        return zone_id

    def create_api_token(
        self,
        name: str,
        *,
        scope: ContainerKind,
        scope_id: str,
        permission: Permission,
        expires_in: timedelta | None = None,
    ) -> IssuedCredential:
        """A new API token with one grant, refused from `now + expires_in` on (never, when
        None); the token is returned once."""
        if expires_in is not None and expires_in <= timedelta(0):
            raise ValidationError("an API token's lifetime must be positive")
        token = new_api_token()
        token_id = new_container_id()
        now = self._clock()
        expires_at = None if expires_in is None else now + expires_in
        with self._database.write() as tx:
            container = tx.containers.get(scope, scope_id)
            if container is None:
                raise ValidationError(f"no {scope.value} {scope_id}")
            tx.principals.add_api_token(
                token_id=token_id,
                name=name,
                token_digest=digest(token),
                scope=container,
                permission=permission,
                now=now,
                expires_at=expires_at,
            )
            record_operator_change(
                tx,
                "api_token.create",
                now=now,
                account_id=container.account_id,
                target=token_id,
                credentials=True,
                name=name,
                scope=f"{scope.value}/{scope_id}",
                permission=permission.group_name,
                expires_at=None if expires_at is None else expires_at.isoformat(),
            )
        return IssuedCredential(token_id, token, expires_at)

    def list_api_tokens(
        self, *, account_id: str | None = None, zone_id: str | None = None
    ) -> list[ApiToken]:
        """Stored API tokens (never the tokens themselves): all, an account's (on the account
        or any of its zones), or one zone's; oldest first."""
        with self._database.read() as tx:
            if zone_id is not None and tx.containers.get(ContainerKind.ZONE, zone_id) is None:
                raise ValidationError(f"no zone {zone_id}")
            if (
                account_id is not None
                and tx.containers.get(ContainerKind.ACCOUNT, account_id) is None
            ):
                raise ValidationError(f"no account {account_id}")
            return tx.principals.api_tokens(account_id=account_id, zone_id=zone_id)

    def revoke_api_token(self, token_id: str) -> None:
        """Stop an API token from working."""
        with self._database.write() as tx:
            if not tx.principals.set_api_token_status(token_id, "revoked"):
                raise ValidationError(f"no API token {token_id}")
            record_operator_change(
                tx,
                "api_token.revoke",
                now=self._clock(),
                account_id=None,
                target=token_id,
                credentials=True,
            )

    def create_user(self, email: str, *, account_id: str) -> IssuedCredential:
        """A user who is a member of `account_id`; returns their email and global API key."""
        email = normal_email(email)
        key = new_api_key()
        with self._database.write() as tx:
            if tx.containers.get(ContainerKind.ACCOUNT, account_id) is None:
                raise ValidationError(f"no account {account_id}")
            if tx.principals.user(email) is not None:
                raise ValidationError(f"user {email} already exists")
            now = self._clock()
            tx.principals.add_user(email, digest(key), now=now)
            tx.principals.add_membership(email, account_id)
            record_operator_change(
                tx, "user.create", now=now, account_id=account_id, target=email, credentials=True
            )
        return IssuedCredential(email, key)

    def rotate_user_key(self, email: str, *, account_id: str) -> IssuedCredential:
        """A new global API key for a member of `account_id`; the old key stops working in
        every process on its next use. Returns the email and the new key (shown once)."""
        email = normal_email(email)
        key = new_api_key()
        with self._database.write() as tx:
            user = tx.principals.user(email)
            if user is None or account_id not in user.account_ids:
                raise ValidationError(f"{email} is not a member of account {account_id}")
            tx.principals.set_user_api_key(email, digest(key))
            record_operator_change(
                tx,
                "user.rotate_key",
                now=self._clock(),
                account_id=account_id,
                target=email,
                credentials=True,
            )
        return IssuedCredential(email, key)

    def add_user_to_account(self, email: str, *, account_id: str) -> None:
        """Make an existing user a member of one more account (the dashboard then offers an
        account switcher); their key and password are unchanged."""
        email = normal_email(email)
        with self._database.write() as tx:
            if tx.containers.get(ContainerKind.ACCOUNT, account_id) is None:
                raise ValidationError(f"no account {account_id}")
            user = tx.principals.user(email)
            if user is None:
                raise ValidationError(f"no user {email}")
            if account_id in user.account_ids:
                raise ValidationError(f"{email} is already a member of account {account_id}")
            tx.principals.add_membership(email, account_id)
            record_operator_change(
                tx,
                "user.add_membership",
                now=self._clock(),
                account_id=account_id,
                target=email,
                credentials=True,
            )

    def remove_user(self, email: str, *, account_id: str) -> bool:
        """End a user's membership of `account_id`; the user (and their key) is deleted when
        no membership remains. Returns whether the user was deleted."""
        email = normal_email(email)
        with self._database.write() as tx:
            if not tx.principals.remove_membership(email, account_id):
                raise ValidationError(f"{email} is not a member of account {account_id}")
            user = tx.principals.user(email)
            deleted = user is not None and not user.account_ids
            if deleted:
                tx.dashboard.delete_user_sessions(email)
                tx.principals.delete_user(email)
            record_operator_change(
                tx,
                "user.remove",
                now=self._clock(),
                account_id=account_id,
                target=email,
                credentials=True,
                user_deleted=deleted,
            )
        return deleted

    def end_user_sessions(self, email: str) -> int:
        """End every dashboard session of an existing user (a stolen laptop, a departing
        person) without touching their password, key or memberships; how many were alive.
        Each ended browser is sent to sign-in on its next page."""
        email = normal_email(email)
        with self._database.write() as tx:
            if tx.principals.user(email) is None:
                raise ValidationError(f"no user {email}")
            now = self._clock()
            # Dead sessions go first, so the count is of the sessions this ended.
            tx.dashboard.delete_dead_sessions(email, now=now)
            ended = tx.dashboard.revoke_user_sessions(email, now=now)
            record_operator_change(
                tx, "user.end_sessions", now=now, account_id=None, target=email, sessions=ended
            )
        return ended

    def any_account(self) -> bool:
        """Whether the database holds any account yet."""
        with self._database.read() as tx:
            return tx.containers.any_account()
