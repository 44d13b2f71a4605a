"""Administration use cases (the CLI's): accounts, zones, API tokens, users, the audit log.

These run with the operator's authority (whoever can reach the database), so they take no
principal; each is recorded in the audit log with the operating-system user as the actor.

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
from servicetokens.domain.clock import Clock
from servicetokens.domain.credentials import ApiToken
from servicetokens.domain.errors import ValidationError
from servicetokens.domain.permissions import ContainerKind, Permission
from servicetokens.domain.secrets import digest, new_api_key, new_api_token, new_container_id
from servicetokens.store.database import Database

__all__ = ["AdminUseCases", "IssuedCredential"]

_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,189}$")


def _normal_email(email: str) -> str:
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


class AdminUseCases:
    """Operator actions; mixed into `Service`, which supplies the database and clock."""

    database: Database
    clock: Clock

    def _admin_audit(
        self, action: str, *, account_id: str | None, target: str | None = None, **detail: object
    ) -> AuditEntry:
        return AuditEntry(
            at=self.clock(),
            actor_kind="cli",
            actor_id=getpass.getuser(),
            action=action,
            account_id=account_id,
            target=target,
            detail=detail,
        )

    def audit_log(
        self, *, account_id: str | None = None, since: datetime | None = None, limit: int = 100
    ) -> list[AuditEntry]:
        """The newest audit entries, oldest first (administration only)."""
        with self.database.read() as tx:
            return tx.audit.entries(account_id=account_id, since=since, limit=limit)

    def create_account(self, name: str) -> str:
        """A new account; returns its id."""
        account_id = new_container_id()
        with self.database.write() as tx:
            tx.containers.add_account(account_id, name, now=self.clock())
            tx.audit.add(self._admin_audit("account.create", account_id=account_id, name=name))
        return account_id

    def create_zone(self, name: str, *, account_id: str) -> str:
        """A new zone in an account; returns its id."""
        zone_id = new_container_id()
        with self.database.write() as tx:
            if tx.containers.get(ContainerKind.ACCOUNT, account_id) is None:
                raise ValidationError(f"no account {account_id}")
            tx.containers.add_zone(zone_id, account_id, name, now=self.clock())
            tx.audit.add(
                self._admin_audit("zone.create", account_id=account_id, target=zone_id, name=name)
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
        now = self.clock()
        expires_at = None if expires_in is None else now + expires_in
        with self.database.write() as tx:
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
            tx.versions.bump_credentials()
            tx.audit.add(
                self._admin_audit(
                    "api_token.create",
                    account_id=container.account_id,
                    target=token_id,
                    name=name,
                    scope=f"{scope.value}/{scope_id}",
                    permission=permission.group_name,
                    expires_at=None if expires_at is None else expires_at.isoformat(),
                )
            )
        return IssuedCredential(token_id, token, expires_at)

    def list_api_tokens(
        self, *, account_id: str | None = None, zone_id: str | None = None
    ) -> list[ApiToken]:
        """Stored API tokens (never the tokens themselves): all, an account's (on the account
        or any of its zones), or one zone's; oldest first."""
        with self.database.read() as tx:
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
        with self.database.write() as tx:
            if not tx.principals.set_api_token_status(token_id, "revoked"):
                raise ValidationError(f"no API token {token_id}")
            tx.versions.bump_credentials()
            tx.audit.add(self._admin_audit("api_token.revoke", account_id=None, target=token_id))

    def create_user(self, email: str, *, account_id: str) -> IssuedCredential:
        """A user who is a member of `account_id`; returns their email and global API key."""
        email = _normal_email(email)
        key = new_api_key()
        with self.database.write() as tx:
            if tx.containers.get(ContainerKind.ACCOUNT, account_id) is None:
                raise ValidationError(f"no account {account_id}")
            if tx.principals.user(email) is not None:
                raise ValidationError(f"user {email} already exists")
            tx.principals.add_user(email, digest(key), now=self.clock())
            tx.principals.add_membership(email, account_id)
            tx.versions.bump_credentials()
            tx.audit.add(self._admin_audit("user.create", account_id=account_id, target=email))
        return IssuedCredential(email, key)

    def rotate_user_key(self, email: str, *, account_id: str) -> IssuedCredential:
        """A new global API key for a member of `account_id`; the old key stops working in
        every process on its next use. Returns the email and the new key (shown once)."""
        email = _normal_email(email)
        key = new_api_key()
        with self.database.write() as tx:
            user = tx.principals.user(email)
            if user is None or account_id not in user.account_ids:
                raise ValidationError(f"{email} is not a member of account {account_id}")
            tx.principals.set_user_api_key(email, digest(key))
            tx.versions.bump_credentials()
            tx.audit.add(self._admin_audit("user.rotate_key", account_id=account_id, target=email))
        return IssuedCredential(email, key)

    def remove_user(self, email: str, *, account_id: str) -> bool:
        """End a user's membership of `account_id`; the user (and their key) is deleted when
        no membership remains. Returns whether the user was deleted."""
        email = _normal_email(email)
        with self.database.write() as tx:
            if not tx.principals.remove_membership(email, account_id):
                raise ValidationError(f"{email} is not a member of account {account_id}")
            user = tx.principals.user(email)
            deleted = user is not None and not user.account_ids
            if deleted:
                tx.principals.delete_user(email)
            tx.versions.bump_credentials()
            tx.audit.add(
                self._admin_audit(
                    "user.remove", account_id=account_id, target=email, user_deleted=deleted
                )
            )
        return deleted

    def any_account(self) -> bool:
        """Whether the database holds any account yet."""
        with self.database.read() as tx:
            return tx.containers.any_account()
