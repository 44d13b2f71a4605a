"""Token lifecycle rules with a fixed clock: create, update, refresh, rotate, verify."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from servicetokens.domain.errors import ValidationError
from servicetokens.domain.fields import TokenFields
from servicetokens.domain.permissions import Container, ContainerKind
from servicetokens.domain.secrets import CLIENT_ID_PATTERN, digest
from servicetokens.domain.tokens import (
    FOREVER_LIFETIME,
    ServiceToken,
    Verdict,
    create_token,
    refresh_token,
    rotate_token,
    update_token,
    verify_secret,
)

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
ACCOUNT = Container(ContainerKind.ACCOUNT, "a" * 32, "a" * 32)


def new(**fields: object) -> tuple[ServiceToken, str]:
    return create_token(TokenFields(name="t", **fields), container=ACCOUNT, now=T0)  # type: ignore[arg-type]


def test_create_defaults() -> None:
    token, secret = new()
    assert CLIENT_ID_PATTERN.match(token.client_id)
    assert len(secret) == 64
    assert token.secret_digest == digest(secret)
    assert secret.encode() not in token.secret_digest
    assert token.duration == "8760h"
    assert token.expires_at == T0 + timedelta(hours=8760)
    assert token.enabled is True
    assert token.client_secret_version == 1
    assert token.last_seen_at is None
    assert token.created_at == token.updated_at == T0


def test_create_forever_and_explicit_fields() -> None:
    grace = T0 + timedelta(days=3)
    token, _ = new(
        duration="forever",
        client_secret_version=2,
        previous_client_secret_expires_at=grace,
        enabled=False,
    )
    assert token.never_expires
    assert token.expires_at == T0 + FOREVER_LIFETIME
    assert token.client_secret_version == 2
    assert token.previous_client_secret_expires_at == grace
    assert token.enabled is False


def test_secrets_are_unique() -> None:
    secrets = {new()[1] for _ in range(200)}
    assert len(secrets) == 200


def test_update_duration_restarts_lifetime() -> None:
    token, _ = new(duration="1h")
    later = T0 + timedelta(minutes=30)
    updated, secret = update_token(token, TokenFields(duration="2h"), now=later)
    assert secret is None
    assert updated.expires_at == later + timedelta(hours=2)
    assert updated.updated_at == later
    renamed, _ = update_token(token, TokenFields(name="n"), now=later)
    assert renamed.expires_at == token.expires_at
    assert renamed.name == "n"


def test_update_version_rules() -> None:
    token, old_secret = new()
    same, secret = update_token(token, TokenFields(client_secret_version=1), now=T0)
    assert secret is None
    assert same.secret_digest == token.secret_digest
    grace = T0 + timedelta(hours=1)
    bumped, new_secret = update_token(
        token,
        TokenFields(client_secret_version=5, previous_client_secret_expires_at=grace),
        now=T0,
    )
    assert new_secret is not None
    assert bumped.client_secret_version == 5
    assert bumped.previous_secret_digest == digest(old_secret)
    assert bumped.previous_client_secret_expires_at == grace
    with pytest.raises(ValidationError, match="lower"):
        update_token(bumped, TokenFields(client_secret_version=4), now=T0)


def test_rotate_without_grace_revokes_old_secret_at_once() -> None:
    token, old = new()
    rotated, fresh = rotate_token(token, previous_expires_at=None, now=T0)
    assert rotated.client_id == token.client_id
    assert rotated.client_secret_version == 2
    assert rotated.expires_at == token.expires_at
    assert verify_secret(rotated, fresh, now=T0) is Verdict.VALID
    assert verify_secret(rotated, old, now=T0) is Verdict.WRONG_SECRET


def test_rotate_with_grace() -> None:
    token, old = new()
    grace_end = T0 + timedelta(hours=1)
    rotated, fresh = rotate_token(token, previous_expires_at=grace_end, now=T0)
    assert verify_secret(rotated, old, now=T0) is Verdict.VALID_PREVIOUS
    assert verify_secret(rotated, old, now=grace_end - timedelta(microseconds=1)).admitted
    assert verify_secret(rotated, old, now=grace_end) is Verdict.WRONG_SECRET
    # A second rotation forgets the first secret: only one previous secret is kept.
    again, _ = rotate_token(rotated, previous_expires_at=grace_end, now=T0)
    assert verify_secret(again, old, now=T0) is Verdict.WRONG_SECRET
    assert verify_secret(again, fresh, now=T0) is Verdict.VALID_PREVIOUS


def test_refresh() -> None:
    token, _ = new(duration="2h")
    later = T0 + timedelta(hours=1)
    refreshed = refresh_token(token, now=later)
    assert refreshed.expires_at == later + timedelta(hours=2)
    forever, _ = new(duration="forever")
    assert refresh_token(forever, now=later).expires_at == forever.expires_at


def test_verify_expiry_and_disable() -> None:
    token, secret = new(duration="1h")
    assert verify_secret(token, secret, now=T0) is Verdict.VALID
    assert verify_secret(token, secret, now=T0 + timedelta(hours=1)) is Verdict.EXPIRED
    assert verify_secret(token, "0" * 64, now=T0) is Verdict.WRONG_SECRET
    disabled, _ = update_token(token, TokenFields(enabled=False), now=T0)
    assert verify_secret(disabled, secret, now=T0) is Verdict.DISABLED
    forever, forever_secret = new(duration="forever")
    far = T0 + FOREVER_LIFETIME * 2
    assert verify_secret(forever, forever_secret, now=far) is Verdict.VALID


def test_disable_stops_previous_secret_too() -> None:
    token, old = new()
    rotated, _ = rotate_token(token, previous_expires_at=T0 + timedelta(days=1), now=T0)
    disabled, _ = update_token(rotated, TokenFields(enabled=False), now=T0)
    assert verify_secret(disabled, old, now=T0) is Verdict.DISABLED


@given(st.text(max_size=80))
def test_random_secrets_never_authenticate(guess: str) -> None:
    token, _ = new()
    assert verify_secret(token, guess, now=T0) is Verdict.WRONG_SECRET


@given(st.lists(st.sampled_from(["rotate", "rotate_grace", "bump", "refresh"]), max_size=12))
def test_versions_only_grow_and_exactly_the_right_secrets_work(steps: list[str]) -> None:
    token, current = new()
    previous: str | None = None
    now = T0
    for step in steps:
        now += timedelta(minutes=1)
        before = token.client_secret_version
        if step == "refresh":
            token = refresh_token(token, now=now)
            assert token.client_secret_version == before
            continue
        grace = now + timedelta(hours=1) if step != "rotate" else None
        if step == "bump":
            token, minted = update_token(
                token,
                TokenFields(
                    client_secret_version=before + 3, previous_client_secret_expires_at=grace
                ),
                now=now,
            )
            assert minted is not None
        else:
            token, minted = rotate_token(token, previous_expires_at=grace, now=now)
        assert token.client_secret_version > before
        previous, current = (current if grace else None), minted
    assert verify_secret(token, current, now=now) is Verdict.VALID
    if previous is not None:
        assert verify_secret(token, previous, now=now) is Verdict.VALID_PREVIOUS
