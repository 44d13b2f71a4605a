"""JWT checks allow 30 s of clock skew between the replica that signed and the one checking."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from servicetokens.domain.permissions import Container, ContainerKind
from servicetokens.domain.secrets import digest
from servicetokens.domain.signing_keys import KeySchedule
from servicetokens.domain.tokens import ServiceToken
from servicetokens.gate.jwt import LEEWAY, JwtIssuer
from servicetokens.signing.kek import KeyEncryptionKey
from servicetokens.store.database import Database
from servicetokens.store.engine import make_engine
from servicetokens.store.migrate import upgrade
from servicetokens.usecases.signing_keys import KeyRing

T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
TTL = timedelta(minutes=10)
TOKEN = ServiceToken(
    id="00000000-0000-4000-8000-000000000000",
    container=Container(ContainerKind.ACCOUNT, "a" * 32, "/"),
    name="t",
    client_id="0" * 32 + ".access",
    secret_digest=digest("c" * 64),
    client_secret_version=1,
    previous_secret_digest=None,
    previous_client_secret_expires_at=None,
    duration="8760h",
    expires_at=T0 + timedelta(days=1),
    enabled=True,
    created_at=T0,
    updated_at=T0,
    last_seen_at=None,
)


@pytest.fixture
def ring(tmp_path: Path) -> Iterator[KeyRing]:
    engine = make_engine(f"sqlite:///{tmp_path / 'skew.db'}", pool_size=2)
    upgrade(engine)
    ring = KeyRing(
        Database(engine),
        schedule=KeySchedule(),
        kek=KeyEncryptionKey.generate(),
        clock=lambda: T0 - timedelta(hours=1),
    )
    ring.sync()
    yield ring
    engine.dispose()


def _issuer(ring: KeyRing) -> JwtIssuer:
    return JwtIssuer(ring, audience="aud", issuer="iss", ttl=TTL)


def test_the_leeway_is_thirty_seconds() -> None:
    assert LEEWAY == 30


@pytest.mark.parametrize(
    ("after_expiry", "accepted"), [(0, True), (10, True), (29, True), (31, False), (60, False)]
)
def test_an_expired_jwt_is_accepted_within_the_leeway_by_any_replica(
    ring: KeyRing, after_expiry: int, accepted: bool
) -> None:
    signer = _issuer(ring)
    issued = signer.issue(TOKEN, fingerprint="f", now=T0.timestamp())
    checked_at = (T0 + TTL).timestamp() + after_expiry
    fresh = _issuer(ring).verify(issued.token, now=checked_at)  # another replica: decodes
    assert (fresh is not None) is accepted
    remembered = signer.verify(issued.token, now=checked_at)  # the signer: from its memo
    assert (remembered is not None) is accepted


@pytest.mark.parametrize(("ahead", "accepted"), [(10, True), (29, True), (31, False), (60, False)])
def test_a_jwt_from_a_replica_whose_clock_runs_ahead_is_accepted_within_the_leeway(
    ring: KeyRing, ahead: int, accepted: bool
) -> None:
    """`nbf` and `iat` lie `ahead` seconds in the checker's future."""
    issued = _issuer(ring).issue(TOKEN, fingerprint="f", now=T0.timestamp() + ahead)
    claims = _issuer(ring).verify(issued.token, now=T0.timestamp())
    assert (claims is not None) is accepted
