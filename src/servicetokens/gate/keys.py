"""RS256 signing keys: made, rotated and pruned in the database, published as JWKS.

Every replica reads the same `signing_keys` rows. A new key is stored `key_lead` before it
starts signing, so every replica (and every verifier caching `/cdn-cgi/access/certs`) has
seen it before the first JWT under it; a superseded key stays published for `key_overlap`.
Rotation is serialised by a database lock, so replicas never race to add two keys.

Private keys are stored only wrapped under the key-encryption key (`signing/kek.py`), which
every process that signs is given and the database never holds. Rotation happens here
alone: in the gates' schedule (`sync`) and in `servicetokens keys rotate` (`rotate`), never
in a process that only publishes (the API server reads certificates: `signing/jwks.py`).
"""

from __future__ import annotations

import itertools
import math
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from servicetokens.domain.clock import Clock, from_micros, system_clock, to_micros
from servicetokens.domain.signing_keys import SigningKeyRecord
from servicetokens.signing import jwks
from servicetokens.signing.kek import KekError, KeyEncryptionKey, key_id_of
from servicetokens.store.database import Database

__all__ = ["KeyRing", "KeySchedule", "SigningKey", "new_signing_key", "rewrap"]

_KEY_BITS = 2048
_PUBLIC_EXPONENT = 65537


@dataclass(frozen=True, slots=True)
class KeySchedule:
    """When keys rotate: each signs for `rotation`, is published `lead` before and
    `overlap` after."""

    rotation: timedelta = timedelta(weeks=6)
    overlap: timedelta = timedelta(days=7)
    lead: timedelta = timedelta(minutes=10)


@dataclass(frozen=True, slots=True)
class SigningKey:
    """A loaded key: private key for signing, JWK and certificate for publishing."""

    kid: str
    private_key: rsa.RSAPrivateKey
    jwk: dict[str, Any]
    cert_pem: str
    activates_at: datetime


def new_signing_key(
    *, now: datetime, activates_at: datetime, schedule: KeySchedule, kek: KeyEncryptionKey
) -> SigningKeyRecord:
    """A fresh RSA key with a self-signed certificate covering its whole published life,
    its private key wrapped under `kek`."""
    private_key = rsa.generate_private_key(public_exponent=_PUBLIC_EXPONENT, key_size=_KEY_BITS)
    kid = key_id_of(private_key)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"servicetokens gate {kid[:16]}")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(private_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(activates_at + schedule.rotation + schedule.overlap + timedelta(days=30))
        .sign(private_key, hashes.SHA256())
    )
    return SigningKeyRecord(
        kid=kid,
        wrapped_key=kek.wrap(kid, private_key),
        kek_id=kek.key_id,
        cert_pem=cert.public_bytes(serialization.Encoding.PEM).decode("ascii"),
        created_at=to_micros(now),
        activates_at=to_micros(activates_at),
    )


def _load(record: SigningKeyRecord, kek: KeyEncryptionKey) -> SigningKey:
    """The usable key of `record`; `KekError` (with the fix) when `kek` cannot unwrap it."""
    try:
        private_key = kek.unwrap(record.kid, record.kek_id, record.wrapped_key)
    except KekError as exc:
        raise KekError(
            f"{exc}. Give the key-encryption key the signing keys were stored under "
            "(SERVICETOKENS_KEY_ENCRYPTION_KEY or --key-file PATH), or, if it is lost, replace "
            "them: `servicetokens keys rotate --discard-existing` (JWTs signed so far stop "
            "validating)"
        ) from None
    return SigningKey(
        kid=record.kid,
        private_key=private_key,
        jwk=jwks.jwk_of(record.kid, private_key.public_key()),
        cert_pem=record.cert_pem,
        activates_at=from_micros(record.activates_at),
    )


def _plan(
    records: list[SigningKeyRecord], now: int, schedule: KeySchedule
) -> tuple[int | None, list[str]]:
    """(activation time of a key to add or None, kids to delete) for sorted `records`."""
    active = [r for r in records if r.activates_at <= now]
    upcoming = [r for r in records if r.activates_at > now]
    rotation, lead = to_micros_delta(schedule.rotation), to_micros_delta(schedule.lead)
    add: int | None = None
    if not active and not upcoming:
        add = now
    elif active and not upcoming and now >= active[-1].activates_at + rotation - lead:
        add = max(now + lead, active[-1].activates_at + rotation)
    keep_after = now - to_micros_delta(schedule.overlap + timedelta(days=1))
    stale = [
        r.kid for r, successor in itertools.pairwise(records) if successor.activates_at < keep_after
    ]
    return add, stale


