"""The verifier in-process (no HTTP): its fast secret check against the domain's, the
failure limiter keyed on (client id, source address), and the SQLite change probe."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from servicetokens.domain.permissions import Container, ContainerKind
from servicetokens.domain.secrets import digest
from servicetokens.domain.tokens import ServiceToken, verify_secret
from servicetokens.gate import GateApp, GateSettings
from servicetokens.gate.cache import cached_token
from servicetokens.gate.changes import ChangeFeed
from servicetokens.gate.verifier import check_secret
from servicetokens.store.engine import make_engine
from servicetokens.store.repository import Repository
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


@pytest.mark.parametrize("token", list(_variants()))
def test_the_fast_check_agrees_with_the_domain(token: ServiceToken) -> None:
    entry = cached_token(token, 0.0, fingerprint=lambda d: d.hex())
    for secret in (CURRENT, PREVIOUS, "w" * 64, ""):
        assert check_secret(entry, secret, now=NOW.timestamp()) is verify_secret(
            token, secret, now=NOW
        ), secret


def _headers(client_id: str, secret: str) -> list[tuple[bytes, bytes]]:
    return [
        (b"host", b"gate"),
        (b"cf-access-client-id", client_id.encode()),
        (b"cf-access-client-secret", secret.encode()),
    ]


def test_failures_from_one_address_do_not_lock_out_the_holder_elsewhere(
    tenant: Tenant, upstream: str
) -> None:
    token, secret = tenant.token()
    settings = GateSettings(
        account_id=tenant.account,
        upstream=upstream,
        failure_limit=3,
        failure_window=timedelta(minutes=10),
    )
    app = GateApp(settings, Repository(make_engine(tenant.database_url, pool_size=2)))
    attacker, holder = "203.0.113.9", "198.51.100.7"

    async def scenario() -> None:
        await app.startup()
        try:
            decide = app.verifier.decide
            for _ in range(3):
                wrong = await decide(_headers(token.client_id, "x" * 64), origin=attacker)
                assert wrong.status == 401
            limited = await decide(_headers(token.client_id, "x" * 64), origin=attacker)
            assert (limited.status, limited.reason) == (429, "too many failed attempts")
            assert limited.retry_after > 0
            # The attacker's address stays throttled even with the right secret...
            assert (await decide(_headers(token.client_id, secret), origin=attacker)).status == 429
            # ...while the holder, elsewhere, is admitted.
            admitted = await decide(_headers(token.client_id, secret), origin=holder)
            assert admitted.status == 200
            assert admitted.jwt
        finally:
            await app.shutdown()

    asyncio.run(scenario())
    metrics = app.metrics.render().decode()
    assert 'servicetokens_gate_failures_total{client="known",reason="wrong_secret"} 3.0' in metrics
    assert 'servicetokens_gate_decisions_total{outcome="rate_limited"} 2.0' in metrics
    assert 'servicetokens_gate_decisions_total{outcome="allowed"} 1.0' in metrics


def test_sqlite_feed_reads_the_table_only_after_a_commit(tenant: Tenant) -> None:
    evicted: list[str] = []
    repository = Repository(make_engine(tenant.database_url, pool_size=2))
    feed = ChangeFeed(repository, evict=evicted.append, clear=lambda: None, interval=0.1)
    feed.follow_once()  # the first probe cannot tell: reads
    reads = feed.table_reads
    feed.follow_once()
    feed.follow_once()
    assert feed.table_reads == reads  # nothing committed: the probe answered
    assert feed.is_current()
    token, _ = tenant.token()  # a commit by another connection
    feed.follow_once()
    assert feed.table_reads == reads + 1
    assert token.client_id in evicted
    repository.engine.dispose()
