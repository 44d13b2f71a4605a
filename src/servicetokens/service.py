"""Use cases. Every authorization decision is made here, in one place.

The service takes a repository and a clock; entrypoints (API, gate, CLI) call it with
validated domain values and a principal, and get domain values back.
"""

from __future__ import annotations

import getpass
import re
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import fields as dataclass_fields
from datetime import datetime

from servicetokens.caches import PageMemo, PrincipalCache
from servicetokens.domain.audit import AuditEntry, token_audit
from servicetokens.domain.clock import Clock, system_clock
from servicetokens.domain.credentials import ApiKeyCredential, ApiTokenCredential, Credential
from servicetokens.domain.errors import (
    InvalidAccessToken,
    InvalidIdentifier,
    NotFound,
    PermissionDenied,
    UnknownEmailOrKey,
    ValidationError,
)
from servicetokens.domain.fields import UNSET, TokenFields
from servicetokens.domain.paging import ListQuery, PageInfo
from servicetokens.domain.permissions import (
    Container,
    ContainerKind,
    Grant,
    Permission,
    Principal,
    PrincipalKind,
    is_allowed,
)
from servicetokens.domain.secrets import (
    digest,
    digests_match,
    new_api_key,
    new_api_token,
    new_container_id,
)
from servicetokens.domain.tokens import (
    ServiceToken,
    create_token,
    refresh_token,
    rotate_token,
    update_token,
)
from servicetokens.store.repository import ApiTokenRecord, Repository, Transaction

__all__ = ["ContainerRef", "IssuedCredential", "Service", "TokenPage"]

_CONTAINER_ID = re.compile(r"^[0-9a-f]{32}$")
_TOKEN_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_MAX_CACHED_CONTAINERS = 100_000
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,189}$")


@dataclass(frozen=True, slots=True)
class ContainerRef:
    """An account or zone as named in a request path (not yet checked to exist)."""

    kind: ContainerKind
    id: str
    path: str
    """The request path, for the 7003 'could not route' message."""


@dataclass(frozen=True, slots=True)
class TokenPage:
    """One page of a list."""

    tokens: list[ServiceToken]
    info: PageInfo


@dataclass(frozen=True, slots=True)
class IssuedCredential:
    """A newly made API credential; `secret` is shown once and never stored."""

    id: str
    secret: str


