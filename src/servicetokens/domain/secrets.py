"""Generating identifiers and secrets, hashing them, and checking them in constant time.

Every secret is 256 bits from the OS CSPRNG. Only SHA-256 digests are stored: the inputs are
uniformly random 256-bit values, so a salted or slow hash would add cost without adding
resistance (there is nothing to brute-force).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import uuid

__all__ = [
    "API_KEY_PATTERN",
    "API_TOKEN_PATTERN",
    "CLIENT_ID_PATTERN",
    "digest",
    "digests_match",
    "new_api_key",
    "new_api_token",
    "new_aud_tag",
    "new_client_id",
    "new_client_secret",
    "new_container_id",
    "new_token_id",
]

SECRET_BYTES = 32  # 256 bits
API_TOKEN_PREFIX = "stk_"

CLIENT_ID_PATTERN = re.compile(r"^[0-9a-f]{32}\.access$")
"""A service token's client id: 32 lowercase hex digits and `.access`, as Cloudflare's."""

API_TOKEN_PATTERN = re.compile(r"^[A-Za-z0-9_\-.]{16,256}$")
"""What a well-formed Bearer token may look like (anything else is a malformed header)."""

API_KEY_PATTERN = re.compile(r"^[A-Za-z0-9_\-]{16,256}$")
"""What a well-formed X-Auth-Key may look like."""


def new_token_id() -> str:
    """A service token's `id`: a random lowercase UUID."""
    return str(uuid.uuid4())


def new_aud_tag() -> str:
    """An Access application's audience (`aud`) tag: 64 lowercase hex digits (256 random
    bits), the shape Cloudflare's tags have."""
    return secrets.token_hex(SECRET_BYTES)


def new_container_id() -> str:
    """An account or zone id: 32 lowercase hex digits (128 random bits)."""
    return secrets.token_hex(16)


def new_client_id() -> str:
    """A service token's public client id: 32 random hex digits + `.access`."""
    return f"{secrets.token_hex(16)}.access"


def new_client_secret() -> str:
    """A service token's secret: 64 lowercase hex digits (256 random bits)."""
    return secrets.token_hex(SECRET_BYTES)


def new_api_token() -> str:
    """An API token for the management API: `stk_` + 64 hex digits (256 random bits)."""
    return API_TOKEN_PREFIX + secrets.token_hex(SECRET_BYTES)


def new_api_key() -> str:
    """A user's global API key (X-Auth-Key): 64 hex digits (256 random bits)."""
    return secrets.token_hex(SECRET_BYTES)


def digest(secret: str) -> bytes:
    """The stored form of a secret: its SHA-256 digest (32 bytes)."""
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).digest()


_DUMMY_DIGEST = digest("servicetokens-timing-equaliser")


def digests_match(secret: str, stored: bytes | None) -> bool:
    """Whether `secret` hashes to `stored`, compared in constant time.

    With `stored=None` (an unknown credential) the same work is still done, so a caller's
    response time says nothing about whether the identifier exists.
    """
    candidate = digest(secret)
    if stored is None:
        hmac.compare_digest(candidate, _DUMMY_DIGEST)
        return False
    return hmac.compare_digest(candidate, stored)
