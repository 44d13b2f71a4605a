"""The API's `/cdn-cgi/access/certs` only reads: it never adds, prunes or unwraps a key."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from servicetokens.api import create_app
from servicetokens.bootstrap import build_service
from servicetokens.config import Settings
from servicetokens.domain.clock import system_clock
from servicetokens.domain.signing_keys import KeySchedule, SigningKeyRecord
from servicetokens.signing.kek import KeyEncryptionKey
from servicetokens.usecases.facade import UseCases
from servicetokens.usecases.signing_keys import KeyRing


def _stored(service: UseCases) -> list[SigningKeyRecord]:
    with service.database.read() as tx:
        return tx.signing_keys.all()


def test_unauthenticated_gets_never_write_keys(client: TestClient, service: UseCases) -> None:
    before = _stored(service)
    for _ in range(3):
        answer = client.get("/cdn-cgi/access/certs")
        assert answer.status_code == 200
        assert set(answer.json()) == {"keys", "public_cert", "public_certs"}
    assert _stored(service) == before
    if not before:  # no gate has made a key yet: an empty key set, not a new key
        assert answer.json() == {"keys": [], "public_cert": None, "public_certs": []}


@pytest.fixture
def fresh(tmp_path: Path) -> Iterator[UseCases]:
    service = build_service(Settings(database_url=f"sqlite:///{tmp_path / 'certs.db'}"))
    yield service
    service.database.engine.dispose()


def test_a_key_due_for_rotation_is_published_not_rotated(fresh: UseCases) -> None:
    schedule = KeySchedule()
    past = system_clock() - schedule.rotation - timedelta(days=1)
    gate = KeyRing(
        fresh.database, schedule=schedule, kek=KeyEncryptionKey.generate(), clock=lambda: past
    )
    gate.sync()
    (stored,) = _stored(fresh)
    with TestClient(create_app(fresh)) as client:
        document = client.get("/cdn-cgi/access/certs").json()
    assert _stored(fresh) == [stored]  # overdue, yet only a gate or `keys rotate` adds one
    # The same document the gate publishes, built from the certificate alone.
    assert document["public_cert"] == {"kid": stored.kid, "cert": stored.cert_pem}
    assert document["keys"] == [gate.signing_key().jwk]
    assert document["public_certs"] == [document["public_cert"]]
