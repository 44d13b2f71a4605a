"""Use cases. Every authorization decision is made here, in one place.

The service takes a database and a clock; entrypoints (API, gate, CLI) call it with
validated domain values and a principal, and get domain values back.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from dataclasses import fields as dataclass_fields
from datetime import datetime
from typing import TypeVar

from servicetokens.domain.audit import token_audit
from servicetokens.domain.clock import Clock, system_clock
from servicetokens.domain.credentials import (
    ApiKeyCredential,
    ApiToken,
    ApiTokenCredential,
    Credential,
)
from servicetokens.domain.errors import (
    InvalidAccessToken,
    InvalidIdentifier,
    NotFound,
    PermissionDenied,
    UnknownEmailOrKey,
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
)
from servicetokens.domain.tokens import (
    ServiceToken,
    create_token,
    refresh_token,
    rotate_token,
    update_token,
)
from servicetokens.store.database import Database, Transaction
from servicetokens.usecases.admin import AdminUseCases, IssuedCredential
from servicetokens.usecases.caches import PageMemo, PrincipalCache
from servicetokens.usecases.usage import ApiTokenUsage

__all__ = ["Caller", "ContainerRef", "IssuedCredential", "PendingPage", "Service", "TokenPage"]

_R = TypeVar("_R")

_CONTAINER_ID = re.compile(r"^[0-9a-f]{32}$")
_TOKEN_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_MAX_CACHED_CONTAINERS = 100_000
_CHEAP_OFFSET = 5_000
"""Unfiltered pages starting at most this far in are read wherever asked (on SQLite: on the
event loop); deeper pages, like filtered ones, walk far enough to be run elsewhere."""


def _cache_key(credential: Credential) -> bytes:
    if isinstance(credential, ApiTokenCredential):
        return digest(credential.token)
    return digest(f"{credential.email.lower()}\0{credential.key}")


@dataclass(frozen=True, slots=True)
class ContainerRef:
    """An account or zone as named in a request path (not yet checked to exist)."""

    kind: ContainerKind
    id: str
    path: str
    """The request path, for the 7003 'could not route' message."""


@dataclass(frozen=True, slots=True)
class PendingPage:
    """A list page the memo did not hold and that costs a scan to make (`Service.find_page`).

    The caller is already authorized; `run()` reads the page, memoises and returns it.
    """

    container: Container
    run: Callable[[], bytes]


@dataclass(frozen=True, slots=True)
class TokenPage:
    """One page of a list."""

    tokens: list[ServiceToken]
    info: PageInfo


Caller = Principal | Credential
"""Who calls a use case: an already authenticated principal, or a credential to check."""


class Service(AdminUseCases):
    """The service-token use cases over one database."""

    def __init__(self, database: Database, *, clock: Clock = system_clock) -> None:
        self.database = database
        self.clock = clock
        self._principals = PrincipalCache()
        self._pages = PageMemo()
        self._containers: dict[tuple[ContainerKind, str], Container] = {}
        self.usage = ApiTokenUsage(database)
        """API tokens' `last_used_at`, written behind (the API app starts and stops it)."""

    # -- authentication -----------------------------------------------------------------

    def _principal(self, caller: Caller, origin: str | None) -> Principal:
        principal = caller if isinstance(caller, Principal) else self.authenticate(caller)
        return principal if origin is None else replace(principal, origin=origin)

    def authenticate(self, credential: Credential) -> Principal:
        """The principal behind a credential (403/9109 or 403/9103 when it is not valid)."""
        with self.database.read() as tx:
            return self._authenticate(tx, credential, credentials_version=None)

    def _authenticate(
        self, tx: Transaction, credential: Credential, *, credentials_version: int | None
    ) -> Principal:
        now = self.clock()
        cache_key = _cache_key(credential)
        if credentials_version is not None:
            cached = self._principals.get(
                cache_key, credentials_version=credentials_version, now=now
            )
            if cached is not None:
                self._note_use(cached, now)
                return cached
        if isinstance(credential, ApiTokenCredential):
            principal, expires_at = self._principal_for_api_token(tx, credential.token, now)
        else:
            principal, expires_at = self._principal_for_api_key(tx, credential), None
        if credentials_version is not None:
            self._principals.put(
                cache_key,
                principal,
                credentials_version=credentials_version,
                expires_at=expires_at,
                now=now,
            )
        self._note_use(principal, now)
        return principal

    def _note_use(self, principal: Principal, now: datetime) -> None:
        # In memory only; the API process writes `last_used_at` behind (usecases.usage).
        if principal.kind is PrincipalKind.API_TOKEN:
            self.usage.record(principal.id, now)

    @staticmethod
    def _principal_for_api_token(
        tx: Transaction, token: str, now: datetime
    ) -> tuple[Principal, datetime | None]:
        record = tx.principals.api_token_by_digest(digest(token))
        if record is None or record.status != "active":
            raise InvalidAccessToken()
        if record.expires_at is not None and now >= record.expires_at:
            raise InvalidAccessToken()
        grant = Grant(record.scope, record.scope_id, record.permission)
        return Principal(PrincipalKind.API_TOKEN, record.id, (grant,)), record.expires_at

    @staticmethod
    def _principal_for_api_key(tx: Transaction, credential: ApiKeyCredential) -> Principal:
        user = tx.principals.user(credential.email.lower())
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

    def verify_api_token(self, token: str, *, account_id: str | None = None) -> ApiToken | None:
        """The stored record for `token` if it exists (for /user/tokens/verify).

        With `account_id`, only a token owned by that account is found: one whose grant is
        on the account itself or on one of its zones. Any other token is answered as if it
        did not exist, so the call tells nothing about other accounts' tokens.
        """
        with self.database.read() as tx:
            record = tx.principals.api_token_by_digest(digest(token))
            if record is None or account_id is None:
                return record
            container = tx.containers.get(record.scope, record.scope_id)
        if container is None or container.account_id != account_id:
            return None
        return record

    # -- authorization ------------------------------------------------------------------

    def _container(self, tx: Transaction, ref: ContainerRef) -> Container | None:
        # Accounts and zones are never deleted or moved, so a found one is cached for good.
        key = (ref.kind, ref.id)
        container = self._containers.get(key)
        if container is None:
            container = tx.containers.get(ref.kind, ref.id)
            if container is not None:
                if len(self._containers) >= _MAX_CACHED_CONTAINERS:
                    self._containers.clear()
                self._containers[key] = container
        return container

    def authorize(
        self, caller: Caller, ref: ContainerRef, need: Permission, *, origin: str | None = None
    ) -> Principal:
        """Authenticate `caller` and check it holds `need` on `ref` (7003, 9109, 10000, …).

        Entrypoints call this before they validate a request body, so a caller without the
        right learns nothing from validation errors. The principal it returns may be passed
        to the use cases (which check again, from cache).
        """
        principal = self._principal(caller, origin)
        self._authorize(principal, ref, need)
        return principal

    def _authorize(self, principal: Principal, ref: ContainerRef, need: Permission) -> Container:
        if not _CONTAINER_ID.match(ref.id):
            raise InvalidIdentifier(ref.path)
        container = self._containers.get((ref.kind, ref.id))
        if container is None:
            with self.database.read() as tx:
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
        """A page of the container's tokens (Read), as `present` renders it."""
        found = self.find_page(credential, ref, query, present=present)
        return found if isinstance(found, bytes) else found.run()

    def find_page(
        self,
        credential: Credential,
        ref: ContainerRef,
        query: ListQuery,
        *,
        present: Callable[[TokenPage], bytes],
    ) -> bytes | PendingPage:
        """A page of the container's tokens (Read) if it is cheap to have; else, once the
        caller is authorized, the `PendingPage` that makes it (a scan, for the caller to
        run where it will: the API runs it off its event loop).

        The hot path: one indexed query reads the container's version and the credentials
        version; while both are unchanged the principal and the rendered page come from
        memory. Any token mutation or credential revocation bumps a version in its own
        transaction, so nothing stale is ever served. Cheap besides a memo hit: an
        unfiltered page near the start (an index walk of at most `_CHEAP_OFFSET` + 1000
        entries); filters and deep pages are pending.
        """
        if not _CONTAINER_ID.match(ref.id):
            raise InvalidIdentifier(ref.path)
        version, token_count, credentials_version = self.database.probe_versions(ref.kind, ref.id)
        memo_key = (ref.kind, ref.id, query)
        # Everything from memory when nothing changed: no pooled connection, no transaction.
        now = self.clock()
        principal = self._principals.get(
            _cache_key(credential), credentials_version=credentials_version, now=now
        )
        container = self._containers.get((ref.kind, ref.id))
        if principal is not None:
            self._note_use(principal, now)
        if principal is not None and container is not None:
            if not is_allowed(principal, Permission.READ, container):
                raise PermissionDenied()
            body = self._pages.get(memo_key, version=version)
            if body is not None:
                return body
        cheap = query.name is None and query.search is None and query.offset <= _CHEAP_OFFSET
        with self.database.read() as tx:
            principal = self._authenticate(tx, credential, credentials_version=credentials_version)
            container = self._container(tx, ref)
            if container is None or not is_allowed(principal, Permission.READ, container):
                raise PermissionDenied()
            body = self._pages.get(memo_key, version=version)
            if body is None and cheap:
                body = self._make_page(tx, container, query, token_count, present)
                self._pages.put(memo_key, version=version, body=body)
        if body is not None:
            return body
        authorized = container

        def run() -> bytes:
            with self.database.read() as tx:
                page = self._make_page(tx, authorized, query, token_count, present)
            self._pages.put(memo_key, version=version, body=page)
            return page

        return PendingPage(container, run)

    @staticmethod
    def _make_page(
        tx: Transaction,
        container: Container,
        query: ListQuery,
        token_count: int,
        present: Callable[[TokenPage], bytes],
    ) -> bytes:
        tokens, total = tx.tokens.list(container, query, token_count=token_count)
        return present(TokenPage(tokens, PageInfo(query.page, query.per_page, len(tokens), total)))

    def get_token(self, caller: Caller, ref: ContainerRef, token_id: str) -> ServiceToken:
        """One token (Read); 404 when the container has no such token."""
        container = self._authorize(self._principal(caller, None), ref, Permission.READ)
        self._check_token_id(token_id)
        with self.database.read() as tx:
            token = tx.tokens.get(container, token_id)
        if token is None:
            raise NotFound()
        return token

    def create_token(
        self, caller: Caller, ref: ContainerRef, fields: TokenFields, *, origin: str | None = None
    ) -> tuple[ServiceToken, str]:
        """A new token and its secret (Write)."""
        principal = self._principal(caller, origin)
        container = self._authorize(principal, ref, Permission.WRITE)

        def unit(tx: Transaction) -> tuple[ServiceToken, str]:
            now = self.clock()
            token, secret = create_token(fields, container=container, now=now)
            tx.tokens.insert(token)
            tx.versions.record_change(token, now=now, count_delta=1)
            tx.audit.add(token_audit(principal, "create", token, now=now))
            return token, secret

        return self.database.run_write(unit)

    def _mutate(
        self,
        caller: Caller,
        ref: ContainerRef,
        token_id: str,
        origin: str | None,
        change: Callable[[Transaction, ServiceToken, Principal, datetime], _R],
    ) -> _R:
        """Read-modify-write of one token under the write lock (Write permission)."""
        principal = self._principal(caller, origin)
        container = self._authorize(principal, ref, Permission.WRITE)
        self._check_token_id(token_id)

        def unit(tx: Transaction) -> _R:
            token = tx.tokens.get(container, token_id, for_update=True)
            if token is None:
                raise NotFound()
            return change(tx, token, principal, self.clock())

        return self.database.run_write(unit)

    def update_token(
        self,
        caller: Caller,
        ref: ContainerRef,
        token_id: str,
        fields: TokenFields,
        *,
        origin: str | None = None,
    ) -> tuple[ServiceToken, str | None]:
        """Apply a partial update (Write); a new secret when the version was raised."""
        changed = [f.name for f in dataclass_fields(fields) if getattr(fields, f.name) is not UNSET]

        def change(
            tx: Transaction, token: ServiceToken, principal: Principal, now: datetime
        ) -> tuple[ServiceToken, str | None]:
            updated, secret = update_token(token, fields, now=now)
            tx.tokens.save(updated)
            tx.versions.record_change(updated, now=now)
            action = "update_rotate" if secret is not None else "update"
            tx.audit.add(token_audit(principal, action, updated, now=now, fields=changed))
            return updated, secret

        return self._mutate(caller, ref, token_id, origin, change)

    def delete_token(
        self, caller: Caller, ref: ContainerRef, token_id: str, *, origin: str | None = None
    ) -> ServiceToken:
        """Remove a token (Write); returns it as it was."""

        def change(
            tx: Transaction, token: ServiceToken, principal: Principal, now: datetime
        ) -> ServiceToken:
            tx.tokens.delete(token.id)
            tx.versions.record_change(token, now=now, count_delta=-1)
            tx.audit.add(token_audit(principal, "delete", token, now=now))
            return token

        return self._mutate(caller, ref, token_id, origin, change)

    def refresh_token(
        self, caller: Caller, ref: ContainerRef, token_id: str, *, origin: str | None = None
    ) -> ServiceToken:
        """Restart the token's lifetime from now (Write)."""

        def change(
            tx: Transaction, token: ServiceToken, principal: Principal, now: datetime
        ) -> ServiceToken:
            refreshed = refresh_token(token, now=now)
            tx.tokens.save(refreshed)
            tx.versions.record_change(refreshed, now=now)
            tx.audit.add(token_audit(principal, "refresh", refreshed, now=now))
            return refreshed

        return self._mutate(caller, ref, token_id, origin, change)

    def rotate_token(
        self,
        caller: Caller,
        ref: ContainerRef,
        token_id: str,
        *,
        previous_expires_at: datetime | None,
        origin: str | None = None,
    ) -> tuple[ServiceToken, str]:
        """A new secret for the token (Write); the old one lasts until `previous_expires_at`."""

        def change(
            tx: Transaction, token: ServiceToken, principal: Principal, now: datetime
        ) -> tuple[ServiceToken, str]:
            rotated, secret = rotate_token(token, previous_expires_at=previous_expires_at, now=now)
            tx.tokens.save(rotated)
            tx.versions.record_change(rotated, now=now)
            grace = rotated.previous_client_secret_expires_at
            tx.audit.add(
                token_audit(
                    principal,
                    "rotate",
                    rotated,
                    now=now,
                    previous_client_secret_expires_at=None if grace is None else grace.isoformat(),
                )
            )
            return rotated, secret

        return self._mutate(caller, ref, token_id, origin, change)
