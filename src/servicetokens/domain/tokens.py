"""A service token and its lifecycle: create, update, refresh, rotate, and verification.

Every function here is pure: it takes the current time and returns a new token (and, where
one is minted, the new plaintext secret, which is never stored).
"""

from __future__ import annotations

import enum
import hmac
import math
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from servicetokens.domain.durations import DEFAULT_DURATION, FOREVER, parse_token_duration
from servicetokens.domain.errors import ValidationError
from servicetokens.domain.fields import UNSET, TokenFields
from servicetokens.domain.permissions import Container
from servicetokens.domain.secrets import (
    digest,
    new_client_id,
    new_client_secret,
    new_token_id,
)

__all__ = [
    "FOREVER_LIFETIME",
    "ServiceToken",
    "Verdict",
    "check_digest",
    "create_token",
    "expires_at_seconds",
    "expiry_for",
    "previous_secret_dead",
    "previous_until_seconds",
    "refresh_token",
    "rotate_token",
    "standing",
    "update_token",
    "verify_secret",
]

FOREVER_LIFETIME = timedelta(days=36_525)
"""`expires_at` of a `forever` token: 100 years after it was set (the API always shows one)."""
_NO_PREVIOUS = digest("servicetokens-no-previous-secret")
"""Compared against when a token has no previous secret, so the work is the same."""


@dataclass(frozen=True, slots=True)
class ServiceToken:
    """A service token as stored: the secrets appear only as SHA-256 digests."""

    id: str
    container: Container
    name: str
    client_id: str
    secret_digest: bytes
    client_secret_version: int
    previous_secret_digest: bytes | None
    previous_client_secret_expires_at: datetime | None
    duration: str
    expires_at: datetime
    enabled: bool
    created_at: datetime
    updated_at: datetime
    last_seen_at: datetime | None

    @property
    def never_expires(self) -> bool:
        """Whether the token was given the `forever` duration."""
        return self.duration == FOREVER


def expiry_for(duration: str, start: datetime) -> datetime:
    """When a token with `duration` set at `start` expires (already-validated duration)."""
    lifetime = parse_token_duration(duration)
    try:
        return start + (FOREVER_LIFETIME if lifetime is None else lifetime)
    except OverflowError:
        raise ValidationError(f'duration "{duration}" reaches past the year 9999') from None


def create_token(
    fields: TokenFields, *, container: Container, now: datetime
) -> tuple[ServiceToken, str]:
    """A new token from validated create fields, and its plaintext secret.

    A `previous_client_secret_expires_at` is stored and echoed as given (Cloudflare accepts
    it on create, and Terraform reads it back), but there is no previous secret for it to
    keep alive: it admits nothing.
    """
    assert fields.name is not UNSET
    duration = DEFAULT_DURATION if fields.duration is UNSET else fields.duration
    secret = new_client_secret()
    token = ServiceToken(
        id=new_token_id(),
        container=container,
        name=fields.name,
        client_id=new_client_id(),
        secret_digest=digest(secret),
        client_secret_version=1
        if fields.client_secret_version is UNSET
        else fields.client_secret_version,
        previous_secret_digest=None,
        previous_client_secret_expires_at=(
            None
            if fields.previous_client_secret_expires_at is UNSET
            else fields.previous_client_secret_expires_at
        ),
        duration=duration,
        expires_at=expiry_for(duration, now),
        enabled=True if fields.enabled is UNSET else fields.enabled,
        created_at=now,
        updated_at=now,
        last_seen_at=None,
    )
    return token, secret


def previous_secret_dead(token: ServiceToken, *, now: datetime) -> bool:
    """Whether the token's previous secret can never be accepted again at `now` or later:
    there is none, or its grace period has ended (a revocation ends it at once)."""
    grace = token.previous_client_secret_expires_at
    return token.previous_secret_digest is None or grace is None or grace <= now


def _bury_dead_previous(token: ServiceToken, *, now: datetime) -> ServiceToken:
    # A dead previous secret is forgotten, so nothing (a later PUT, a restored cache entry,
    # a reader of the database) can ever bring it back.
    if token.previous_secret_digest is not None and previous_secret_dead(token, now=now):
        return replace(token, previous_secret_digest=None)
    return token


def _with_new_secret(
    token: ServiceToken, *, version: int, previous_expires_at: datetime | None, now: datetime
) -> tuple[ServiceToken, str]:
    secret = new_client_secret()
    rotated = replace(
        token,
        secret_digest=digest(secret),
        previous_secret_digest=token.secret_digest,
        previous_client_secret_expires_at=now
        if previous_expires_at is None
        else previous_expires_at,
        client_secret_version=version,
        updated_at=now,
    )
    return _bury_dead_previous(rotated, now=now), secret


