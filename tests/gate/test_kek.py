"""The key-encryption key: its form, what it wraps, where it comes from, and rewrapping."""

from __future__ import annotations

import base64
import os
import stat
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from cryptography.hazmat.primitives.asymmetric import rsa
from hypothesis import given
from hypothesis import strategies as st

from servicetokens.domain.signing_keys import KeySchedule, SigningKeyRecord
from servicetokens.signing.kek import (
    KEK_BYTES,
    KekError,
    KeyEncryptionKey,
    WrongKeyEncryptionKey,
    key_id_of,
)
from servicetokens.signing.kek_source import KEK_ENV, kek_file_beside
from servicetokens.signing.key_material import new_signing_key
from servicetokens.store.database import Database
from servicetokens.usecases.database_files import find_kek
from servicetokens.usecases.signing_keys import KeyRing, rewrap
from tests.clocks import HandClock

PRIVATE_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
KID = key_id_of(PRIVATE_KEY)


def test_a_generated_kek_has_the_form_of_a_fernet_key() -> None:
    kek = KeyEncryptionKey.generate()
    text = kek.encoded()
    assert len(text) == 44
    assert len(base64.urlsafe_b64decode(text)) == KEK_BYTES
    Fernet(text)  # accepted as a Fernet key
    assert KeyEncryptionKey.parse(text + "\n", source="x").key_id == kek.key_id
    assert KeyEncryptionKey.parse(text.rstrip("="), source="x").key_id == kek.key_id
    assert text not in repr(kek)


@given(st.binary(max_size=64).filter(lambda raw: len(raw) != KEK_BYTES))
def test_anything_but_32_bytes_is_refused_naming_its_source(raw: bytes) -> None:
    with pytest.raises(KekError, match="--key-file k"):
        KeyEncryptionKey.parse(base64.urlsafe_b64encode(raw).decode(), source="--key-file k")


@given(st.text(max_size=60))
def test_arbitrary_text_is_a_kek_only_if_it_decodes_to_32_bytes(text: str) -> None:
    try:
        kek = KeyEncryptionKey.parse(text, source="s")
    except KekError:
        return
    assert len(base64.urlsafe_b64decode(kek.encoded())) == KEK_BYTES


def test_wrapping_round_trips_only_under_the_same_kek_and_row() -> None:
    kek, other = KeyEncryptionKey.generate(), KeyEncryptionKey.generate()
    wrapped = kek.wrap(KID, PRIVATE_KEY)
    assert b"PRIVATE" not in wrapped.encode()
    assert key_id_of(kek.unwrap(KID, kek.key_id, wrapped)) == KID
    with pytest.raises(WrongKeyEncryptionKey, match=other.key_id):
        other.unwrap(KID, kek.key_id, wrapped)
    # Claiming the right KEK id does not help: the ciphertext does not open.
    with pytest.raises(KekError, match="does not decrypt"):
        other.unwrap(KID, other.key_id, wrapped)
    # Moved to another row (another kid), it does not open either.
    with pytest.raises(KekError, match="does not decrypt"):
        kek.unwrap("0" * 64, kek.key_id, wrapped)


def test_the_secret_fingerprint_is_keyed_by_the_kek() -> None:
    digest = os.urandom(32)
    kek, other = KeyEncryptionKey.generate(), KeyEncryptionKey.generate()
    assert kek.fingerprint(digest) == kek.fingerprint(digest)
    assert kek.fingerprint(digest) != other.fingerprint(digest)
    assert kek.fingerprint(digest) != kek.fingerprint(os.urandom(32))


# -- where the KEK comes from -----------------------------------------------------------


def test_on_sqlite_one_is_generated_beside_the_database_once(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'st.db'}"
    first = find_kek(url, environ={})
    path = kek_file_beside(tmp_path / "st.db")
    assert first.generated == path
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again = find_kek(url, environ={})
    assert again.generated is None
    assert again.kek.key_id == first.kek.key_id


def test_concurrent_first_uses_agree_on_one_kek(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'st.db'}"
    with ThreadPoolExecutor(8) as pool:
        found = list(pool.map(lambda _: find_kek(url, environ={}), range(16)))
    assert len({f.kek.key_id for f in found}) == 1
    assert sum(f.generated is not None for f in found) == 1
    assert [p.name for p in tmp_path.iterdir()] == ["st.db.kek"]  # no temporaries left


def test_a_key_file_wins_over_the_environment_which_wins_over_the_default(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'st.db'}"
    from_file, from_env = KeyEncryptionKey.generate(), KeyEncryptionKey.generate()
    key_file = tmp_path / "kek"
    key_file.write_text(from_file.encoded())
    key_file.chmod(0o600)
    environ = {KEK_ENV: from_env.encoded()}
    assert find_kek(url, key_file=key_file, environ=environ).kek.key_id == from_file.key_id
    assert find_kek(url, environ=environ).kek.key_id == from_env.key_id
    assert not kek_file_beside(tmp_path / "st.db").exists()
    with pytest.raises(KekError, match="no such file"):
        find_kek(url, key_file=tmp_path / "missing", environ=environ)


