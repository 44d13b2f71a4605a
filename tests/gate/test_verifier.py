"""The verifier in-process (no HTTP): the cache entry's secret check against the domain's
datetime one, the failure limiter keyed on (client id, source address), and the SQLite
change probe."""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from servicetokens.bootstrap import gate_on
from servicetokens.domain.permissions import Container, ContainerKind
from servicetokens.domain.policy import Policy
from servicetokens.domain.secrets import digest
from servicetokens.domain.tokens import ServiceToken, Verdict, verify_secret
from servicetokens.gate.app import GateApp
from servicetokens.gate.settings import GateSettings
from servicetokens.store.database import Database
from servicetokens.store.engine import make_engine
from servicetokens.usecases.change_feed import ChangeFeed
from servicetokens.usecases.token_cache import cached_token
from servicetokens.usecases.verification import Verification
from tests.gate.conftest import Tenant

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
CURRENT, PREVIOUS = "c" * 64, "p" * 64
BASE = ServiceToken(
    id="00000000-0000-4000-8000-000000000000",
    container=Container(ContainerKind.ACCOUNT, "a" * 32, "/"),
    name="t",
    client_id="0" * 32 + ".access",
    secret_digest=digest(CURRENT),
    client_secret_version=2,
    previous_secret_digest=digest(PREVIOUS),
    previous_client_secret_expires_at=None,
    duration="8760h",
    expires_at=NOW + timedelta(days=1),
    enabled=True,
    created_at=NOW - timedelta(days=1),
    updated_at=NOW - timedelta(days=1),
    last_seen_at=None,
)
SECOND = timedelta(seconds=1)


def _variants() -> Iterator[ServiceToken]:
    for previous, grace, enabled, (duration, expires) in itertools.product(
        (digest(PREVIOUS), None),
        (None, NOW + SECOND, NOW, NOW - SECOND),
        (True, False),
        (("8760h", NOW + SECOND), ("8760h", NOW), ("8760h", NOW - SECOND), ("forever", NOW)),
    ):
        yield replace(
            BASE,
            previous_secret_digest=previous,
            previous_client_secret_expires_at=grace,
            enabled=enabled,
            duration=duration,
            expires_at=expires,
        )


@pytest.fixture(scope="module")
def verification(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Verification]:
    """The gate's use case for BASE's account, on a database it never reads here."""
    path = tmp_path_factory.mktemp("verification") / "unused.db"
    database = Database(make_engine(f"sqlite:///{path}", pool_size=1))
    yield Verification(
        database,
        policy=Policy(BASE.container.account_id, None),
        fingerprint=lambda d: d.hex(),
        cache_size=10,
        cache_max_age=60.0,
        poll_interval=1.0,
        last_seen_interval=1.0,
    )
    database.dispose()


def _rule(token: ServiceToken, secret: str, now: datetime) -> Verdict:
    """The rule as docs/gate.md states it, on datetimes, written apart from the code under
    test (the oracle: `check_digest` must agree with it)."""
    current = hashlib.sha256(secret.encode()).digest() == token.secret_digest
    previous = (
        token.previous_secret_digest is not None
        and hashlib.sha256(secret.encode()).digest() == token.previous_secret_digest
        and token.previous_client_secret_expires_at is not None
        and now < token.previous_client_secret_expires_at
    )
    if not current and not previous:
        return Verdict.WRONG_SECRET
    if not token.enabled:
        return Verdict.DISABLED
    if not token.never_expires and now >= token.expires_at:
        return Verdict.EXPIRED
    return Verdict.VALID if current else Verdict.VALID_PREVIOUS


@pytest.mark.parametrize("token", list(_variants()))
def test_the_gates_check_agrees_with_the_domain(
    token: ServiceToken, verification: Verification
) -> None:
    """The gate checks a cache entry (floats, one hash) and the domain a token (datetimes):
    one rule, `check_digest`, reached both ways, with the same verdicts."""
    entry = cached_token(token, 0.0, fingerprint=lambda d: d.hex())
    for secret in (CURRENT, PREVIOUS, "w" * 64, ""):
        expected = _rule(token, secret, NOW)
        assert verify_secret(token, secret, now=NOW) is expected, secret
        assert verification.check(entry, secret, NOW.timestamp()) is expected, secret
    # A JWT's token stands as a right secret's would (`standing` is `check_digest`'s rule).
    right = verify_secret(token, CURRENT, now=NOW)
    assert verification.standing(entry, NOW.timestamp()) is right
    # Another account's token is no token to this gate: the right secret is a wrong one.
    stranger = cached_token(
        replace(token, container=Container(ContainerKind.ACCOUNT, "b" * 32, "b" * 32)),
        0.0,
        fingerprint=lambda d: d.hex(),
    )
    assert verification.check(stranger, CURRENT, NOW.timestamp()) is Verdict.WRONG_SECRET


def _headers(client_id: str, secret: str) -> list[tuple[bytes, bytes]]:
    return [
        (b"host", b"gate"),
        (b"cf-access-client-id", client_id.encode()),
        (b"cf-access-client-secret", secret.encode()),
    ]


def _gate(tenant: Tenant, upstream: str, **overrides: object) -> GateApp:
    options: dict[str, object] = {
        "failure_limit": 3,
        "failure_window": timedelta(minutes=10),
        **overrides,
    }
    settings = GateSettings(account_id=tenant.account, upstream=upstream, **options)  # type: ignore[arg-type]
    return gate_on(settings, Database(make_engine(tenant.database_url, pool_size=2)))


