"""An unauthenticated flood costs nothing that lasts: random client ids neither grow the gate
nor push real tokens out of its cache, and ids of a shape never issued cost no database read."""

from __future__ import annotations

import asyncio
import os
import resource
import secrets

import pytest
from sqlalchemy import event

from servicetokens.bootstrap import gate_on
from servicetokens.gate.settings import GateSettings
from servicetokens.store.database import Database
from servicetokens.store.engine import make_engine
from tests.gate.conftest import Tenant

FLOOD_RSS_BOUND_MB = 64
"""What a flood may add to the gate's peak RSS (docs/gate.md, "Floods")."""


def _headers(client_id: str, secret: str) -> list[tuple[bytes, bytes]]:
    return [
        (b"cf-access-client-id", client_id.encode("latin-1")),
        (b"cf-access-client-secret", secret.encode()),
    ]


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _flood(tenant: Tenant, upstream: str, ids: int) -> None:
    token, secret = tenant.token("survivor")
    settings = GateSettings(
        # A long flood outlasts the 60 s after which any entry is read again: that re-read
        # is not what this test is about.
        account_id=tenant.account,
        upstream=upstream,
        failure_limit=30,
        cache_max_age=3600,
    )
    app = gate_on(settings, Database(make_engine(tenant.database_url, pool_size=2)))

    async def scenario() -> None:
        await app.startup()
        try:
            decide = app.verifier.decide
            assert (await decide(_headers(token.client_id, secret), origin="198.51.100.7")).jwt
            before = _peak_rss_mb()
            for n in range(1, ids + 1):
                unknown = f"{secrets.token_hex(16)}.access"
                refused = await decide(_headers(unknown, "x" * 64), origin="203.0.113.9")
                assert refused.status in (401, 429)
                if n % 5000 == 0:  # real traffic goes on during the flood...
                    hits = app.verification.cache.hits
                    admitted = await decide(_headers(token.client_id, secret), origin="1.2.3.4")
                    assert admitted.status == 200
                    # ...and is served from the cache, as the metrics count it.
                    assert app.verification.cache.hits == hits + 1, f"a miss after {n} unknown ids"
            grown = _peak_rss_mb() - before
            assert grown < FLOOD_RSS_BOUND_MB, f"peak RSS grew {grown:.1f} MB"
        finally:
            await app.shutdown()

    asyncio.run(scenario())
    assert app.verification.cache.unknown_entries <= 10_000
    assert len(app.verifier._limiter) <= 2  # type: ignore[attr-defined]  # one address's budget


def test_a_flood_of_unknown_ids_leaves_real_tokens_cached(tenant: Tenant, upstream: str) -> None:
    _flood(tenant, upstream, int(os.environ.get("SERVICETOKENS_FLOOD_IDS", "12000")))


@pytest.mark.slow
def test_two_hundred_thousand_unknown_ids(tenant: Tenant, upstream: str) -> None:
    _flood(tenant, upstream, 200_000)


@pytest.mark.parametrize(
    "client_id",
    [
        "x" * 4000,
        "0" * 32,
        ("0" * 32 + ".access").upper(),
        "0" * 31 + "g.access",
        "../../etc/passwd",
        "' OR 1=1 --",
        "0" * 32 + ".access\x00",
    ],
)
def test_ids_of_a_shape_never_issued_cost_no_database_read(
    tenant: Tenant, upstream: str, client_id: str
) -> None:
    settings = GateSettings(account_id=tenant.account, upstream=upstream)
    engine = make_engine(tenant.database_url, pool_size=2)
    app = gate_on(settings, Database(engine))
    statements: list[str] = []

    async def scenario() -> None:
        await app.startup()
        try:
            event.listen(engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
            refused = await app.verifier.decide(_headers(client_id, "s" * 64), origin="192.0.2.1")
            assert (refused.status, refused.reason) == (401, "invalid credentials")
        finally:
            await app.shutdown()

    asyncio.run(scenario())
    assert not [s for s in statements if "service_tokens" in s], statements
    assert app.verification.cache.misses == 0
