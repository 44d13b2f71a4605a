"""The service-token use cases: list, get, create, update, delete, refresh, rotate.

Each takes a principal the caller has already authenticated and the container its request
names, and checks the permission itself (`Authorization.require`, from cache once the
container is known) before the operation's own validation (the token id), the order
docs/compatibility.md gives. Every mutation records its change and audit entry through
`usecases.changes.record_token_change`, in its own transaction.

Listing is two steps so that the API can memoise rendered pages: `open_list` authenticates
and authorizes the caller against the versions read by one probe (from memory when nothing
changed) and reports the container version; `list_page` then reads the page, or hands back a
`PendingScan` when the page costs a scan, for the caller to run where it will.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import fields as dataclass_fields
from datetime import datetime
from typing import TypeVar

from servicetokens.domain.clock import Clock, system_clock
from servicetokens.domain.credentials import Credential
from servicetokens.domain.errors import NotFound, PermissionDenied, ServiceTokenInUse
from servicetokens.domain.fields import UNSET, TokenFields
from servicetokens.domain.paging import ListQuery, PageInfo
from servicetokens.domain.permissions import Container, Permission, Principal, is_allowed
from servicetokens.domain.tokens import (
    ServiceToken,
    create_token,
    refresh_token,
    rotate_token,
    update_token,
)
from servicetokens.store.database import Database, Transaction
from servicetokens.usecases.authentication import Authentication
from servicetokens.usecases.authorization import (
    Authorization,
    ContainerRef,
    check_container_id,
    well_formed,
)
from servicetokens.usecases.changes import record_token_change

__all__ = ["ListAccess", "PendingScan", "ServiceTokens", "TokenPage"]

_R = TypeVar("_R")

_TOKEN_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_CHEAP_OFFSET = 5_000
"""Unfiltered pages starting at most this far in are read wherever asked (on SQLite: on the
event loop); deeper pages, like filtered ones, walk far enough to be run elsewhere."""


@dataclass(frozen=True, slots=True)
class TokenPage:
    """One page of a list, and the container version it was read at (the data is at least
    that new: the version is read before the page)."""

    tokens: list[ServiceToken]
    info: PageInfo
    version: int


@dataclass(slots=True)  # not frozen: made on every list request, and frozen costs 5× as much
class ListAccess:
    """A caller authorized to read one container's list, and the versions read for it."""

    principal: Principal
    container: Container
    version: int
    """The container's version: any token mutation there moves it."""
    token_count: int


@dataclass(frozen=True, slots=True)
class PendingScan:
    """A list page that costs a scan (a filter, a search, a deep page): the caller is
    authorized already; `run()` reads the page."""

    container: Container
    query: ListQuery
    run: Callable[[], TokenPage]


