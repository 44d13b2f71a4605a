"""Password hashing for the dashboard: argon2id (RFC 9106) through argon2-cffi.

Passwords are low-entropy, unlike the 256-bit API secrets (stored as plain SHA-256): they
get a salted, memory-hard hash. `Passwords.check` of an unknown user still verifies against
a hash of the same parameters, so timing tells nothing about which emails exist.
"""

from __future__ import annotations

import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from servicetokens.domain.errors import ValidationError

__all__ = [
    "MAX_PASSWORD_LENGTH",
    "MIN_PASSWORD_LENGTH",
    "Passwords",
    "default_hasher",
    "new_password",
]

MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 1024


def new_password() -> str:
    """A generated password: 24 URL-safe characters (144 random bits)."""
    return secrets.token_urlsafe(18)


def default_hasher() -> PasswordHasher:
    """argon2id with OWASP's first recommended parameters: 19 MiB, 2 passes, 1 lane (about
    90 ms a hash on the 2-CPU machine of docs/performance.md; argon2-cffi's own default,
    64 MiB x 3 passes x 4 lanes, took 0.5 s there, a cost an unauthenticated form should
    not let strangers spend)."""
    return PasswordHasher(time_cost=2, memory_cost=19_456, parallelism=1)


class Passwords:
    """Hash and check passwords with one argon2id parameter set (`default_hasher` unless
    `hasher` says otherwise)."""

    def __init__(self, hasher: PasswordHasher | None = None) -> None:
        self._hasher = hasher or default_hasher()
        self._decoy: str | None = None

    def hash(self, password: str) -> str:
        """The argon2id hash of an acceptable password (12 to 1024 characters)."""
        if len(password) < MIN_PASSWORD_LENGTH:
            raise ValidationError(f"a password needs at least {MIN_PASSWORD_LENGTH} characters")
        if len(password) > MAX_PASSWORD_LENGTH:
            raise ValidationError(f"a password has at most {MAX_PASSWORD_LENGTH} characters")
        return self._hasher.hash(password)

    def check(self, password: str, stored: str | None) -> bool:
        """Whether `password` matches the stored hash; with no hash, the same work is done
        against a decoy and the answer is no."""
        if len(password) > MAX_PASSWORD_LENGTH:
            password = password[:MAX_PASSWORD_LENGTH]  # bounded work; it cannot match anyway
            stored = None
        if stored is None:
            if self._decoy is None:
                self._decoy = self._hasher.hash(secrets.token_urlsafe(18))
            stored, password = self._decoy, password + "\0"
            self._verify(stored, password)
            return False
        return self._verify(stored, password)

    def _verify(self, stored: str, password: str) -> bool:
        try:
            return self._hasher.verify(stored, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False
