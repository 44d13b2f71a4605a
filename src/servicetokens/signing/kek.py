"""The key-encryption key (KEK): wraps signing private keys and keys the JWT `sfp` claim.

A KEK is 32 random bytes written as URL-safe base64 (the form of a Fernet key). It is never
stored in the database; every process that signs (the gates, `servicetokens keys rotate`)
is given it. Independent subkeys are derived from it with HKDF-SHA256, one per purpose:

- wrapping: AES-256-GCM over the PKCS#8 DER private key, the key's `kid` as associated
  data (a wrapped key moved to another row does not decrypt);
- the `sfp` claim: HMAC-SHA256 over a secret's stored digest, so a database reader, who
  has the digest, still cannot compute the claim;
- webhook secrets: AES-256-GCM under a subkey of their own, the destination's id as
  associated data (a sealed secret copied to another destination's row does not open);
- the KEK's id: a public name stored beside each wrapped key, so a wrong KEK is reported
  as such instead of as a decryption failure.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
from collections.abc import Callable

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

__all__ = [
    "KEK_BYTES",
    "Fingerprint",
    "KekError",
    "KeyEncryptionKey",
    "WrongKeyEncryptionKey",
    "key_id_of",
]

KEK_BYTES = 32
_WRAP_FORMAT = "aesgcm1"
_NONCE_BYTES = 12
_FINGERPRINT_BYTES = 12

Fingerprint = Callable[[bytes], str]
"""A secret's stored digest → the `sfp` claim naming it (keyed: see `KeyEncryptionKey`)."""


class KekError(Exception):
    """A key-encryption key is missing, malformed, or not the one the keys were wrapped under.

    The message says what is wrong and how to fix it; it never contains key material."""


class WrongKeyEncryptionKey(KekError):
    """A stored signing key was wrapped under another key-encryption key."""


def _derive(raw: bytes, purpose: bytes, length: int) -> bytes:
    return HKDF(
        algorithm=hashes.SHA256(), length=length, salt=None, info=b"servicetokens " + purpose
    ).derive(raw)