def test_a_stranger_cannot_lock_out_the_holder_even_from_the_same_address(
    tenant: Tenant, upstream: str
) -> None:
    token, secret = tenant.token()
    app = _gate(tenant, upstream)
    proxy = "203.0.113.9"  # behind a proxy, the holder and the attacker share an address

    async def scenario() -> None:
        await app.startup()
        try:
            decide = app.verifier.decide
            for _ in range(3):
                wrong = await decide(_headers(token.client_id, "x" * 64), origin=proxy)
                assert wrong.status == 401
            for _ in range(197):
                limited = await decide(_headers(token.client_id, "x" * 64), origin=proxy)
                assert (limited.status, limited.reason) == (429, "too many failed attempts")
                assert limited.retry_after > 0
            # 200 wrong secrets later, the right one from the same address is admitted.
            admitted = await decide(_headers(token.client_id, secret), origin=proxy)
            assert admitted.status == 200
            assert admitted.jwt
        finally:
            await app.shutdown()

    asyncio.run(scenario())
    metrics = app.metrics.render().decode()
    assert 'servicetokens_gate_failures_total{client="known",reason="wrong_secret"} 200.0' in (
        metrics
    )
    assert 'servicetokens_gate_decisions_total{outcome="rate_limited"} 197.0' in metrics
    assert 'servicetokens_gate_decisions_total{outcome="allowed"} 1.0' in metrics


def test_unknown_ids_draw_on_one_budget_per_address(tenant: Tenant, upstream: str) -> None:
    token, secret = tenant.token()
    app = _gate(tenant, upstream)
    flooder, other = "203.0.113.9", "198.51.100.7"

    async def scenario() -> None:
        await app.startup()
        try:
            decide = app.verifier.decide
            statuses = [
                (await decide(_headers(f"{n:032x}.access", "x" * 64), origin=flooder)).status
                for n in range(10)
            ]
            assert statuses == [401] * 3 + [429] * 7  # ten different ids, one budget
            # Another address has its own budget; known ids are not affected.
            unknown = await decide(_headers(f"{99:032x}.access", "x"), origin=other)
            assert unknown.status == 401
            assert (await decide(_headers(token.client_id, "x"), origin=flooder)).status == 401
            assert (await decide(_headers(token.client_id, secret), origin=flooder)).status == 200
        finally:
            await app.shutdown()

    asyncio.run(scenario())
    assert len(app.verifier._limiter) == 3  # type: ignore[attr-defined]


def test_sqlite_feed_reads_the_table_only_after_a_commit(tenant: Tenant) -> None:
    evicted: list[str] = []
    database = Database(make_engine(tenant.database_url, pool_size=2))
    feed = ChangeFeed(
        database, evict=evicted.append, clear=lambda: None, interval=0.1, stale_after=2.0
    )
    feed.follow_once()  # the first probe cannot tell: reads
    reads = feed.table_reads
    feed.follow_once()
    before = time.monotonic()
    feed.follow_once()
    assert feed.table_reads == reads  # nothing committed: the probe answered
    # ...and counts as a successful read: the feed is current until 2 s after this poll
    # (an explicit `now`, so no elapsed time decides the outcome).
    assert feed.is_current(now=before + 2.0)
    token, _ = tenant.token()  # a commit by another connection
    feed.follow_once()
    assert feed.table_reads == reads + 1
    assert token.client_id in evicted
    database.engine.dispose()


def test_an_ipv6_client_has_one_budget_per_64_and_throttled_failures_are_not_audited(
    tenant: Tenant, upstream: str
) -> None:
    token, _ = tenant.token("v6")
    app = _gate(tenant, upstream)

    async def scenario() -> list[int]:
        await app.startup()
        try:
            return [
                (
                    await app.verifier.decide(
                        _headers(token.client_id, "x" * 64), origin=f"2001:db8::{n:x}"
                    )
                ).status
                for n in range(1, 11)
            ]
        finally:
            await app.shutdown()  # flushes the write-behind audit entries

    assert asyncio.run(scenario()) == [401] * 3 + [429] * 7
    audited = [
        e
        for e in tenant.service.admin.audit_log(account_id=tenant.account, limit=1000)
        if e.action == "gate.auth_failed" and e.target == token.id
    ]
    assert len(audited) == 3  # the budget's worth, not one row per attempt


def test_a_spent_budget_still_lets_a_known_token_be_read_again_once_a_second(
    tenant: Tenant, upstream: str
) -> None:
    import time

    from servicetokens.usecases.token_cache import ABSENT

    token, _ = tenant.token("reload")
    app = _gate(tenant, upstream)
    verifier = app.verifier
    for _ in range(3):
        verifier._limiter.record_failure((token.client_id, "192.0.2.1"))  # type: ignore[attr-defined]
    # Read "just now" even if this machine stalls for seconds before the checks below.
    entry = cached_token(token, time.monotonic() + 60, fingerprint=lambda d: d.hex())
    stale = cached_token(token, time.monotonic() - 1.5, fingerprint=lambda d: d.hex())
    may_reload = verifier._may_reload  # type: ignore[attr-defined]
    assert may_reload(entry, token.client_id, "198.51.100.1")  # budget left elsewhere
    assert not may_reload(entry, token.client_id, "192.0.2.1")  # spent, read just now
    assert may_reload(stale, token.client_id, "192.0.2.1")  # spent, but read 1.5 s ago
    for _ in range(3):
        verifier._limiter.record_failure((None, "192.0.2.1"))  # type: ignore[attr-defined]
    assert not may_reload(ABSENT, "f" * 32 + ".access", "192.0.2.1")  # unknown ids: never


def test_a_failure_window_of_zero_is_refused() -> None:
    from servicetokens.gate.rate_limit import FailureLimiter

    with pytest.raises(ValueError, match="window"):
        FailureLimiter(limit=2, window=0)
    assert not FailureLimiter(limit=0, window=0).enabled