class ServiceTokens:
    """The service-token use cases over one database."""

    def __init__(
        self,
        database: Database,
        authentication: Authentication,
        authorization: Authorization,
        *,
        clock: Clock = system_clock,
    ) -> None:
        self._database = database
        self._authentication = authentication
        self._authorization = authorization
        self._clock = clock

    # -- list -----------------------------------------------------------------------------

    def open_list(self, credential: Credential, ref: ContainerRef) -> ListAccess:
        """Authenticate `credential` and check it may read `ref`'s list (Read), reporting the
        container's version.

        The hot path: one indexed query reads the container's version and the credentials
        version; while the latter is unchanged, the principal and the container come from
        memory, so no transaction is opened. Any credential revocation bumps the
        credentials version in its own transaction, so a revoked caller is refused at once.
        """
        if not well_formed(ref):
            self._authentication.authenticate(credential)  # the credential is checked first
            check_container_id(ref)
        version, token_count, credentials_version = self._database.probe_versions(ref.kind, ref.id)
        principal = self._authentication.cached(credential, credentials_version=credentials_version)
        container = self._authorization.cached(ref)
        if principal is None or container is None:
            with self._database.read() as tx:
                if principal is None:
                    principal = self._authentication.authenticate_in(
                        tx, credential, credentials_version=credentials_version
                    )
                container = self._authorization.require(principal, ref, Permission.READ, tx)
        elif not is_allowed(principal, Permission.READ, container):
            raise PermissionDenied()
        return ListAccess(principal, container, version, token_count)

    def list_page(self, access: ListAccess, query: ListQuery) -> TokenPage | PendingScan:
        """The page `query` asks for if it is cheap to read (an unfiltered page near the
        start: an index walk of at most `_CHEAP_OFFSET` + 1000 entries); else the
        `PendingScan` that reads it. `access` is checked again (in memory): a `ListAccess`
        not made by `open_list` for a caller with Read there reads nothing."""
        if not is_allowed(access.principal, Permission.READ, access.container):
            raise PermissionDenied()
        if query.name is None and query.search is None and query.offset <= _CHEAP_OFFSET:
            return self._read(access, query)
        return PendingScan(access.container, query, lambda: self._read(access, query))

    def read_page(self, principal: Principal, ref: ContainerRef, query: ListQuery) -> TokenPage:
        """A page of the container's tokens (Read), however much it costs, read here (for
        callers that hold a principal and memoise nothing)."""
        container = self._authorization.require(principal, ref, Permission.READ)
        version, token_count, _ = self._database.probe_versions(ref.kind, ref.id)
        return self._read(ListAccess(principal, container, version, token_count), query)

    def _read(self, access: ListAccess, query: ListQuery) -> TokenPage:
        with self._database.read() as tx:
            tokens, total = tx.tokens.list(access.container, query, token_count=access.token_count)
        info = PageInfo(query.page, query.per_page, len(tokens), total)
        return TokenPage(tokens, info, access.version)

    # -- one token --------------------------------------------------------------------------

    def get(self, principal: Principal, ref: ContainerRef, token_id: str) -> ServiceToken:
        """One token (Read); 404 when the container has no such token."""
        container = self._authorization.require(principal, ref, Permission.READ)
        _check_token_id(token_id)
        with self._database.read() as tx:
            token = tx.tokens.get(container, token_id)
        if token is None:
            raise NotFound()
        return token

    def create(
        self, principal: Principal, ref: ContainerRef, fields: TokenFields
    ) -> tuple[ServiceToken, str]:
        """A new token and its secret (Write)."""
        container = self._authorization.require(principal, ref, Permission.WRITE)

        def unit(tx: Transaction) -> tuple[ServiceToken, str]:
            now = self._clock()
            token, secret = create_token(fields, container=container, now=now)
            tx.tokens.insert(token)
            record_token_change(tx, principal, "create", token, now=now, count_delta=1)
            return token, secret

        return self._database.run_write(unit)

    def update(
        self, principal: Principal, ref: ContainerRef, token_id: str, fields: TokenFields
    ) -> tuple[ServiceToken, str | None]:
        """Apply a partial update (Write); a new secret when the version was raised."""
        changed = [f.name for f in dataclass_fields(fields) if getattr(fields, f.name) is not UNSET]

        def change(
            tx: Transaction, token: ServiceToken, now: datetime
        ) -> tuple[ServiceToken, str | None]:
            updated, secret = update_token(token, fields, now=now)
            tx.tokens.save(updated)
            action = "update_rotate" if secret is not None else "update"
            record_token_change(
                tx, principal, action, updated, now=now, previous=token, fields=changed
            )
            return updated, secret

        return self._mutate(principal, ref, token_id, change)

    def delete(self, principal: Principal, ref: ContainerRef, token_id: str) -> ServiceToken:
        """Remove a token (Write); returns it as it was. A token an Access policy names
        (`service_token` rule, in any policy) is refused (400/12139), as on Cloudflare."""

        def change(tx: Transaction, token: ServiceToken, now: datetime) -> ServiceToken:
            # The control-plane lock: no policy naming the token commits in between.
            tx.versions.lock_control_plane(token.container.account_id)
            if tx.access_policies.token_named(token.id):
                raise ServiceTokenInUse()
            tx.tokens.delete(token.id)
            record_token_change(tx, principal, "delete", token, now=now, count_delta=-1)
            return token

        return self._mutate(principal, ref, token_id, change)

    def refresh(self, principal: Principal, ref: ContainerRef, token_id: str) -> ServiceToken:
        """Restart the token's lifetime from now (Write)."""

        def change(tx: Transaction, token: ServiceToken, now: datetime) -> ServiceToken:
            refreshed = refresh_token(token, now=now)
            tx.tokens.save(refreshed)
            record_token_change(tx, principal, "refresh", refreshed, now=now)
            return refreshed

        return self._mutate(principal, ref, token_id, change)

    def rotate(
        self,
        principal: Principal,
        ref: ContainerRef,
        token_id: str,
        *,
        previous_expires_at: datetime | None,
    ) -> tuple[ServiceToken, str]:
        """A new secret for the token (Write); the old one lasts until `previous_expires_at`."""

        def change(tx: Transaction, token: ServiceToken, now: datetime) -> tuple[ServiceToken, str]:
            rotated, secret = rotate_token(token, previous_expires_at=previous_expires_at, now=now)
            tx.tokens.save(rotated)
            grace = rotated.previous_client_secret_expires_at
            record_token_change(
                tx,
                principal,
                "rotate",
                rotated,
                now=now,
                previous_client_secret_expires_at=None if grace is None else grace.isoformat(),
            )
            return rotated, secret

        return self._mutate(principal, ref, token_id, change)

    def _mutate(
        self,
        principal: Principal,
        ref: ContainerRef,
        token_id: str,
        change: Callable[[Transaction, ServiceToken, datetime], _R],
    ) -> _R:
        """Read-modify-write of one token under the write lock (Write permission)."""
        container = self._authorization.require(principal, ref, Permission.WRITE)
        _check_token_id(token_id)

        def unit(tx: Transaction) -> _R:
            token = tx.tokens.get(container, token_id, for_update=True)
            if token is None:
                raise NotFound()
            return change(tx, token, self._clock())

        return self._database.run_write(unit)


def _check_token_id(token_id: str) -> None:
    # A malformed id can name no token: answered like an unknown one.
    if not _TOKEN_ID.match(token_id):
        raise NotFound()
