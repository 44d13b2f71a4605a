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

import asyncio
import re
from collections.abc import Callable
from dataclasses import fields as dataclass_fields
from datetime import datetime
from typing import TypeVar

from servicetokens.domain.clock import Clock, system_clock
from servicetokens.domain.credentials import Credential
from servicetokens.domain.errors import NotFound, PermissionDenied, ServiceTokenInUse
from servicetokens.domain.fields import UNSET, TokenFields
from servicetokens.domain.paging import ListQuery, PageInfo, SeekKey
from servicetokens.domain.permissions import Permission, Principal, is_allowed
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
from servicetokens.usecases.list_walks import ListAccess, PageEnd, PendingScan, TokenPage, Walks

__all__ = ["ListAccess", "PendingScan", "ServiceTokens", "TokenPage"]

_R = TypeVar("_R")

_TOKEN_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_CHEAP_OFFSET = 5_000
"""Unfiltered pages starting at most this far in are read wherever asked (on SQLite: on the
event loop); deeper pages, like filtered ones, walk far enough to be run elsewhere."""


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
        self._walks = Walks()

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
        versions = self._database.probe_versions(ref.kind, ref.id)
        return self._access(credential, ref, versions)

    async def open_list_async(self, credential: Credential, ref: ContainerRef) -> ListAccess:
        """`open_list` from an event loop: the probe is awaited there (on PostgreSQL without
        the thread pool; `Database.probe_versions_async`); only a caller or container not
        in memory is read in a worker thread."""
        if not well_formed(ref):
            await asyncio.to_thread(self._authentication.authenticate, credential)
            check_container_id(ref)
        versions = await self._database.probe_versions_async(ref.kind, ref.id)
        principal = self._authentication.cached(credential, credentials_version=versions[2])
        if principal is None or self._authorization.cached(ref) is None:
            return await asyncio.to_thread(self._access, credential, ref, versions)
        return self._access(credential, ref, versions)

    def _access(
        self, credential: Credential, ref: ContainerRef, versions: tuple[int, int, int]
    ) -> ListAccess:
        version, token_count, credentials_version = versions
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
        """The page `query` asks for if it is cheap to read (unfiltered, and near the start
        or right after a page this caller read: an index walk of at most `_CHEAP_OFFSET` +
        1000 entries); else the `PendingScan` that reads it. `access` is checked again (in
        memory): a `ListAccess` not made by `open_list` for a caller with Read there reads
        nothing."""
        if not is_allowed(access.principal, Permission.READ, access.container):
            raise PermissionDenied()
        before = self.previous_end(access, query)
        if not query.filtered and (before is not None or query.offset <= _CHEAP_OFFSET):
            return self._read(access, query, before)
        memo_version = (
            access.version if before is None or before.continues_at(access.version) else None
        )
        return PendingScan(
            access.container, query, lambda: self._read(access, query, before), memo_version
        )

    def previous_end(self, access: ListAccess, query: ListQuery) -> PageEnd | None:
        """Where this caller's page before `query`'s ended, if remembered (`list_walks`)."""
        return self._walks.before(access.principal, access.container, query)

    def served(
        self, access: ListAccess, query: ListQuery, *, end: SeekKey | None, total: int
    ) -> None:
        """Note that a canonical page read at `access.version` (from a memo) was served for
        `query`, ending at `end`, so that the caller's next page continues from it."""
        if end is not None:
            page_end = PageEnd(end, access.version, total, canonical=True)
            self._walks.note(access.principal, access.container, query, page_end)

    def read_page(self, principal: Principal, ref: ContainerRef, query: ListQuery) -> TokenPage:
        """A page of the container's tokens (Read), however much it costs, read here (for
        callers that hold a principal and memoise nothing)."""
        container = self._authorization.require(principal, ref, Permission.READ)
        version, token_count, _ = self._database.probe_versions(ref.kind, ref.id)
        access = ListAccess(principal, container, version, token_count)
        return self._read(access, query, self.previous_end(access, query))

    def _read(self, access: ListAccess, query: ListQuery, before: PageEnd | None) -> TokenPage:
        # After a page of this caller's: a seek from its end. Its count still holds when
        # nothing was written since; the page is canonical only then (`list_walks`).
        # Counts of filtered lists are kept per version too (a search walks for its count).
        same_version = before is not None and before.version == access.version
        total = before.total if before is not None and same_version else None
        if total is None and query.filtered:
            total = self._walks.count(access.container, query, version=access.version)
        # A search sets its scan's settings for its transaction; other pages are one or two
        # statements, each its own snapshot either way (READ COMMITTED), read in autocommit.
        reading = self._database.read if query.search is not None else self._database.single_read
        with reading() as tx:
            found = tx.tokens.read_page(
                access.container,
                query,
                token_count=access.token_count,
                after=None if before is None else before.end,
                total=total,
            )
        if query.filtered and total is None:
            self._walks.note_count(
                access.container, query, version=access.version, total=found.total
            )
        canonical = before is None or before.continues_at(access.version)
        if found.end is not None:
            end = PageEnd(found.end, access.version, found.total, canonical)
            self._walks.note(access.principal, access.container, query, end)
        info = PageInfo(query.page, query.per_page, len(found.tokens), found.total)
        return TokenPage(found.tokens, info, access.version, found.end, canonical)

    # -- one token --------------------------------------------------------------------------

    def read_token(self, access: ListAccess, token_id: str) -> ServiceToken:
        """One token of the container `access` may read (from `open_list`); 404 when there
        is no such token there. The checks come in the order `get` makes them."""
        if not is_allowed(access.principal, Permission.READ, access.container):
            raise PermissionDenied()
        _check_token_id(token_id)
        with self._database.single_read() as tx:
            token = tx.tokens.get(access.container, token_id)
        if token is None:
            raise NotFound()
        return token

    async def read_token_async(self, access: ListAccess, token_id: str) -> ServiceToken:
        """`read_token` from an event loop (on PostgreSQL the read does not leave it:
        `Database.token_async`)."""
        if not is_allowed(access.principal, Permission.READ, access.container):
            raise PermissionDenied()
        _check_token_id(token_id)
        token = await self._database.token_async(access.container, token_id)
        if token is None:
            raise NotFound()
        return token

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
