"""The JWT signing keys as the processes use them: one rotator, and readers that publish.

Every replica reads the same `signing_keys` rows (`store/signing_keys.py`) and applies the
rotation rules of `domain/signing_keys.py`; rotation is serialised by a database lock, so
replicas never race to add two keys.

Private keys are stored only wrapped under the key-encryption key (`signing/kek.py`), which
every process that signs is given and the database never holds. Keys are added, retired and
rewrapped here alone, by a `KeyRing`: in each gate's schedule (`sync`, every minute) and in
`servicetokens keys rotate` / `rewrap`. A process that only publishes (the API server) uses
`PublishedKeys`, which reads public certificates and never adds, prunes or unwraps a key.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from datetime import timedelta
from typing import Any

from cryptography.hazmat.primitives.asymmetric import rsa

from servicetokens.domain.clock import Clock, from_micros, system_clock, to_micros
from servicetokens.domain.signing_keys import (
    KeySchedule,
    SigningKeyRecord,
    key_state,
    plan_rotation,
    published,
    successor_activation,
)
from servicetokens.signing import jwks
from servicetokens.signing.kek import KeyEncryptionKey
from servicetokens.signing.key_material import SigningKey, load_signing_key, new_signing_key
from servicetokens.store.database import Database
from servicetokens.usecases.background import Periodic

__all__ = ["DEFAULT_OVERLAP", "KeyRing", "PublishedKeys", "rewrap", "stored_keys"]

log = logging.getLogger("servicetokens.usecases.signing_keys")

DEFAULT_OVERLAP = KeySchedule().overlap
"""How long a superseded key stays published, for a process that does not know the gates'
schedule (the gates' default `key_overlap`)."""
SYNC_EVERY = 60.0
"""Seconds between a gate's reads of the stored keys (rotation happens in one of them)."""


class KeyRing:
    """The keys of one signing process: synced from the database, rotated when due."""

    def __init__(
        self,
        database: Database,
        *,
        schedule: KeySchedule,
        kek: KeyEncryptionKey,
        clock: Clock = system_clock,
    ) -> None:
        self._database = database
        self._schedule = schedule
        self._kek = kek
        self._clock = clock
        self._loaded: dict[str, SigningKey] = {}
        self._keys: list[SigningKey] = []
        self._signing: tuple[float, float, SigningKey, list[SigningKey]] | None = None
        """(from, until, key, keys): the key that signs between those epoch seconds, as
        worked out from that list of keys (the hot path; stale once `sync()` replaced it)."""
        self._lock = threading.Lock()
        self._loop = Periodic("gate-key-sync", self.sync, interval=SYNC_EVERY, log=log)

    def sync(self) -> None:
        """Read the keys; add a key when one is due and prune retired ones (blocking I/O)."""
        now = to_micros(self._clock())
        with self._database.read() as tx:
            records = tx.signing_keys.all()
        plan = plan_rotation(records, now, self._schedule)
        if plan.add_at is not None or plan.retire:
            with self._database.write() as tx:
                tx.signing_keys.lock()
                records = tx.signing_keys.all()  # another replica may have just rotated
                plan = plan_rotation(records, now, self._schedule)
                if plan.add_at is not None:
                    tx.signing_keys.add(self._new_key(now, plan.add_at))
                with tx.signing_keys.erasing():
                    tx.signing_keys.delete(plan.retire)
                records = tx.signing_keys.all()
        self._install(records, plan.retire)

    def start(self) -> None:
        """`sync()` every minute on a daemon thread until `stop()`."""
        self._loop.start()

    def stop(self) -> None:
        """Stop the periodic sync."""
        self._loop.stop()

    def _new_key(self, now: int, activates_at: int) -> SigningKeyRecord:
        return new_signing_key(
            now=from_micros(now),
            activates_at=from_micros(activates_at),
            schedule=self._schedule,
            kek=self._kek,
        )

    def _install(self, records: list[SigningKeyRecord], retired: tuple[str, ...]) -> None:
        loaded = {
            r.kid: self._loaded.get(r.kid) or load_signing_key(r, self._kek)
            for r in records
            if r.kid not in retired
        }
        with self._lock:
            self._loaded = loaded
            self._keys = sorted(loaded.values(), key=lambda k: (k.activates_at, k.kid))

    def rotate(self, *, discard_existing: bool = False) -> SigningKeyRecord | None:
        """`servicetokens keys rotate`: add a successor now instead of when due.

        It activates as `domain.signing_keys.successor_activation` says (a full `lead` from
        now, or at once when there is no key yet); nothing is added while a successor is
        already waiting (None is returned). `discard_existing` deletes every key first and
        adds one that signs at once: for a leaked or lost key (JWTs signed so far stop
        validating). Retired keys are pruned. Running rings pick the change up at their
        next `sync()`.
        """
        now = to_micros(self._clock())
        with self._database.write() as tx:
            tx.signing_keys.lock()
            records = tx.signing_keys.all()
            if discard_existing:
                with tx.signing_keys.erasing():
                    tx.signing_keys.delete([r.kid for r in records])
                records = []
            for record in records:  # one KEK per deployment: never add a key under another
                if record.kek_id != self._kek.key_id:
                    load_signing_key(record, self._kek)  # raises KekError, with the fix
            retire = plan_rotation(records, now, self._schedule).retire
            added: SigningKeyRecord | None = None
            activates_at = successor_activation(records, now, self._schedule)
            if activates_at is not None:
                added = self._new_key(now, activates_at)
                tx.signing_keys.add(added)
            with tx.signing_keys.erasing():
                tx.signing_keys.delete(retire)
        return added

    def signing_key(self, at: float | None = None) -> SigningKey:
        """The key that signs at epoch seconds `at` (default: now): the newest one already
        active. On the hot path a float comparison against the last answer."""
        timestamp = self._clock().timestamp() if at is None else at
        signing = self._signing
        keys = self._keys
        if signing is not None and signing[3] is keys and signing[0] <= timestamp < signing[1]:
            return signing[2]
        active = [k for k in keys if k.activates_at.timestamp() <= timestamp]
        if not active:
            raise RuntimeError("no active signing key: call sync() first")
        key = active[-1]
        later = [k.activates_at.timestamp() for k in keys if k.activates_at > key.activates_at]
        self._signing = (key.activates_at.timestamp(), min(later, default=math.inf), key, keys)
        return key

    def public_key(self, kid: str) -> rsa.RSAPublicKey | None:
        """The public key of a published key, for verifying reused JWTs."""
        for key in self.published():
            if key.kid == kid:
                return key.private_key.public_key()
        return None

    def published(self) -> list[SigningKey]:
        """Upcoming, current, and superseded keys still inside their overlap."""
        return published(self._keys, now=self._clock(), overlap=self._schedule.overlap)

    def certs_document(self) -> dict[str, Any]:
        """`/cdn-cgi/access/certs`: `keys` (JWKs), `public_cert` (current), `public_certs`."""
        return jwks.certs_document(self._keys, now=self._clock(), overlap=self._schedule.overlap)


class PublishedKeys:
    """The published keys as a process that does not sign sees them: built from the stored
    certificates alone (no private key, no key-encryption key), re-read at most every
    `reread_every` seconds, so a flood of requests costs one read per interval."""

    def __init__(
        self,
        database: Database,
        *,
        overlap: timedelta = DEFAULT_OVERLAP,
        reread_every: float = 5.0,
        clock: Clock = system_clock,
    ) -> None:
        self._database = database
        self._overlap = overlap
        self._reread_every = reread_every
        self._clock = clock
        self._keys: list[jwks.PublicKey] | None = None
        self._read_at = 0.0

    def due(self) -> bool:
        """Whether the keys should be read (again) before the next `document()`."""
        return self._keys is None or time.monotonic() - self._read_at > self._reread_every

    def refresh(self) -> None:
        """Read the stored keys (blocking I/O); certificates already parsed are reused."""
        with self._database.read() as tx:
            records = tx.signing_keys.all()
        known = {k.kid: k for k in self._keys or []}
        self._keys = [
            known.get(r.kid) or jwks.public_key(r.kid, r.cert_pem, from_micros(r.activates_at))
            for r in records
        ]
        self._read_at = time.monotonic()

    def document(self) -> dict[str, Any]:
        """`/cdn-cgi/access/certs` as of the last `refresh()`: `keys`, `public_cert` and
        `public_certs` (empty, and null, before any key exists)."""
        return jwks.certs_document(self._keys or [], now=self._clock(), overlap=self._overlap)


def stored_keys(
    database: Database, *, overlap: timedelta = DEFAULT_OVERLAP, clock: Clock = system_clock
) -> list[tuple[SigningKeyRecord, str]]:
    """Every stored key, oldest activation first, with its state now (`upcoming`,
    `signing`, `published` or `retired`: `domain.signing_keys.key_state`). Public facts
    only: needs no key-encryption key."""
    with database.read() as tx:
        records = tx.signing_keys.all()
    now = to_micros(clock())
    successors = [*records[1:], None][: len(records)]
    return [
        (record, key_state(record, successor, now, overlap))
        for record, successor in zip(records, successors, strict=True)
    ]


def rewrap(database: Database, old: KeyEncryptionKey, new: KeyEncryptionKey) -> int:
    """Re-encrypt every stored private key from `old` to `new` in one transaction; the
    number re-encrypted. Keys already under `new` are left as they are (so a second run
    finishes what a gate still on `old` added meanwhile); a key under any other KEK stops
    it, with nothing changed. The replaced ciphertexts are erased on SQLite, in the
    database file and its WAL alike."""
    with database.write() as tx:
        tx.signing_keys.lock()
        records = tx.signing_keys.all()
        count = 0
        with tx.signing_keys.erasing():
            for record in records:
                if record.kek_id == new.key_id:
                    continue
                private_key = old.unwrap(record.kid, record.kek_id, record.wrapped_key)
                tx.signing_keys.rewrap(
                    record.kid, wrapped_key=new.wrap(record.kid, private_key), kek_id=new.key_id
                )
                count += 1
    database.checkpoint()
    return count
