"""Issuing the gate's RS256 JWTs, reusing them while fresh, and verifying presented ones.

Signing costs about a millisecond, so a token's JWT is issued once and reused until half
its lifetime has passed (or its key stops signing, or the token changes). Verified JWTs are
remembered too, so reuse by clients costs a dictionary lookup, not an RSA operation.
"""

from __future__ import annotations

import hashlib
import threading
from base64 import urlsafe_b64encode
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import jwt as pyjwt

from servicetokens.domain.clock import Clock, system_clock
from servicetokens.domain.tokens import ServiceToken
from servicetokens.gate.keys import KeyRing

__all__ = ["JwtIssuer", "ReusedJwt", "secret_fingerprint"]

_ALGORITHMS = ["RS256"]
_REMEMBERED = 50_000


def secret_fingerprint(secret_digest: bytes) -> str:
    """Names which secret a JWT was issued for (`sfp` claim) without revealing anything:
    a hash of the stored digest of a 256-bit secret."""
    mac = hashlib.sha256(b"servicetokens-sfp\0" + secret_digest).digest()[:12]
    return urlsafe_b64encode(mac).decode("ascii")


@dataclass(frozen=True, slots=True)
class ReusedJwt:
    """What a verified JWT says about the token that earned it."""

    client_id: str
    token_id: str
    fingerprint: str
    expires_at: float


@dataclass(frozen=True, slots=True)
class _Issued:
    token: str
    kid: str
    fingerprint: str
    renew_at: float


class JwtIssuer:
    """Issues and verifies JWTs for one audience and issuer."""

    def __init__(
        self,
        keys: KeyRing,
        *,
        audience: str,
        issuer: str,
        ttl: timedelta,
        clock: Clock = system_clock,
    ) -> None:
        self._keys = keys
        self._audience = audience
        self._issuer = issuer
        self._ttl = int(ttl.total_seconds())
        self._clock = clock
        self._issued: dict[str, _Issued] = {}
        self._verified: dict[str, ReusedJwt] = {}
        self._lock = threading.Lock()
        self.signed = 0

    def issue(self, token: ServiceToken, *, fingerprint: str) -> str:
        """A JWT for `token`, authenticated with the secret named by `fingerprint`."""
        now = self._clock().timestamp()
        key = self._keys.signing_key()
        cached = self._issued.get(token.client_id)
        if (
            cached is not None
            and cached.kid == key.kid
            and cached.fingerprint == fingerprint
            and now < cached.renew_at
        ):
            return cached.token
        iat = int(now)
        claims: dict[str, Any] = {
            "type": "app",
            "aud": [self._audience],
            "iss": self._issuer,
            "iat": iat,
            "nbf": iat,
            "exp": iat + self._ttl,
            "common_name": token.client_id,
            "sub": "",
            "token_id": token.id,
            "sfp": fingerprint,
        }
        encoded = pyjwt.encode(claims, key.private_key, algorithm="RS256", headers={"kid": key.kid})
        self.signed += 1
        self._issued[token.client_id] = _Issued(encoded, key.kid, fingerprint, iat + self._ttl / 2)
        self._remember(
            encoded, ReusedJwt(token.client_id, token.id, fingerprint, float(iat + self._ttl))
        )
        return encoded

    def _remember(self, encoded: str, reused: ReusedJwt) -> None:
        with self._lock:
            if len(self._verified) >= _REMEMBERED:
                self._verified.clear()
            self._verified[encoded] = reused

    def verify(self, encoded: str) -> ReusedJwt | None:
        """What a presented JWT says, if this gate's keys signed it for this audience and it
        has not expired; None otherwise."""
        now = self._clock().timestamp()
        known = self._verified.get(encoded)
        if known is not None:
            return known if now < known.expires_at else None
        try:
            kid = pyjwt.get_unverified_header(encoded).get("kid")
            public_key = self._keys.public_key(kid) if isinstance(kid, str) else None
            if public_key is None:
                return None
            claims = pyjwt.decode(
                encoded,
                public_key,
                algorithms=_ALGORITHMS,
                audience=self._audience,
                issuer=self._issuer,
                options={"require": ["exp", "iat", "aud", "iss"]},
            )
        except pyjwt.PyJWTError:
            return None
        fields = (claims.get("common_name"), claims.get("token_id"), claims.get("sfp"))
        if claims.get("type") != "app" or not all(isinstance(f, str) for f in fields):
            return None
        reused = ReusedJwt(str(fields[0]), str(fields[1]), str(fields[2]), float(claims["exp"]))
        self._remember(encoded, reused)
        return reused

    def forget(self, client_id: str) -> None:
        """Stop reusing the JWT issued for `client_id` (its token changed)."""
        self._issued.pop(client_id, None)
