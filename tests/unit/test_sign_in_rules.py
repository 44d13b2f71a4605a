"""The dashboard's pure sign-in rules: sessions alive or not, the throttle's arithmetic, and
passwords (argon2id; an unknown user costs the same verification)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from argon2 import PasswordHasher

from servicetokens.domain.errors import ValidationError
from servicetokens.domain.sign_in import (
    EMAIL_RULE,
    Attempts,
    DashboardSession,
    after_failure,
    wait_before_next,
)
from servicetokens.usecases.passwords import Passwords, default_hasher

NOW = datetime(2030, 1, 1, tzinfo=UTC)


def test_a_session_is_alive_until_its_first_end() -> None:
    session = DashboardSession(
        b"x" * 32, "a@example.com", NOW, NOW, NOW + timedelta(hours=12), NOW + timedelta(minutes=30)
    )
    assert session.alive(NOW + timedelta(minutes=29))
    assert not session.alive(NOW + timedelta(minutes=30))
    assert not session.alive(NOW + timedelta(hours=13))
    from dataclasses import replace

    assert not replace(session, revoked_at=NOW).alive(NOW)


def test_failures_block_past_the_limit_doubling_to_a_ceiling() -> None:
    attempts: Attempts | None = None
    waits = []
    for _ in range(EMAIL_RULE.limit + 8):
        attempts = after_failure(attempts, EMAIL_RULE, now=NOW)
        wait = wait_before_next(attempts, NOW)
        waits.append(None if wait is None else int(wait.total_seconds()))
    assert waits[: EMAIL_RULE.limit - 1] == [None] * (EMAIL_RULE.limit - 1)
    assert waits[EMAIL_RULE.limit - 1 : EMAIL_RULE.limit + 2] == [30, 60, 120]
    assert max(w for w in waits if w is not None) == int(EMAIL_RULE.max_block.total_seconds())


def test_a_window_is_forgotten_once_passed_and_a_block_ends_by_itself() -> None:
    attempts = Attempts(EMAIL_RULE.limit - 1, NOW)
    later = NOW + EMAIL_RULE.window
    assert after_failure(attempts, EMAIL_RULE, now=later) == Attempts(1, later)
    blocked = Attempts(50, NOW, blocked_until=NOW + timedelta(minutes=15))
    assert wait_before_next(blocked, NOW + timedelta(minutes=15)) is None


def test_passwords_are_argon2id_and_bounded() -> None:
    passwords = Passwords(PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    stored = passwords.hash("a long enough password")
    assert stored.startswith("$argon2id$")
    assert passwords.check("a long enough password", stored)
    assert not passwords.check("a long enough passwore", stored)
    assert not passwords.check("x" * 5000, stored)
    for bad in ("short", "x" * 1025):
        with pytest.raises(ValidationError):
            passwords.hash(bad)
    assert default_hasher().memory_cost == 19_456


class CountingHasher(PasswordHasher):
    """A real argon2id hasher that notes the parameters of each hash it verifies."""

    def __init__(self) -> None:
        super().__init__(time_cost=1, memory_cost=1024, parallelism=1)
        self.verified: list[str] = []

    def verify(self, hash: str | bytes, password: str | bytes) -> bool:
        text = hash.decode() if isinstance(hash, bytes) else hash
        self.verified.append(text.rsplit("$", 2)[0])  # algorithm, version and parameters
        return super().verify(hash, password)


def test_an_unknown_user_costs_the_same_verification() -> None:
    hasher = CountingHasher()
    passwords = Passwords(hasher)
    stored = passwords.hash("a long enough password")
    assert not passwords.check("a long enough password", None)
    assert passwords.check("a long enough password", stored)
    assert len(hasher.verified) == 2
    assert hasher.verified[0] == hasher.verified[1]  # same algorithm and parameters


def test_an_ipv6_address_is_counted_by_its_slash_64() -> None:
    from servicetokens.domain.sign_in import address_key

    assert address_key("2001:db8:1:2:aaaa::1") == address_key("2001:db8:1:2:bbbb::9")
    assert address_key("2001:db8:1:2::1") != address_key("2001:db8:1:3::1")
    assert address_key("192.0.2.1") == "address:192.0.2.1"
    assert address_key(None) == "address:unknown"


def test_a_right_password_takes_back_only_its_own_count() -> None:
    from servicetokens.domain.sign_in import ADDRESS_RULE, taken_back

    counted = Attempts(ADDRESS_RULE.limit, NOW, blocked_until=NOW + timedelta(minutes=1))
    assert taken_back(counted, ADDRESS_RULE) == Attempts(ADDRESS_RULE.limit - 1, NOW)
    crowded = Attempts(ADDRESS_RULE.limit + 3, NOW, blocked_until=NOW + timedelta(minutes=8))
    assert taken_back(crowded, ADDRESS_RULE) == Attempts(
        ADDRESS_RULE.limit + 2, NOW, blocked_until=NOW + timedelta(minutes=8)
    )