def update_token(
    token: ServiceToken, fields: TokenFields, *, now: datetime
) -> tuple[ServiceToken, str | None]:
    """Apply a partial update (PUT); a higher `client_secret_version` rotates the secret.

    Omitted fields keep their values. A new `duration` restarts the lifetime from `now`.
    Returns the updated token and the new secret when one was minted.

    A previous secret that is dead (`previous_secret_dead`) stays dead: its digest is
    dropped, and a `previous_client_secret_expires_at` in the future is refused (400) unless
    the same request raises `client_secret_version`, which makes the current secret the new
    previous one. Sending back the stored value unchanged is not a change and is accepted.
    """
    _refuse_revival(token, fields, now=now)
    changes: dict[str, object] = {"updated_at": now}
    if fields.name is not UNSET:
        changes["name"] = fields.name
    if fields.enabled is not UNSET:
        changes["enabled"] = fields.enabled
    if fields.duration is not UNSET:
        changes["duration"] = fields.duration
        changes["expires_at"] = expiry_for(fields.duration, now)
    previous_expiry_given = fields.previous_client_secret_expires_at is not UNSET
    if previous_expiry_given:
        changes["previous_client_secret_expires_at"] = fields.previous_client_secret_expires_at
    updated = replace(token, **changes)  # type: ignore[arg-type]

    version = fields.client_secret_version
    if version is UNSET or version == token.client_secret_version:
        return _bury_dead_previous(updated, now=now), None
    if version < token.client_secret_version:
        raise ValidationError(
            f"client_secret_version {version} is lower than the current version "
            f"{token.client_secret_version}"
        )
    previous = updated.previous_client_secret_expires_at if previous_expiry_given else None
    return _with_new_secret(updated, version=version, previous_expires_at=previous, now=now)


def _refuse_revival(token: ServiceToken, fields: TokenFields, *, now: datetime) -> None:
    grace = fields.previous_client_secret_expires_at
    if grace is UNSET or grace is None or grace <= now:
        return  # no grace asked for, or one that ends the grace: always allowed
    version = fields.client_secret_version
    if version is not UNSET and version != token.client_secret_version:
        return  # higher: a rotation, the grace is for the secret replaced now; lower: refused
    if grace == token.previous_client_secret_expires_at or not previous_secret_dead(token, now=now):
        return  # unchanged, or moving a live grace
    raise ValidationError(
        "previous_client_secret_expires_at cannot be moved into the future: the previous "
        "secret was revoked or its grace period has ended, and it stays dead (raise "
        "client_secret_version or rotate to give the current secret a grace period)"
    )


def rotate_token(
    token: ServiceToken, *, previous_expires_at: datetime | None, now: datetime
) -> tuple[ServiceToken, str]:
    """A new secret, same client id; the old one stays valid until `previous_expires_at`.

    Without `previous_expires_at` the old secret stops working at once.
    """
    return _with_new_secret(
        token,
        version=token.client_secret_version + 1,
        previous_expires_at=previous_expires_at,
        now=now,
    )


def refresh_token(token: ServiceToken, *, now: datetime) -> ServiceToken:
    """Extend the lifetime: `expires_at = now + duration` (a `forever` token keeps its own)."""
    if token.never_expires:
        refreshed = replace(token, updated_at=now)
    else:
        refreshed = replace(token, expires_at=expiry_for(token.duration, now), updated_at=now)
    return _bury_dead_previous(refreshed, now=now)


class Verdict(enum.Enum):
    """The outcome of checking a presented secret against a token."""

    VALID = "valid"
    VALID_PREVIOUS = "valid_previous"
    """The previous secret, inside its grace period."""
    WRONG_SECRET = "wrong_secret"
    EXPIRED = "expired"
    DISABLED = "disabled"

    @property
    def admitted(self) -> bool:
        """Whether the presented credentials authenticate."""
        return self in (Verdict.VALID, Verdict.VALID_PREVIOUS)


def expires_at_seconds(token: ServiceToken) -> float:
    """When the token expires, as epoch seconds (inf: never)."""
    return math.inf if token.never_expires else token.expires_at.timestamp()


def previous_until_seconds(token: ServiceToken) -> float:
    """When the previous secret stops being accepted, as epoch seconds (-inf: no grace)."""
    grace = token.previous_client_secret_expires_at
    return -math.inf if grace is None else grace.timestamp()


def check_digest(
    presented: bytes, token: ServiceToken, now: float, expires_at: float, previous_until: float
) -> Verdict:
    """The verdict on a presented secret whose digest is `presented`, at epoch seconds
    `now`, with the token's time limits already worked out as epoch seconds
    (`expires_at_seconds`, `previous_until_seconds`): the one implementation of the rule,
    for callers that keep those floats (the gate's cache) and for `verify_secret`.

    Both digests are always compared, so timing does not tell which one matched (or that
    there is no previous secret). Epoch-second floats order distinct microseconds exactly
    until the year 2242."""
    current = hmac.compare_digest(presented, token.secret_digest)
    stored_previous = token.previous_secret_digest
    previous = hmac.compare_digest(
        presented, _NO_PREVIOUS if stored_previous is None else stored_previous
    )
    if not current and not (previous and stored_previous is not None and now < previous_until):
        return Verdict.WRONG_SECRET
    # `standing`, inline: this is the gate's hot path (tests hold the two equal).
    if not token.enabled:
        return Verdict.DISABLED
    if now >= expires_at:
        return Verdict.EXPIRED
    return Verdict.VALID if current else Verdict.VALID_PREVIOUS


def standing(token: ServiceToken, now: float, expires_at: float) -> Verdict:
    """Whether an authenticated token may still be used at epoch seconds `now` (it expires
    at `expires_at`, `expires_at_seconds`): `DISABLED`, `EXPIRED` or `VALID`, in the order
    `check_digest` judges a right secret; for a JWT the secret earned earlier."""
    if not token.enabled:
        return Verdict.DISABLED
    if now >= expires_at:
        return Verdict.EXPIRED
    return Verdict.VALID


def verify_secret(token: ServiceToken, secret: str, *, now: datetime) -> Verdict:
    """Check `secret` against the token's current and previous secret at time `now`
    (`check_digest` on its digest)."""
    return check_digest(
        digest(secret),
        token,
        now.timestamp(),
        expires_at_seconds(token),
        previous_until_seconds(token),
    )