class Service:
    """The service-token use cases over one repository."""

    def __init__(self, repository: Repository, *, clock: Clock = system_clock) -> None:
        self.repository = repository
        self.clock = clock
        self._principals = PrincipalCache()
        self._pages = PageMemo()
        self._containers: dict[tuple[ContainerKind, str], Container] = {}

    # -- authentication -----------------------------------------------------------------

    def authenticate(self, credential: Credential) -> Principal:
        """The principal behind a credential (403/9109 or 403/9103 when it is not valid)."""
        with self.repository.read() as tx:
            return self._authenticate(tx, credential, credentials_version=None)

    def _authenticate(
        self, tx: Transaction, credential: Credential, *, credentials_version: int | None
    ) -> Principal:
        now = self.clock()
        if isinstance(credential, ApiTokenCredential):
            cache_key = digest(credential.token)
        else:
            cache_key = digest(f"{credential.email.lower()}\0{credential.key}")
        if credentials_version is not None:
            cached = self._principals.get(
                cache_key, credentials_version=credentials_version, now=now
            )
            if cached is not None:
                return cached
        if isinstance(credential, ApiTokenCredential):
            principal, expires_at = self._principal_for_api_token(tx, credential.token, now)
        else:
            principal, expires_at = self._principal_for_api_key(tx, credential), None
        if credentials_version is not None:
            self._principals.put(
                cache_key, principal, credentials_version=credentials_version, expires_at=expires_at
            )
        return principal

    @staticmethod
    def _principal_for_api_token(
        tx: Transaction, token: str, now: datetime
    ) -> tuple[Principal, datetime | None]:
        record = tx.api_token_by_digest(digest(token))
        if record is None or record.status != "active":
            raise InvalidAccessToken()
        if record.expires_at is not None and now >= record.expires_at:
            raise InvalidAccessToken()
        grant = Grant(record.scope, record.scope_id, record.permission)
        return Principal(PrincipalKind.API_TOKEN, record.id, (grant,)), record.expires_at

    @staticmethod
    def _principal_for_api_key(tx: Transaction, credential: ApiKeyCredential) -> Principal:
        user = tx.user(credential.email.lower())
        # An unknown email still costs a digest comparison, so timing tells nothing.
        stored = None if user is None else user.api_key_digest
        if not digests_match(credential.key, stored) or user is None:
            raise UnknownEmailOrKey()
        grants = tuple(
            Grant(ContainerKind.ACCOUNT, account_id, Permission.WRITE)
            for account_id in user.account_ids
        )
        return Principal(PrincipalKind.USER, user.email, grants)

    def principal_for_api_token(self, token: str) -> Principal:
        """The principal behind a Bearer token, or 403/9109."""
        return self.authenticate(ApiTokenCredential(token))

    def principal_for_api_key(self, email: str, key: str) -> Principal:
        """The user behind X-Auth-Email + X-Auth-Key, or 403/9103."""
        return self.authenticate(ApiKeyCredential(email, key))

    def verify_api_token(self, token: str) -> ApiTokenRecord | None:
        """The stored record for `token` if it exists (for /user/tokens/verify)."""
        with self.repository.read() as tx:
            return tx.api_token_by_digest(digest(token))

    # -- authorization ------------------------------------------------------------------

    def _container(self, tx: Transaction, ref: ContainerRef) -> Container | None:
        # Accounts and zones are never deleted or moved, so a found one is cached for good.
        key = (ref.kind, ref.id)
        container = self._containers.get(key)
        if container is None:
            container = tx.container(ref.kind, ref.id)
            if container is not None:
                if len(self._containers) >= _MAX_CACHED_CONTAINERS:
                    self._containers.clear()
                self._containers[key] = container
        return container

    def _authorize(self, principal: Principal, ref: ContainerRef, need: Permission) -> Container:
        if not _CONTAINER_ID.match(ref.id):
            raise InvalidIdentifier(ref.path)
        with self.repository.read() as tx:
            container = self._container(tx, ref)
        # An unknown container and a foreign one answer alike: existence is not leaked.
        if container is None or not is_allowed(principal, need, container):
            raise PermissionDenied()
        return container

    @staticmethod
    def _check_token_id(token_id: str) -> None:
        if not _TOKEN_ID.match(token_id):
            raise NotFound()

    # -- service tokens -----------------------------------------------------------------

    def list_tokens(
        self,
        credential: Credential,
        ref: ContainerRef,
        query: ListQuery,
        *,
        present: Callable[[TokenPage], bytes],
    ) -> bytes:
        """A page of the container's tokens (Read), as `present` renders it.

        The hot path: one indexed query reads the container's version and the credentials
        version; while both are unchanged the principal and the rendered page come from
        memory. Any token mutation or credential revocation bumps a version in its own
        transaction, so nothing stale is ever served.
        """
        if not _CONTAINER_ID.match(ref.id):
            raise InvalidIdentifier(ref.path)
        with self.repository.read() as tx:
            version, token_count, credentials_version = tx.versions(ref.kind, ref.id)
            principal = self._authenticate(tx, credential, credentials_version=credentials_version)
            container = self._container(tx, ref)
            if container is None or not is_allowed(principal, Permission.READ, container):
                raise PermissionDenied()
            memo_key = (ref.kind, ref.id, query)
            body = self._pages.get(memo_key, version=version)
            if body is None:
                tokens, total = tx.list_tokens(container, query, token_count=token_count)
                body = present(
                    TokenPage(tokens, PageInfo(query.page, query.per_page, len(tokens), total))
                )
                self._pages.put(memo_key, version=version, body=body)
        return body

    def get_token(self, principal: Principal, ref: ContainerRef, token_id: str) -> ServiceToken:
        """One token (Read); 404 when the container has no such token."""
        container = self._authorize(principal, ref, Permission.READ)
        self._check_token_id(token_id)
        with self.repository.read() as tx:
            token = tx.token(container, token_id)
        if token is None:
            raise NotFound()
        return token

    def create_token(
        self, principal: Principal, ref: ContainerRef, fields: TokenFields
    ) -> tuple[ServiceToken, str]:
        """A new token and its secret (Write)."""
        container = self._authorize(principal, ref, Permission.WRITE)
        now = self.clock()
        token, secret = create_token(fields, container=container, now=now)
        with self.repository.write() as tx:
            tx.insert_token(token)
            tx.record_change(token, now=now, count_delta=1)
            tx.add_audit(token_audit(principal, "create", token, now=now))
        return token, secret

    def update_token(
        self, principal: Principal, ref: ContainerRef, token_id: str, fields: TokenFields
    ) -> tuple[ServiceToken, str | None]:
        """Apply a partial update (Write); a new secret when the version was raised."""
        container = self._authorize(principal, ref, Permission.WRITE)
        self._check_token_id(token_id)
        with self.repository.write() as tx:
            token = tx.token(container, token_id, for_update=True)
            if token is None:
                raise NotFound()
            now = self.clock()
            updated, secret = update_token(token, fields, now=now)
            tx.save_token(updated)
            tx.record_change(updated, now=now)
            changed = [
                f.name for f in dataclass_fields(fields) if getattr(fields, f.name) is not UNSET
            ]
            action = "update_rotate" if secret is not None else "update"
            tx.add_audit(token_audit(principal, action, updated, now=now, fields=changed))
        return updated, secret

    def delete_token(self, principal: Principal, ref: ContainerRef, token_id: str) -> ServiceToken:
        """Remove a token (Write); returns it as it was."""
        container = self._authorize(principal, ref, Permission.WRITE)
        self._check_token_id(token_id)
        with self.repository.write() as tx:
            token = tx.token(container, token_id, for_update=True)
            if token is None:
                raise NotFound()
            now = self.clock()
            tx.delete_token(token_id)
            tx.record_change(token, now=now, count_delta=-1)
            tx.add_audit(token_audit(principal, "delete", token, now=now))
        return token

    def refresh_token(self, principal: Principal, ref: ContainerRef, token_id: str) -> ServiceToken:
        """Restart the token's lifetime from now (Write)."""
        container = self._authorize(principal, ref, Permission.WRITE)
        self._check_token_id(token_id)
        with self.repository.write() as tx:
            token = tx.token(container, token_id, for_update=True)
            if token is None:
                raise NotFound()
            now = self.clock()
            refreshed = refresh_token(token, now=now)
            tx.save_token(refreshed)
            tx.record_change(refreshed, now=now)
            tx.add_audit(token_audit(principal, "refresh", refreshed, now=now))
        return refreshed

    def rotate_token(
        self,
        principal: Principal,
        ref: ContainerRef,
        token_id: str,
        *,
        previous_expires_at: datetime | None,
    ) -> tuple[ServiceToken, str]:
        """A new secret for the token (Write); the old one lasts until `previous_expires_at`."""
        container = self._authorize(principal, ref, Permission.WRITE)
        self._check_token_id(token_id)
        with self.repository.write() as tx:
            token = tx.token(container, token_id, for_update=True)
            if token is None:
                raise NotFound()
            now = self.clock()
            rotated, secret = rotate_token(token, previous_expires_at=previous_expires_at, now=now)
            tx.save_token(rotated)
            tx.record_change(rotated, now=now)
            grace = rotated.previous_client_secret_expires_at
            tx.add_audit(
                token_audit(
                    principal,
                    "rotate",
                    rotated,
                    now=now,
                    previous_client_secret_expires_at=None if grace is None else grace.isoformat(),
                )
            )
        return rotated, secret

    # -- administration (CLI) -----------------------------------------------------------

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
        with self.repository.read() as tx:
            return tx.audit_entries(account_id=account_id, since=since, limit=limit)

    def record_gate_failure(self, entries: list[AuditEntry]) -> None:
        """Store failed gate attempts for recognised client ids (batched by the gate)."""
        with self.repository.write() as tx:
            for entry in entries:
                tx.add_audit(entry)

    def create_account(self, name: str) -> str:
        """A new account; returns its id."""
        account_id = new_container_id()
        with self.repository.write() as tx:
            tx.add_account(account_id, name, now=self.clock())
            tx.add_audit(self._admin_audit("account.create", account_id=account_id, name=name))
        return account_id

    def create_zone(self, name: str, *, account_id: str) -> str:
        """A new zone in an account; returns its id."""
        zone_id = new_container_id()
        with self.repository.write() as tx:
            if tx.container(ContainerKind.ACCOUNT, account_id) is None:
                raise ValidationError(f"no account {account_id}")
            tx.add_zone(zone_id, account_id, name, now=self.clock())
            tx.add_audit(
                self._admin_audit("zone.create", account_id=account_id, target=zone_id, name=name)
            )
        return zone_id

    def create_api_token(
        self, name: str, *, scope: ContainerKind, scope_id: str, permission: Permission
    ) -> IssuedCredential:
        """A new API token with one grant; the token is returned once."""
        token = new_api_token()
        token_id = new_container_id()
        with self.repository.write() as tx:
            container = tx.container(scope, scope_id)
            if container is None:
                raise ValidationError(f"no {scope.value} {scope_id}")
            tx.add_api_token(
                token_id=token_id,
                name=name,
                token_digest=digest(token),
                scope=container,
                permission=permission,
                now=self.clock(),
            )
            tx.add_audit(
                self._admin_audit(
                    "api_token.create",
                    account_id=container.account_id,
                    target=token_id,
                    name=name,
                    scope=f"{scope.value}/{scope_id}",
                    permission=permission.group_name,
                )
            )
        return IssuedCredential(token_id, token)

    def revoke_api_token(self, token_id: str) -> None:
        """Stop an API token from working."""
        with self.repository.write() as tx:
            if not tx.set_api_token_status(token_id, "revoked"):
                raise ValidationError(f"no API token {token_id}")
            tx.bump_credentials()
            tx.add_audit(self._admin_audit("api_token.revoke", account_id=None, target=token_id))

    def create_user(self, email: str, *, account_id: str) -> IssuedCredential:
        """A user who is a member of `account_id`; returns their email and global API key."""
        email = email.strip().lower()
        if not _EMAIL.match(email):
            raise ValidationError(f"not an email address: {email!r}")
        key = new_api_key()
        with self.repository.write() as tx:
            if tx.container(ContainerKind.ACCOUNT, account_id) is None:
                raise ValidationError(f"no account {account_id}")
            if tx.user(email) is not None:
                raise ValidationError(f"user {email} already exists")
            tx.add_user(email, digest(key), now=self.clock())
            tx.add_membership(email, account_id)
            tx.add_audit(self._admin_audit("user.create", account_id=account_id, target=email))
        return IssuedCredential(email, key)

    def any_account(self) -> bool:
        """Whether the database holds any account yet."""
        with self.repository.read() as tx:
            return tx.any_account()