def to_micros_delta(delta: timedelta) -> int:
    """A timedelta in whole microseconds."""
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


class KeyRing:
    """The keys of one process: synced from the database, rotated when due."""

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

    def sync(self) -> None:
        """Read the keys; add a key when one is due and prune retired ones (blocking I/O)."""
        now = to_micros(self._clock())
        with self._database.read() as tx:
            records = tx.signing_keys.all()
        add, stale = _plan(records, now, self._schedule)
        if add is not None or stale:
            with self._database.write() as tx:
                tx.signing_keys.lock()
                records = tx.signing_keys.all()  # another replica may have just rotated
                add, stale = _plan(records, now, self._schedule)
                if add is not None:
                    tx.signing_keys.add(self._new_key(now, add))
                with tx.signing_keys.erasing():
                    tx.signing_keys.delete(stale)
                records = tx.signing_keys.all()
        self._install(records, stale)

    def _new_key(self, now: int, activates_at: int) -> SigningKeyRecord:
        return new_signing_key(
            now=from_micros(now),
            activates_at=from_micros(activates_at),
            schedule=self._schedule,
            kek=self._kek,
        )

    def _install(self, records: list[SigningKeyRecord], stale: list[str]) -> None:
        loaded = {
            r.kid: self._loaded.get(r.kid) or _load(r, self._kek)
            for r in records
            if r.kid not in stale
        }
        with self._lock:
            self._loaded = loaded
            self._keys = sorted(loaded.values(), key=lambda k: (k.activates_at, k.kid))

    def rotate(self, *, discard_existing: bool = False) -> SigningKeyRecord | None:
        """`servicetokens keys rotate`: add a successor now instead of when due.

        The successor activates a full `lead` from now (every replica re-reads keys within
        a minute, so all have it before it signs), or at once when there is no key yet.
        Nothing is added while a successor is already waiting (None is returned).
        `discard_existing` deletes every key first and adds one that signs at once: for a
        leaked or lost key (JWTs signed so far stop validating). Retired keys are pruned.
        Running rings pick the change up at their next `sync()`.
        """
        now = to_micros(self._clock())
        lead = to_micros_delta(self._schedule.lead)
        with self._database.write() as tx:
            tx.signing_keys.lock()
            records = tx.signing_keys.all()
            if discard_existing:
                with tx.signing_keys.erasing():
                    tx.signing_keys.delete([r.kid for r in records])
                records = []
            for record in records:  # one KEK per deployment: never add a key under another
                if record.kek_id != self._kek.key_id:
                    _load(record, self._kek)  # raises WrongKeyEncryptionKey, with the fix
            _, stale = _plan(records, now, self._schedule)
            added: SigningKeyRecord | None = None
            if not any(r.activates_at > now for r in records):
                added = self._new_key(now, now + lead if records else now)
                tx.signing_keys.add(added)
            with tx.signing_keys.erasing():
                tx.signing_keys.delete(stale)
        return added

    def signing_key_at(self, timestamp: float) -> SigningKey:
        """`signing_key()` at epoch seconds `timestamp`; a float comparison on the hot path."""
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

    def signing_key(self) -> SigningKey:
        """The key that signs now: the newest one already active."""
        now = self._clock()
        keys = self._keys
        active = [k for k in keys if k.activates_at <= now]
        if not active:
            raise RuntimeError("no active signing key: call sync() first")
        return active[-1]

    def public_key(self, kid: str) -> rsa.RSAPublicKey | None:
        """The public key of a published key, for verifying reused JWTs."""
        for key in self.published():
            if key.kid == kid:
                return key.private_key.public_key()
        return None

    def published(self) -> list[SigningKey]:
        """Upcoming, current, and superseded keys still inside their overlap."""
        return jwks.published(self._keys, now=self._clock(), overlap=self._schedule.overlap)

    def certs_document(self) -> dict[str, Any]:
        """`/cdn-cgi/access/certs`: `keys` (JWKs), `public_cert` (current), `public_certs`."""
        return jwks.certs_document(self._keys, now=self._clock(), overlap=self._schedule.overlap)


def rewrap(database: Database, old: KeyEncryptionKey, new: KeyEncryptionKey) -> int:
    """Re-encrypt every stored private key from `old` to `new` in one transaction; the
    number re-encrypted. Keys already under `new` are left as they are (so a second run
    finishes what a gate still on `old` added meanwhile); a key under any other KEK stops
    it, with nothing changed. The replaced ciphertexts are erased on SQLite."""
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
    return count
