"""RS256 signing keys: made, rotated and pruned in the database, published as JWKS.

Every replica reads the same `signing_keys` rows. A new key is stored `key_lead` before it
starts signing, so every replica (and every verifier caching `/cdn-cgi/access/certs`) has
seen it before the first JWT under it; a superseded key stays published for `key_overlap`.
Rotation is serialised by a database lock, so replicas never race to add two keys.
"""

from __future__ import annotations

import hashlib
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
from jwt.algorithms import RSAAlgorithm

from servicetokens.domain.clock import Clock, from_micros, system_clock, to_micros
from servicetokens.store.repository import Repository, SigningKeyRecord

__all__ = ["KeyRing", "KeySchedule", "SigningKey", "new_signing_key"]

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
    *, now: datetime, activates_at: datetime, schedule: KeySchedule
) -> SigningKeyRecord:
    """A fresh RSA key with a self-signed certificate covering its whole published life."""
    private_key = rsa.generate_private_key(public_exponent=_PUBLIC_EXPONENT, key_size=_KEY_BITS)
    public_der = private_key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    kid = hashlib.sha256(public_der).hexdigest()
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
    private_pem = private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode("ascii")
    return SigningKeyRecord(
        kid=kid,
        private_pem=private_pem,
        cert_pem=cert.public_bytes(serialization.Encoding.PEM).decode("ascii"),
        created_at=to_micros(now),
        activates_at=to_micros(activates_at),
    )


def _load(record: SigningKeyRecord) -> SigningKey:
    private_key = serialization.load_pem_private_key(record.private_pem.encode(), password=None)
    assert isinstance(private_key, rsa.RSAPrivateKey)
    jwk = RSAAlgorithm.to_jwk(private_key.public_key(), as_dict=True)
    jwk.update(kid=record.kid, alg="RS256", use="sig")
    return SigningKey(
        kid=record.kid,
        private_key=private_key,
        jwk={k: jwk[k] for k in ("kid", "kty", "alg", "use", "e", "n")},
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
        self, repository: Repository, *, schedule: KeySchedule, clock: Clock = system_clock
    ) -> None:
        self._repository = repository
        self._schedule = schedule
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
        with self._repository.read() as tx:
            records = tx.signing_keys()
        add, stale = _plan(records, now, self._schedule)
        if add is not None or stale:
            with self._repository.write() as tx:
                tx.lock_signing_keys()
                records = tx.signing_keys()  # another replica may have just rotated
                add, stale = _plan(records, now, self._schedule)
                if add is not None:
                    tx.add_signing_key(
                        new_signing_key(
                            now=from_micros(now),
                            activates_at=from_micros(add),
                            schedule=self._schedule,
                        )
                    )
                tx.delete_signing_keys(stale)
                records = tx.signing_keys()
        with self._lock:
            self._loaded = {
                r.kid: self._loaded.get(r.kid) or _load(r) for r in records if r.kid not in stale
            }
            self._keys = sorted(self._loaded.values(), key=lambda k: (k.activates_at, k.kid))

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
        now = self._clock()
        keys = self._keys
        shown = []
        for key, successor in zip(keys, [*keys[1:], None], strict=True):
            if successor is None or now < successor.activates_at + self._schedule.overlap:
                shown.append(key)
        return shown

    def certs_document(self) -> dict[str, Any]:
        """`/cdn-cgi/access/certs`: `keys` (JWKs), `public_cert` (current), `public_certs`."""
        published = self.published()
        current = self.signing_key()
        return {
            "keys": [k.jwk for k in published],
            "public_cert": {"kid": current.kid, "cert": current.cert_pem},
            "public_certs": [{"kid": k.kid, "cert": k.cert_pem} for k in published],
        }
