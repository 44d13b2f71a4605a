"""Issuing the gate's RS256 JWTs, reusing them while fresh, and verifying presented ones.

Signing costs about a millisecond, so a token's JWT is issued once and reused until half
its lifetime has passed (or its key stops signing, or the token changes). Verified JWTs are
remembered too, so reuse by clients costs a dictionary lookup, not an RSA operation.

Everything a request admitted with a JWT needs besides the check itself (the assertion,
the `Set-Cookie` value, the `Decision`) is built once per JWT, alongside it, and dropped
with it: when the token changes (`forget`), its key stops signing, or it is renewed.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Protocol

import jwt as pyjwt

from servicetokens.domain.tokens import ServiceToken
from servicetokens.gate.credentials import set_cookie_value
from servicetokens.gate.decision import Decision
from servicetokens.usecases.signing_keys import KeyRing

__all__ = [
    "ALGORITHMS",
    "LEEWAY",
    "Issued",
    "JwtIssuer",
    "PublicKeys",
    "ReusedJwt",
    "read_token_claims",
    "standing_times",
]

ALGORITHMS = ["RS256"]
_REMEMBERED = 50_000
LEEWAY = 30.0
"""Seconds of clock skew allowed between the replica that signed a JWT and the one that
checks it, on `exp`, `nbf` and `iat` alike."""


def standing_times(claims: dict[str, Any], now: float) -> tuple[float, float] | None:
    """(`iat`, `exp`) of decoded claims if they are numbers and the JWT stands at epoch
    seconds `now` (with `LEEWAY` on `exp`, `nbf` and `iat` alike); None otherwise."""
    times = [claims.get("exp"), claims.get("iat"), claims.get("nbf", claims.get("iat"))]
    if not all(isinstance(t, int | float) and not isinstance(t, bool) for t in times):
        return None
    expires_at, issued_at, not_before = (float(t) for t in times)  # type: ignore[arg-type]
    if now >= expires_at + LEEWAY or now < not_before - LEEWAY or now < issued_at - LEEWAY:
        return None
    return issued_at, expires_at


class PublicKeys(Protocol):
    """Where a verifier finds the public key a `kid` names."""

    def public_key(self, kid: str) -> Any: ...


def read_token_claims(
    encoded: str, keys: PublicKeys, *, audience: str, issuer: str, now: float
) -> tuple[dict[str, Any], tuple[float, float]] | None:
    """The claims of a presented service-token JWT and its (issued, expires) times, if one
    of `keys` signed it for `audience` and `issuer`, it names a token (`common_name`,
    `token_id`, `sfp` strings, `type` app) and it stands at epoch seconds `now` (with
    LEEWAY on each side); else None. The single-upstream gate and the applications' JWTs
    both read presented JWTs here."""
    try:
        kid = pyjwt.get_unverified_header(encoded).get("kid")
        public_key = keys.public_key(kid) if isinstance(kid, str) else None
        if public_key is None:
            return None
        # The times are judged below against `now` (the gate's clock, injectable), with
        # LEEWAY on each, instead of by PyJWT against its own.
        claims: dict[str, Any] = pyjwt.decode(
            encoded,
            public_key,
            algorithms=ALGORITHMS,
            audience=audience,
            issuer=issuer,
            options={
                "require": ["exp", "iat", "aud", "iss"],
                "verify_exp": False,
                "verify_nbf": False,
                "verify_iat": False,
            },
        )
    except pyjwt.PyJWTError:
        return None
    fields = (claims.get("common_name"), claims.get("token_id"), claims.get("sfp"))
    if claims.get("type") != "app" or not all(isinstance(f, str) for f in fields):
        return None
    times = standing_times(claims, now)
    return None if times is None else (claims, times)


@dataclass(frozen=True, slots=True)
class ReusedJwt:
    """What a verified JWT says about the token that earned it."""

    client_id: str
    token_id: str
    fingerprint: str
    expires_at: float
    admit: Decision
    """The admission for a request presenting this JWT (no cookie: it already has it)."""


@dataclass(frozen=True, slots=True)
class Issued:
    """A JWT this gate signed for a token, with what admitting a request with it takes."""

    token: str
    kid: str
    fingerprint: str
    renew_at: float
    encoded: bytes
    """The JWT as bytes (to recognise it in a `Cookie` header)."""
    admit: Decision
    """The admission without a cookie (the client already holds this JWT)."""
    admit_offering_cookie: Decision
    """The admission offering the JWT as the `CF_Authorization` cookie."""


class JwtIssuer:
    """Issues and verifies JWTs for one audience and issuer."""

    def __init__(
        self,
        keys: KeyRing,
        *,
        audience: str,
        issuer: str,
        ttl: timedelta,
    ) -> None:
        self._keys = keys
        self._audience = audience
        self._issuer = issuer
        self._ttl = int(ttl.total_seconds())
        self._issued: dict[str, Issued] = {}
        self._verified: dict[str, ReusedJwt] = {}
        self._lock = threading.Lock()
        self.signed = 0

    def issue(self, token: ServiceToken, *, fingerprint: str, now: float) -> Issued:
        """A JWT for `token`, authenticated with the secret named by `fingerprint`, at epoch
        seconds `now`."""
        key = self._keys.signing_key(now)
        cached = self._issued.get(token.client_id)
        if (
            cached is not None
            and cached.kid == key.kid
            and cached.fingerprint == fingerprint
            and now < cached.renew_at
        ):
            return cached
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
        admit = Decision(200, "ok", jwt=encoded)
        issued = Issued(
            token=encoded,
            kid=key.kid,
            fingerprint=fingerprint,
            renew_at=iat + self._ttl / 2,
            encoded=encoded.encode("ascii"),
            admit=admit,
            admit_offering_cookie=Decision(
                200, "ok", jwt=encoded, set_cookie=set_cookie_value(encoded, max_age=self._ttl)
            ),
        )
        self._issued[token.client_id] = issued
        self._remember(
            encoded,
            ReusedJwt(token.client_id, token.id, fingerprint, float(iat + self._ttl), admit),
        )
        return issued

    def _remember(self, encoded: str, reused: ReusedJwt) -> None:
        with self._lock:
            if len(self._verified) >= _REMEMBERED:
                self._verified.clear()
            self._verified[encoded] = reused

    def verify(self, encoded: str, *, now: float) -> ReusedJwt | None:
        """What a presented JWT says, if this gate's keys signed it for this audience and it
        has not expired at epoch seconds `now`; None otherwise."""
        known = self._verified.get(encoded)
        if known is not None:
            return known if now < known.expires_at + LEEWAY else None
        read = read_token_claims(
            encoded, self._keys, audience=self._audience, issuer=self._issuer, now=now
        )
        if read is None:
            return None
        claims, times = read
        fields = (claims["common_name"], claims["token_id"], claims["sfp"])
        reused = ReusedJwt(
            str(fields[0]),
            str(fields[1]),
            str(fields[2]),
            times[1],
            Decision(200, "ok", jwt=encoded),
        )
        self._remember(encoded, reused)
        return reused

    def forget(self, client_id: str) -> None:
        """Stop reusing the JWT issued for `client_id` (its token changed)."""
        self._issued.pop(client_id, None)
