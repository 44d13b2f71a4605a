"""The JWTs a gate issues for Access applications (spec §8), reused while fresh, and the ones
clients present back to an application (its session).

Claims come from the engine (`domain.enforcement.jwt_claims`: `aud` the application's tag,
`iss` `https://<auth_domain>`, the lifetime of the admitting policy, application or
organization), plus the gate's bookkeeping as in the single-upstream form: `nbf`, and for a
token `token_id` and `sfp` (which secret earned it), so a presented JWT dies with its token
or secret, and `issued_us` (when it was signed, to the microsecond: `iat` is whole seconds,
and `revoke_tokens` must end a JWT signed earlier in the same second, not one signed later).
A lifetime is capped at `max_ttl` (the signing key's overlap), so no JWT outlives the
publication of the key that signed it.

One JWT per (client id, application) is signed and reused until half its lifetime has
passed, its key stops signing, the secret that earned it changes, its lifetime or issuer
changes, or the application's tokens were revoked after it was issued. A Service Auth
admission without a token (an `everyone` or `ip` rule) shares one JWT per application: its
claims name nobody. Verified JWTs are remembered with their audience and issuer.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import jwt as pyjwt

from servicetokens.domain.enforcement import AppView, OrgView, PolicyView, issuer, jwt_claims
from servicetokens.domain.enforcement.views import TokenFacts
from servicetokens.gate.credentials import set_cookie_value
from servicetokens.gate.decision import Decision
from servicetokens.gate.jwt import LEEWAY, read_token_claims
from servicetokens.usecases.signing_keys import KeyRing

__all__ = ["AppJwts", "AppSession", "IssuedAppJwt"]

_REMEMBERED = 50_000


@dataclass(frozen=True, slots=True)
class IssuedAppJwt:
    """A JWT signed for one application (and token), with what admitting with it takes."""

    encoded: bytes
    """As bytes, to recognise it in a `Cookie` header."""
    kid: str
    fingerprint: str
    auth_domain: str
    """The organization's, whose `https://` form is the `iss`."""
    lifetime: int
    issued_at: float
    """When it was signed (epoch seconds, to the microsecond: `iat` is whole seconds)."""
    renew_at: float
    admit: Decision
    """The admission without a cookie."""
    admit_offering_cookie: Decision
    """The admission offering the JWT as the `CF_Authorization` cookie."""


@dataclass(frozen=True, slots=True)
class AppSession:
    """What a verified application JWT says (only JWTs naming a token are sessions)."""

    audience: str
    issuer: str
    client_id: str
    token_id: str
    fingerprint: str
    issued_at: float
    """When it was signed (`issued_us`, to the microsecond), for `revoke_tokens`."""
    expires_at: float
    admit: Decision
    """The admission forwarding this very JWT (no cookie: the client holds it)."""


