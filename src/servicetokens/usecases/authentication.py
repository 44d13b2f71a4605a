"""Authentication: a credential (Bearer API token, or X-Auth-Email + X-Auth-Key) → a principal.

A principal read from the database may be cached by the credential's digest; a cached one is
used only while the credentials version it was read at is current (every change to an API
credential bumps it) and for at most `PRINCIPAL_MAX_AGE` (see `usecases.caches`). Each
authenticated use of an API token is noted in memory (`usage`) and written behind.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from servicetokens.domain.clock import Clock, system_clock
from servicetokens.domain.credentials import (
    ApiKeyCredential,
    ApiToken,
    ApiTokenCredential,
    Credential,
)
from servicetokens.domain.errors import InvalidAccessToken, UnknownEmailOrKey
from servicetokens.domain.permissions import (
    ContainerKind,
    Grant,
    Permission,
    Principal,
    PrincipalKind,
)
from servicetokens.domain.secrets import digest, digests_match
from servicetokens.store.database import Database, Transaction
from servicetokens.usecases.caches import PrincipalCache
from servicetokens.usecases.usage import ApiTokenUsage

__all__ = ["Authentication"]


def _cache_key(credential: Credential) -> bytes:
    if isinstance(credential, ApiTokenCredential):
        return digest(credential.token)
    return digest(f"{credential.email.lower()}\0{credential.key}")


class Authentication:
    """Credentials → principals over one database, with the principal cache and the note of
    each API token's use."""

    def __init__(
        self,
        database: Database,
        *,
        clock: Clock = system_clock,
        usage: ApiTokenUsage | None = None,
    ) -> None:
        self._database = database
        self._clock = clock
        self.principals = self._principals = PrincipalCache()
        self.usage = usage if usage is not None else ApiTokenUsage(database)
        """API tokens' `last_used_at`, written behind (the API app starts and stops it)."""

    def authenticate(self, credential: Credential, *, origin: str | None = None) -> Principal:
        """The principal behind a credential (403/9109 or 403/9103 when it is not valid),
        calling from `origin` (the network address, for the audit log). Always read from
        the database."""
        with self._database.read() as tx:
            principal = self._read(tx, credential, self._clock())
        return principal if origin is None else replace(principal, origin=origin)

    def cached(self, credential: Credential, *, credentials_version: int) -> Principal | None:
        """The principal behind `credential` from memory, if it was read at
        `credentials_version` and is still good; None otherwise (no database access)."""
        now = self._clock()
        principal = self._principals.get(
            _cache_key(credential), credentials_version=credentials_version, now=now
        )
        if principal is not None:
            self._note_use(principal, now)
        return principal

    def authenticate_in(
        self, tx: Transaction, credential: Credential, *, credentials_version: int
    ) -> Principal:
        """The principal behind `credential`: from memory as `cached` does, else read in `tx`
        and remembered as read at `credentials_version` (which the caller read before `tx`)."""
        principal = self.cached(credential, credentials_version=credentials_version)
        if principal is not None:
            return principal
        now = self._clock()
        if isinstance(credential, ApiTokenCredential):
            principal, expires_at = self._principal_for_api_token(tx, credential.token, now)
        else:
            principal, expires_at = self._principal_for_api_key(tx, credential), None
        self._principals.put(
            _cache_key(credential),
            principal,
            credentials_version=credentials_version,
            expires_at=expires_at,
            now=now,
        )
        self._note_use(principal, now)
        return principal

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
        with self._database.read() as tx:
            record = tx.principals.api_token_by_digest(digest(token))
            if record is None or account_id is None:
                return record
            container = tx.containers.get(record.scope, record.scope_id)
        if container is None or container.account_id != account_id:
            return None
        return record

    def _read(self, tx: Transaction, credential: Credential, now: datetime) -> Principal:
        if isinstance(credential, ApiTokenCredential):
            principal, _ = self._principal_for_api_token(tx, credential.token, now)
        else:
            principal = self._principal_for_api_key(tx, credential)
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