def test_postgresql_requires_one_naming_the_setting() -> None:
    url = "postgresql://app@db.internal/servicetokens"
    with pytest.raises(KekError, match=KEK_ENV) as refused:
        find_kek(url, environ={})
    assert "--key-file" in str(refused.value)
    kek = KeyEncryptionKey.generate()
    assert find_kek(url, environ={KEK_ENV: kek.encoded()}).kek.key_id == kek.key_id


def test_without_create_nothing_is_generated(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'st.db'}"
    with pytest.raises(KekError, match="does not exist"):
        find_kek(url, environ={}, create=False)
    assert list(tmp_path.iterdir()) == []


def test_an_in_memory_database_gets_a_fresh_key_and_no_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    first, second = (find_kek(url, environ={}) for url in ("sqlite://", "sqlite:///:memory:"))
    assert first.kek.key_id != second.kek.key_id
    assert (first.generated, second.generated) == (None, None)
    assert list(tmp_path.iterdir()) == []


# -- the ring under a KEK: rotation and rewrapping ----------------------------------------


def test_a_ring_with_another_kek_refuses_to_start_with_the_fix(database: Database) -> None:
    KeyRing(database, schedule=KeySchedule(), kek=KeyEncryptionKey.generate()).sync()
    stranger = KeyRing(database, schedule=KeySchedule(), kek=KeyEncryptionKey.generate())
    with pytest.raises(KekError) as refused:
        stranger.sync()
    message = str(refused.value)
    assert KEK_ENV in message
    assert "--key-file" in message
    assert "--discard-existing" in message


def test_rotate_publishes_a_successor_a_lead_ahead_once(database: Database) -> None:
    clock, kek, schedule = HandClock(), KeyEncryptionKey.generate(), KeySchedule()
    ring = KeyRing(database, schedule=schedule, kek=kek, clock=clock)
    first = ring.rotate()  # no key yet: one that signs at once
    assert first is not None
    ring.sync()
    assert ring.signing_key().kid == first.kid
    successor = ring.rotate()
    assert successor is not None
    assert ring.rotate() is None  # a successor is already waiting
    ring.sync()
    assert {k.kid for k in ring.published()} == {first.kid, successor.kid}
    assert ring.signing_key().kid == first.kid
    clock.now += schedule.lead
    assert ring.signing_key().kid == successor.kid
    replaced = ring.rotate(discard_existing=True)
    assert replaced is not None
    ring.sync()
    assert [k.kid for k in ring.published()] == [replaced.kid]
    assert ring.signing_key().kid == replaced.kid


def test_rewrap_moves_every_key_to_the_new_kek(database: Database) -> None:
    clock, old, new = HandClock(), KeyEncryptionKey.generate(), KeyEncryptionKey.generate()
    ring = KeyRing(database, schedule=KeySchedule(), kek=old, clock=clock)
    ring.sync()
    ring.rotate()
    kids = [r.kid for r in _records(database)]
    assert len(kids) == 2
    assert rewrap(database, old, new) == 2
    assert {r.kek_id for r in _records(database)} == {new.key_id}
    with pytest.raises(KekError):
        KeyRing(database, schedule=KeySchedule(), kek=old, clock=clock).sync()
    renewed = KeyRing(database, schedule=KeySchedule(), kek=new, clock=clock)
    renewed.sync()
    assert [k.kid for k in renewed.published()] == kids
    assert rewrap(database, old, new) == 0  # nothing left under the old KEK


def test_rewrap_stops_unchanged_at_a_key_under_a_third_kek(database: Database) -> None:
    clock = HandClock()
    old, new, third = (KeyEncryptionKey.generate() for _ in range(3))
    KeyRing(database, schedule=KeySchedule(), kek=old, clock=clock).sync()
    with database.write() as tx:  # as a gate given another KEK would have stored it
        later = clock.now + timedelta(weeks=6)
        tx.signing_keys.add(
            new_signing_key(now=clock.now, activates_at=later, schedule=KeySchedule(), kek=third)
        )
    before = _records(database)
    assert len(before) == 2
    with pytest.raises(WrongKeyEncryptionKey):
        rewrap(database, old, new)
    assert _records(database) == before


def _records(database: Database) -> list[SigningKeyRecord]:
    with database.read() as tx:
        return tx.signing_keys.all()


def test_a_key_file_others_can_read_is_refused_with_the_fix(tmp_path: Path) -> None:
    key_file = tmp_path / "kek"
    key_file.write_text(KeyEncryptionKey.generate().encoded())
    key_file.chmod(0o640)
    url = f"sqlite:///{tmp_path / 'st.db'}"
    with pytest.raises(KekError, match=r"read or written by others.*chmod 600"):
        find_kek(url, key_file=key_file, environ={})
    key_file.chmod(0o600)
    assert find_kek(url, key_file=key_file, environ={}).kek
