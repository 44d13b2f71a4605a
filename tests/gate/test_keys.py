"""Signing keys: made once for all replicas, rotated on schedule, published with overlap."""

from __future__ import annotations

from datetime import timedelta

import jwt

from servicetokens.domain.signing_keys import KeySchedule
from servicetokens.signing.kek import KeyEncryptionKey
from servicetokens.store.database import Database
from servicetokens.usecases.signing_keys import KeyRing
from tests.clocks import HandClock

KEK = KeyEncryptionKey.generate()
SCHEDULE = KeySchedule(
    rotation=timedelta(days=42), overlap=timedelta(days=7), lead=timedelta(minutes=10)
)


def test_replicas_share_one_key(database: Database) -> None:
    clock = HandClock()
    first, second = (
        KeyRing(database, schedule=SCHEDULE, kek=KEK, clock=clock),
        KeyRing(database, schedule=SCHEDULE, kek=KEK, clock=clock),
    )
    first.sync()
    second.sync()
    assert first.signing_key().kid == second.signing_key().kid
    with database.read() as tx:
        assert len(tx.signing_keys.all()) == 1


def test_rotation_publishes_ahead_signs_on_time_and_keeps_the_old_key_for_the_overlap(
    database: Database,
) -> None:
    clock = HandClock()
    start = clock.now
    ring = KeyRing(database, schedule=SCHEDULE, kek=KEK, clock=clock)
    ring.sync()
    old = ring.signing_key().kid
    clock.now = start + SCHEDULE.rotation - timedelta(minutes=5)  # inside the lead window
    ring.sync()
    published = [k.kid for k in ring.published()]
    assert len(published) == 2
    assert old in published
    assert ring.signing_key().kid == old  # the new key is published before it signs
    new = next(kid for kid in published if kid != old)
    switch = clock.now + SCHEDULE.lead  # no sooner than a full lead after it was published
    clock.now = switch - timedelta(seconds=1)
    assert ring.signing_key().kid == old
    clock.now = switch
    assert ring.signing_key().kid == new
    clock.now = switch + SCHEDULE.overlap - timedelta(seconds=1)
    assert {k.kid for k in ring.published()} == {old, new}
    assert ring.public_key(old) is not None
    clock.now = switch + SCHEDULE.overlap
    assert [k.kid for k in ring.published()] == [new]
    assert ring.public_key(old) is None
    clock.now += timedelta(days=1, seconds=1)
    ring.sync()  # retired keys are deleted a day after they stop being published
    with database.read() as tx:
        assert [k.kid for k in tx.signing_keys.all()] == [new]


def test_certs_document_has_cloudflares_shape(database: Database) -> None:
    ring = KeyRing(database, schedule=SCHEDULE, kek=KEK)
    ring.sync()
    document = ring.certs_document()
    assert set(document) == {"keys", "public_cert", "public_certs"}
    (jwk,) = document["keys"]
    assert set(jwk) == {"kid", "kty", "alg", "use", "e", "n"}
    assert (jwk["kty"], jwk["alg"], jwk["use"], jwk["e"]) == ("RSA", "RS256", "sig", "AQAB")
    assert document["public_cert"]["kid"] == jwk["kid"]
    assert document["public_certs"] == [document["public_cert"]]
    key = jwt.PyJWK(jwk)
    signed = jwt.encode({"a": 1}, ring.signing_key().private_key, algorithm="RS256")
    assert jwt.decode(signed, key.key, algorithms=["RS256"]) == {"a": 1}
