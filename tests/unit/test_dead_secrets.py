"""A previous secret whose grace ended, or that was revoked, stays dead: no PUT revives it,
and the first mutation that finds it dead forgets its digest."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from servicetokens.domain.errors import ValidationError
from servicetokens.domain.fields import UNSET, TokenFields, Unset
from servicetokens.domain.permissions import Container, ContainerKind
from servicetokens.domain.secrets import digest
from servicetokens.domain.tokens import (
    ServiceToken,
    Verdict,
    create_token,
    previous_secret_dead,
    refresh_token,
    rotate_token,
    update_token,
    verify_secret,
)

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
ACCOUNT = Container(ContainerKind.ACCOUNT, "a" * 32, "a" * 32)


def new(**fields: object) -> tuple[ServiceToken, str]:
    return create_token(TokenFields(name="t", **fields), container=ACCOUNT, now=T0)  # type: ignore[arg-type]


def test_a_revoked_secret_is_forgotten_at_rotation_and_cannot_be_revived() -> None:
    token, old = new()
    rotated, _ = rotate_token(token, previous_expires_at=None, now=T0)
    assert rotated.previous_secret_digest is None
    assert rotated.previous_client_secret_expires_at == T0
    with pytest.raises(ValidationError, match="previous_client_secret_expires_at"):
        update_token(rotated, TokenFields(previous_client_secret_expires_at=T0 + HOUR), now=T0)
    assert verify_secret(rotated, old, now=T0) is Verdict.WRONG_SECRET


def test_an_ended_grace_cannot_be_extended_and_the_next_change_drops_the_digest() -> None:
    token, old = new()
    rotated, _ = rotate_token(token, previous_expires_at=T0 + HOUR, now=T0)
    assert rotated.previous_secret_digest == digest(old)
    later = T0 + 2 * HOUR
    with pytest.raises(ValidationError, match="stays dead"):
        update_token(
            rotated, TokenFields(previous_client_secret_expires_at=later + HOUR), now=later
        )
    renamed, secret = update_token(rotated, TokenFields(name="renamed"), now=later)
    assert secret is None
    assert renamed.previous_secret_digest is None
    assert renamed.previous_client_secret_expires_at == T0 + HOUR  # when it ended, kept
    assert refresh_token(rotated, now=later).previous_secret_digest is None


def test_a_live_grace_may_be_moved_later_or_earlier() -> None:
    token, old = new()
    rotated, _ = rotate_token(token, previous_expires_at=T0 + HOUR, now=T0)
    longer, _ = update_token(
        rotated, TokenFields(previous_client_secret_expires_at=T0 + 5 * HOUR), now=T0
    )
    assert verify_secret(longer, old, now=T0 + 4 * HOUR) is Verdict.VALID_PREVIOUS
    shorter, _ = update_token(
        longer, TokenFields(previous_client_secret_expires_at=T0 + HOUR / 2), now=T0
    )
    assert shorter.previous_secret_digest == digest(old)
    assert verify_secret(shorter, old, now=T0 + HOUR) is Verdict.WRONG_SECRET


@pytest.mark.parametrize("end", [None, T0 - HOUR, T0])
def test_a_put_that_ends_the_grace_drops_the_digest(end: datetime | None) -> None:
    token, old = new()
    rotated, _ = rotate_token(token, previous_expires_at=T0 + HOUR, now=T0)
    ended, _ = update_token(rotated, TokenFields(previous_client_secret_expires_at=end), now=T0)
    assert ended.previous_secret_digest is None
    assert ended.previous_client_secret_expires_at == end
    assert verify_secret(ended, old, now=T0) is Verdict.WRONG_SECRET


def test_raising_the_version_starts_a_new_grace_even_after_a_dead_one() -> None:
    token, first = new()
    rotated, second = rotate_token(token, previous_expires_at=None, now=T0)
    bumped, third = update_token(
        rotated,
        TokenFields(client_secret_version=5, previous_client_secret_expires_at=T0 + HOUR),
        now=T0,
    )
    assert third is not None
    assert bumped.previous_secret_digest == digest(second)
    assert verify_secret(bumped, second, now=T0) is Verdict.VALID_PREVIOUS
    assert verify_secret(bumped, first, now=T0) is Verdict.WRONG_SECRET


def test_create_accepts_a_previous_expiry_that_admits_nothing() -> None:
    grace = T0 + 24 * HOUR
    token, _ = new(client_secret_version=2, previous_client_secret_expires_at=grace)
    assert token.previous_client_secret_expires_at == grace
    assert token.previous_secret_digest is None
    assert previous_secret_dead(token, now=T0)
    # A client that sends the whole object back (as Terraform does) changes nothing...
    same, _ = update_token(
        token,
        TokenFields(name="n", client_secret_version=2, previous_client_secret_expires_at=grace),
        now=T0,
    )
    assert same.previous_client_secret_expires_at == grace
    # ...but it cannot invent a grace period for a secret that never existed.
    with pytest.raises(ValidationError):
        update_token(token, TokenFields(previous_client_secret_expires_at=grace + HOUR), now=T0)


# -- property: once dead, never alive again --------------------------------------------


@dataclass(frozen=True)
class Advance:
    seconds: int


@dataclass(frozen=True)
class Rotate:
    grace: int | None
    """Seconds from now (negative: already over), or None (revoke at once)."""


@dataclass(frozen=True)
class Put:
    grace: int | Unset | None
    raise_version: bool


@dataclass(frozen=True)
class Refresh:
    pass


OFFSETS = st.integers(min_value=-7200, max_value=7200)
STEPS = st.one_of(
    st.builds(Advance, st.integers(min_value=0, max_value=7200)),
    st.builds(Rotate, st.none() | OFFSETS),
    st.builds(Put, st.just(UNSET) | st.none() | OFFSETS, st.booleans()),
    st.builds(Refresh),
)


@settings(max_examples=300)
@given(
    st.lists(STEPS, max_size=25),
    st.sampled_from(["8760h", "forever"]),
    st.none() | OFFSETS,
)
def test_once_dead_a_previous_secret_never_verifies_again(
    steps: list[Advance | Rotate | Put | Refresh], duration: str, created_grace: int | None
) -> None:
    now = T0
    token, current = new(
        duration=duration,
        previous_client_secret_expires_at=(
            None if created_grace is None else T0 + timedelta(seconds=created_grace)
        ),
    )
    previous: str | None = None  # the plaintext the last rotation replaced
    dead: set[str] = set()

    def admitted(secret: str) -> bool:
        return verify_secret(token, secret, now=now).admitted

    for step in steps:
        if isinstance(step, Advance):
            now += timedelta(seconds=step.seconds)
        elif isinstance(step, Refresh):
            token = refresh_token(token, now=now)
        elif isinstance(step, Rotate):
            grace = None if step.grace is None else now + timedelta(seconds=step.grace)
            token, fresh = rotate_token(token, previous_expires_at=grace, now=now)
            if previous is not None:
                dead.add(previous)  # only one previous secret is kept
            previous, current = current, fresh
        else:
            grace_at: datetime | Unset | None = (
                step.grace
                if step.grace is UNSET or step.grace is None
                else now + timedelta(seconds=step.grace)
            )
            version = token.client_secret_version + 1 if step.raise_version else UNSET
            fields = TokenFields(
                client_secret_version=version, previous_client_secret_expires_at=grace_at
            )
            was_dead = previous is None or not admitted(previous)
            reviving = (
                isinstance(grace_at, datetime)
                and grace_at > now
                and not step.raise_version
                and grace_at != token.previous_client_secret_expires_at
            )
            try:
                token, fresh = update_token(token, fields, now=now)
            except ValidationError:
                assert was_dead
                assert reviving
                continue
            assert not (was_dead and reviving)
            if fresh is not None:
                if previous is not None:
                    dead.add(previous)
                previous, current = current, fresh
        if previous is not None and not admitted(previous):
            dead.add(previous)
        # The invariant: nothing that died verifies again, at this moment or any later one.
        for secret in dead:
            assert not admitted(secret)
            assert verify_secret(token, secret, now=now + 10 * HOUR) is Verdict.WRONG_SECRET
        assert admitted(current)
        # A mutation at `now` leaves no digest of a dead previous secret in storage.
        if not isinstance(step, Advance) and previous_secret_dead(token, now=now):
            assert token.previous_secret_digest is None
