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
from servicetokens.usecases.list_reads import ListReads
from servicetokens.usecases.list_walks import ListAccess, PendingScan, TokenPage, Walks

__all__ = ["ListAccess", "PendingScan", "ServiceTokens", "TokenPage"]

_R = TypeVar("_R")

_TOKEN_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


class ServiceTokens(ListReads):
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