class KeyEncryptionKey:
    """A 32-byte key-encryption key and the subkeys derived from it."""

    __slots__ = ("_fingerprint_key", "_raw", "_seal", "_wrap", "key_id")

    def __init__(self, raw: bytes) -> None:
        if len(raw) != KEK_BYTES:
            raise KekError(f"a key-encryption key is {KEK_BYTES} bytes, not {len(raw)}")
        self._raw = raw
        self._wrap = AESGCM(_derive(raw, b"signing key wrap", 32))
        self._fingerprint_key = _derive(raw, b"sfp", 32)
        self._seal = AESGCM(_derive(raw, b"webhook secret seal", 32))
        self.key_id = _derive(raw, b"kek id", 8).hex()
        """A public name for this KEK (16 hex digits), stored beside what it wrapped."""

    @classmethod
    def generate(cls) -> KeyEncryptionKey:
        """A fresh random KEK."""
        return cls(os.urandom(KEK_BYTES))

    @classmethod
    def parse(cls, text: str, *, source: str) -> KeyEncryptionKey:
        """The KEK written in `text` (URL-safe base64 of 32 bytes, padding optional);
        `source` names where it came from, for the error message."""
        value = text.strip()
        try:
            raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
        except (binascii.Error, ValueError):
            raw = b""
        if len(raw) != KEK_BYTES or not value.isascii():
            raise KekError(
                f"{source} is not a key-encryption key: expected {KEK_BYTES} random bytes as "
                "URL-safe base64 (44 characters; `servicetokens keys generate-kek` prints one)"
            )
        return cls(raw)

    def encoded(self) -> str:
        """The KEK as URL-safe base64 (44 characters): what `generate-kek` prints."""
        return base64.urlsafe_b64encode(self._raw).decode("ascii")

    def __repr__(self) -> str:
        return f"KeyEncryptionKey(key_id={self.key_id!r})"

    # -- signing keys -------------------------------------------------------------------

    def wrap(self, kid: str, private_key: rsa.RSAPrivateKey) -> str:
        """`private_key` encrypted for storage in the row of `kid` (ASCII text)."""
        der = private_key.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self._wrap.encrypt(nonce, der, _associated(kid))
        return f"{_WRAP_FORMAT}:{base64.urlsafe_b64encode(nonce + sealed).decode('ascii')}"

    def unwrap(self, kid: str, kek_id: str, wrapped: str) -> rsa.RSAPrivateKey:
        """The private key of `kid`, stored as `wrapped` under the KEK named `kek_id`.

        Raises `WrongKeyEncryptionKey` when it was wrapped under another KEK, `KekError`
        when it does not decrypt or is not the key `kid` names."""
        if kek_id != self.key_id:
            raise WrongKeyEncryptionKey(
                f"signing key {kid[:16]}… is encrypted under key-encryption key {kek_id}, "
                f"but this process was given key {self.key_id}"
            )
        form, _, body = wrapped.partition(":")
        try:
            if form != _WRAP_FORMAT:
                raise ValueError(form)
            blob = base64.urlsafe_b64decode(body)
            der = self._wrap.decrypt(blob[:_NONCE_BYTES], blob[_NONCE_BYTES:], _associated(kid))
            # AES-GCM authenticated these bytes as the ones this module wrapped, so the
            # costly RSA consistency check (about 0.1 s a key) would only repeat it.
            private_key = serialization.load_der_private_key(
                der, password=None, unsafe_skip_rsa_key_validation=True
            )
        except (ValueError, InvalidTag, binascii.Error) as exc:
            raise KekError(f"signing key {kid[:16]}… does not decrypt: its row is damaged") from (
                exc
            )
        if not isinstance(private_key, rsa.RSAPrivateKey) or key_id_of(private_key) != kid:
            raise KekError(f"signing key {kid[:16]}… decrypts to a key that is not {kid[:16]}…")
        return private_key

    # -- webhook secrets ----------------------------------------------------------------

    def seal_webhook_secret(self, webhook_id: str, secret: str) -> str:
        """A webhook destination's shared secret encrypted for its row (ASCII text)."""
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self._seal.encrypt(nonce, secret.encode("utf-8"), _webhook(webhook_id))
        return f"{_WRAP_FORMAT}:{base64.urlsafe_b64encode(nonce + sealed).decode('ascii')}"

    def open_webhook_secret(self, webhook_id: str, kek_id: str, sealed: str) -> str:
        """The secret `seal_webhook_secret` sealed for `webhook_id` under the KEK named
        `kek_id`; `WrongKeyEncryptionKey` or `KekError` as `unwrap` raises them."""
        if kek_id != self.key_id:
            raise WrongKeyEncryptionKey(
                f"the secret of webhook {webhook_id} is encrypted under key-encryption key "
                f"{kek_id}, but this process was given key {self.key_id}"
            )
        form, _, body = sealed.partition(":")
        try:
            if form != _WRAP_FORMAT:
                raise ValueError(form)
            blob = base64.urlsafe_b64decode(body)
            plain = self._seal.decrypt(
                blob[:_NONCE_BYTES], blob[_NONCE_BYTES:], _webhook(webhook_id)
            )
            return plain.decode("utf-8")
        except (ValueError, InvalidTag, binascii.Error) as exc:
            raise KekError(
                f"the secret of webhook {webhook_id} does not decrypt: its row is damaged"
            ) from exc

    # -- the sfp claim ------------------------------------------------------------------

    def fingerprint(self, secret_digest: bytes) -> str:
        """The `sfp` claim for a secret with this stored digest: HMAC under a subkey of
        this KEK, so only processes holding the KEK can compute it."""
        mac = hmac.digest(self._fingerprint_key, secret_digest, "sha256")
        return base64.urlsafe_b64encode(mac[:_FINGERPRINT_BYTES]).decode("ascii")


def key_id_of(private_key: rsa.RSAPrivateKey) -> str:
    """A signing key's `kid`: SHA-256 of its DER SubjectPublicKeyInfo, in hex."""
    public_der = private_key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(public_der).hexdigest()


def _webhook(webhook_id: str) -> bytes:
    return b"servicetokens webhook secret\0" + webhook_id.encode("ascii", "replace")


def _associated(kid: str) -> bytes:
    return b"servicetokens signing key\0" + kid.encode("ascii")
