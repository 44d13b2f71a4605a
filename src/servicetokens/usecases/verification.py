"""Verifying service-token credentials for one gate: which token a client id names, whether a
secret (or a reused JWT's secret) authenticates it, whether the policy admits it, and what is
recorded (last use, failed attempts), with the cache kept honest by the change feed.

Where the line to the gate runs: the gate (`gate/verifier.py`) reads credentials from
headers and cookies, verifies and reuses JWTs, limits failures per address, counts metrics
and turns verdicts into HTTP decisions; it asks this module every question about tokens.
The questions are small synchronous calls on values already in memory (a cache entry, a
float `now`), so the hot path (a cached token, the right secret) costs what it did inside the
gate: one dict lookup, one hash, float compares, one dict update under a lock to note the
use. Only a cache miss awaits (one read, off the event loop), and only a background thread
writes (`usecases/last_seen.py`).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from servicetokens.domain.audit import AuditEntry
from servicetokens.domain.permissions import Container, ContainerKind
from servicetokens.domain.policy import Policy
from servicetokens.domain.secrets import CLIENT_ID_PATTERN, digest, new_client_secret
from servicetokens.domain.tokens import (
    ServiceToken,
    Verdict,
    check_digest,
    expires_at_seconds,
    previous_until_seconds,
    standing,
)
from servicetokens.signing.kek import Fingerprint
from servicetokens.store.database import Database
from servicetokens.usecases.change_feed import ChangeFeed
from servicetokens.usecases.last_seen import LastSeenWriter
from servicetokens.usecases.token_cache import ABSENT, CachedToken, TokenCache

__all__ = ["Verification"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_DECOY = ServiceToken(
    id="",
    container=Container(ContainerKind.ACCOUNT, "", ""),
    name="",
    client_id="",
    secret_digest=digest(new_client_secret()),
    client_secret_version=1,
    previous_secret_digest=digest(new_client_secret()),
    previous_client_secret_expires_at=None,
    duration="forever",
    expires_at=_EPOCH,
    enabled=False,
    created_at=_EPOCH,
    updated_at=_EPOCH,
    last_seen_at=None,
)
"""Checked instead of a token that does not exist, so unknown ids cost the same work."""
_DECOY_EXPIRES, _DECOY_UNTIL = expires_at_seconds(_DECOY), previous_until_seconds(_DECOY)


class Verification:
    """The token questions of one gate, answered from a cache the change feed evicts."""

    def __init__(
        self,
        database: Database,
        *,
        policy: Policy,
        fingerprint: Fingerprint,
        cache_size: int,
        cache_max_age: float,
        poll_interval: float,
        last_seen_interval: float,
    ) -> None:
        self._database = database
        self.policy = policy
        self._subscribers: list[Callable[[str], None]] = []
        self.feed = ChangeFeed(
            database, evict=self._evict, clear=self._clear, interval=poll_interval
        )
        self.cache = TokenCache(
            database,
            is_current=self.feed.is_current,
            max_size=cache_size,
            max_age=cache_max_age,
            fingerprint=fingerprint,
        )
        self.last_seen = LastSeenWriter(database, interval=last_seen_interval)
        # Bound once: the hot path calls these without a hop through this object.
        self.admits: Callable[[ServiceToken], bool] = policy.admits
        """Whether the policy admits an authenticated token of the account (else 403)."""
        self.record_use: Callable[[str, float], None] = self.last_seen.record
        """Note that token id authenticated a request at epoch seconds (written behind)."""
        self.cached: Callable[[str], CachedToken | None] = self.cache.cached
        """The cache entry for a client id if the cache holds one it trusts now (no read, no
        await; ABSENT: it names no token); None: ask `lookup`."""

    # -- lifecycle ----------------------------------------------------------------------

    def start(self) -> None:
        """Read the change feed once, then follow it and write uses behind (background
        threads; blocking I/O)."""
        self.feed.start()
        self.last_seen.start()

    def stop(self) -> None:
        """Stop following the feed; write what is pending (blocking I/O)."""
        self.feed.stop()
        self.last_seen.stop()

    def is_current(self) -> bool:
        """Whether the change feed is current (else cached tokens are not trusted)."""
        return self.feed.is_current()

    def account_exists(self) -> bool:
        """Whether the policy's account exists (a gate for no account admits nobody)."""
        with self._database.read() as tx:
            account = tx.containers.get(ContainerKind.ACCOUNT, self.policy.account_id)
        return account is not None

    def subscribe(self, evicted: Callable[[str], None]) -> None:
        """Call `evicted(client_id)` (on the feed's threads) whenever a token changed, after
        its cache entry is gone: for what the caller keeps per token (issued JWTs)."""
        self._subscribers.append(evicted)

    def _evict(self, client_id: str) -> None:
        self.cache.evict(client_id)
        for evicted in self._subscribers:
            evicted(client_id)

    def _clear(self) -> None:
        self.cache.clear()

    # -- lookups ------------------------------------------------------------------------

    async def lookup(self, client_id: str) -> tuple[CachedToken, bool]:
        """The cache entry for `client_id` and whether it was read from the database just
        now (raises the store's errors when it is down).

        A client id that does not have the shape the system issues names no token: it is
        answered without a database read (and without a cache entry)."""
        if CLIENT_ID_PATTERN.match(client_id) is None:
            return ABSENT, True
        entry = self.cache.cached(client_id)
        if entry is not None:
            return entry, False
        return await self.cache.get(client_id), True

    async def reload(self, client_id: str, stale: CachedToken) -> CachedToken:
        """A fresh read of `client_id` after a check against `stale` failed: the record may
        predate a commit the change feed has not delivered yet (a rotation, refresh or
        re-enable a moment ago, or a JWT another replica issued since)."""
        return await self.cache.reload(client_id, stale)

    # -- checks -------------------------------------------------------------------------

    def owned(self, entry: CachedToken) -> ServiceToken | None:
        """The entry's token if it is one of the policy's account, else None (to a gate a
        token of another account is no token at all)."""
        token = entry.token
        return token if token is not None and self.policy.owns(token) else None

    def check(self, entry: CachedToken, secret: str, now: float) -> Verdict:
        """The verdict on `secret` at epoch seconds `now`: `domain.tokens.check_digest` with
        the time limits the entry keeps as floats, so the secret is hashed once. An unknown
        id (or another account's) costs the same digest work against a decoy and is a
        wrong secret."""
        token = entry.token
        if token is None or not self.policy.owns(token):
            check_digest(digest(secret), _DECOY, now, _DECOY_EXPIRES, _DECOY_UNTIL)
            return Verdict.WRONG_SECRET
        return check_digest(digest(secret), token, now, entry.expires_at, entry.previous_until)

    @staticmethod
    def standing(entry: CachedToken, now: float) -> Verdict:
        """For a token already authenticated (by a JWT): `DISABLED`, `EXPIRED` or `VALID`
        at epoch seconds `now`."""
        token = entry.token
        assert token is not None
        return standing(token, now, entry.expires_at)

    def jwt_matches(self, entry: CachedToken, token_id: str, fingerprint: str, now: float) -> bool:
        """Whether a JWT for `token_id`, earned by the secret `fingerprint` names, still
        stands for the entry's token at epoch seconds `now`: a reused JWT dies with the
        secret that earned it (rotation without grace)."""
        token = self.owned(entry)
        if token is None or token.id != token_id:
            return False
        if fingerprint == entry.fingerprint:
            return True
        return fingerprint == entry.previous_fingerprint and now < entry.previous_until

    # -- records ------------------------------------------------------------------------

    def record_failure(
        self, token: ServiceToken, reason: str, now: float, origin: str | None
    ) -> None:
        """Audit a failed attempt on a recognised token at epoch seconds `now` from
        `origin` (written behind with the uses; never a secret)."""
        self.last_seen.record_failure(
            AuditEntry(
                at=datetime.fromtimestamp(now, UTC),
                actor_kind="gate",
                actor_id=token.client_id,
                action="gate.auth_failed",
                account_id=token.container.account_id,
                target=token.id,
                origin=origin,
                detail={"client_id": token.client_id, "reason": reason},
            )
        )
