"""JWT signing keys as stored: a wrapped private key, its certificate, when it signs."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["SigningKeyRecord"]


@dataclass(frozen=True, slots=True)
class SigningKeyRecord:
    """A stored JWT signing key: its private key wrapped under the key-encryption key
    `kek_id` names, its self-signed certificate, and when it starts signing (microseconds
    since the epoch)."""

    kid: str
    wrapped_key: str
    kek_id: str
    cert_pem: str
    created_at: int
    activates_at: int
