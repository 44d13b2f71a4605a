"""RS256 signing keys as key material: made (RSA key and certificate), wrapped, unwrapped.

When keys are made, kept and retired is `domain/signing_keys.py`'s rule; this module only
does the cryptography a `SigningKeyRecord` stands for.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from servicetokens.domain.clock import from_micros, to_micros
from servicetokens.domain.signing_keys import KeySchedule, SigningKeyRecord, certificate_validity
from servicetokens.signing import jwks
from servicetokens.signing.kek import KekError, KeyEncryptionKey, key_id_of

__all__ = ["SigningKey", "load_signing_key", "new_signing_key"]

_KEY_BITS = 2048
_PUBLIC_EXPONENT = 65537


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
    """A fresh RSA key with a self-signed certificate covering its whole published life
    (`domain.signing_keys.certificate_validity`), its private key wrapped under `kek`."""
    private_key = rsa.generate_private_key(public_exponent=_PUBLIC_EXPONENT, key_size=_KEY_BITS)
    kid = key_id_of(private_key)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"servicetokens gate {kid[:16]}")])
    not_before, not_after = certificate_validity(now, activates_at, schedule)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(private_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
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


def load_signing_key(record: SigningKeyRecord, kek: KeyEncryptionKey) -> SigningKey:
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