class AppJwts:
    """Issues and verifies application JWTs under the gate's signing keys."""

    def __init__(self, keys: KeyRing, *, max_ttl: int) -> None:
        self._keys = keys
        self._max_ttl = max_ttl
        self._issued: dict[tuple[str, str], IssuedAppJwt] = {}
        self._by_client: dict[str, set[str]] = {}
        self._verified: dict[str, AppSession] = {}
        self._lock = threading.Lock()
        self.signed = 0

    def issue(
        self,
        *,
        app: AppView,
        org: OrgView,
        policy: PolicyView | None,
        token: TokenFacts | None,
        fingerprint: str,
        lifetime: int,
        revoked_at: float,
        now: float,
    ) -> IssuedAppJwt:
        """The JWT admitting `token` (None: a tokenless Service Auth admission) to `app` at
        epoch seconds `now`, living `lifetime` seconds (capped), for the secret named by
        `fingerprint`; a fresh one when the cached one was issued at or before
        `revoked_at`."""
        key = self._keys.signing_key(now)
        client_id = "" if token is None else token.client_id
        lifetime = min(lifetime, self._max_ttl)
        cached = self._issued.get((client_id, app.aud))
        if (
            cached is not None
            and cached.kid == key.kid
            and cached.fingerprint == fingerprint
            and now < cached.renew_at
            and cached.lifetime == lifetime
            and cached.auth_domain == org.auth_domain
            and cached.issued_at > revoked_at
        ):
            return cached
        iss = issuer(org)
        iat = int(now)
        issued_us = int(now * 1_000_000)
        claims = jwt_claims(app=app, org=org, policy=policy, token=token, now=iat)
        claims["exp"] = iat + lifetime
        claims["nbf"] = iat
        if token is not None:
            claims["token_id"] = token.token_id
            claims["sfp"] = fingerprint
            claims["issued_us"] = issued_us
        encoded = pyjwt.encode(claims, key.private_key, algorithm="RS256", headers={"kid": key.kid})
        self.signed += 1
        issued = IssuedAppJwt(
            encoded=encoded.encode("ascii"),
            kid=key.kid,
            fingerprint=fingerprint,
            auth_domain=org.auth_domain,
            lifetime=lifetime,
            issued_at=issued_us / 1_000_000,
            renew_at=iat + lifetime / 2,
            admit=Decision(200, "service auth policy", jwt=encoded),
            admit_offering_cookie=Decision(
                200,
                "service auth policy",
                jwt=encoded,
                set_cookie=set_cookie_value(encoded, max_age=lifetime),
            ),
        )
        with self._lock:
            if len(self._issued) >= _REMEMBERED:
                self._issued.clear()
                self._by_client.clear()
            self._issued[(client_id, app.aud)] = issued
            self._by_client.setdefault(client_id, set()).add(app.aud)
        if token is not None:
            self._remember(
                encoded,
                AppSession(
                    app.aud,
                    iss,
                    token.client_id,
                    token.token_id,
                    fingerprint,
                    issued_us / 1_000_000,
                    float(iat + lifetime),
                    Decision(200, "app JWT presented", jwt=encoded),
                ),
            )
        return issued

    def reusable(self, issued: IssuedAppJwt, fingerprint: str, now: float) -> bool:
        """Whether `issued` may admit again at epoch seconds `now` under an unchanged
        configuration: its key still signs, the secret presented earned it, and less than
        half its lifetime has passed."""
        return (
            now < issued.renew_at
            and issued.fingerprint == fingerprint
            and issued.kid == self._keys.signing_key(now).kid
        )

    def _remember(self, encoded: str, session: AppSession) -> None:
        with self._lock:
            if len(self._verified) >= _REMEMBERED:
                self._verified.clear()
            self._verified[encoded] = session

    def verify(self, encoded: str, *, audience: str, iss: str, now: float) -> AppSession | None:
        """The session a presented JWT stands for, if this gate's keys signed it for
        `audience` and `iss`, it names a token, and it stands at epoch seconds `now`."""
        known = self._verified.get(encoded)
        if known is not None:
            if known.audience != audience or known.issuer != iss:
                return None
            stands = int(known.issued_at) - LEEWAY <= now < known.expires_at + LEEWAY
            return known if stands else None
        read = read_token_claims(encoded, self._keys, audience=audience, issuer=iss, now=now)
        if read is None:
            return None
        claims, times = read
        fields = (claims["common_name"], claims["token_id"], claims["sfp"])
        issued_us = claims.get("issued_us")
        if not isinstance(issued_us, int) or isinstance(issued_us, bool):
            return None
        session = AppSession(
            audience,
            iss,
            str(fields[0]),
            str(fields[1]),
            str(fields[2]),
            issued_us / 1_000_000,
            times[1],
            Decision(200, "app JWT presented", jwt=encoded),
        )
        self._remember(encoded, session)
        return session

    def forget(self, client_id: str) -> None:
        """Stop reusing the JWTs issued for `client_id` (its token changed)."""
        with self._lock:
            for aud in self._by_client.pop(client_id, ()):
                self._issued.pop((client_id, aud), None)
