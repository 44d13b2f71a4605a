"""`/cdn-cgi/access/certs` from public material only: what is published, and in what shape.

The gate (from its loaded keys) and the API server (from the stored certificates, with no
private key and no key-encryption key) answer the same document through these functions;
which keys are published and which one signs is `domain/signing_keys.py`'s rule.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol, TypeVar

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from servicetokens.domain.signing_keys import published, signing

__all__ = ["PublicKey", "Publishable", "certs_document", "jwk_of", "public_key"]


class Publishable(Protocol):
    """A key as published: its id, JWK, certificate, and when it starts signing."""

    @property
    def kid(self) -> str: ...
    @property
    def jwk(self) -> dict[str, Any]: ...
    @property
    def cert_pem(self) -> str: ...
    @property
    def activates_at(self) -> datetime: ...


K = TypeVar("K", bound=Publishable)


@dataclass(frozen=True, slots=True)
class PublicKey:
    """A signing key's public half, read from its stored certificate."""

    kid: str
    jwk: dict[str, Any]
    cert_pem: str
    activates_at: datetime


def jwk_of(kid: str, public: rsa.RSAPublicKey) -> dict[str, Any]:
    """The JWK Cloudflare publishes for an RSA key: kid, kty, alg, use, e, n."""
    jwk = RSAAlgorithm.to_jwk(public, as_dict=True)
    jwk.update(kid=kid, alg="RS256", use="sig")
    return {k: jwk[k] for k in ("kid", "kty", "alg", "use", "e", "n")}


def public_key(kid: str, cert_pem: str, activates_at: datetime) -> PublicKey:
    """The published form of a stored key, from its certificate alone."""
    public = x509.load_pem_x509_certificate(cert_pem.encode("ascii")).public_key()
    if not isinstance(public, rsa.RSAPublicKey):
        raise ValueError(f"signing key {kid} has no RSA certificate")
    return PublicKey(kid, jwk_of(kid, public), cert_pem, activates_at)


def certs_document(keys: Sequence[K], *, now: datetime, overlap: timedelta) -> dict[str, Any]:
    """`{"keys": [JWK...], "public_cert": {"kid", "cert"}, "public_certs": [...]}`.

    With no key yet (no gate has started, nobody ran `keys rotate`): `keys` and
    `public_certs` are empty and `public_cert` is null; no JWT exists to verify then."""
    shown = published(keys, now=now, overlap=overlap)
    current = signing(keys, now=now)
    return {
        "keys": [k.jwk for k in shown],
        "public_cert": None if current is None else {"kid": current.kid, "cert": current.cert_pem},
        "public_certs": [{"kid": k.kid, "cert": k.cert_pem} for k in shown],
    }
