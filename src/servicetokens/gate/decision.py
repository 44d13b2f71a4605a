"""What the gate does with a request: admit it (with the JWT to assert), or refuse it."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Decision"]


@dataclass(frozen=True, slots=True)
class Decision:
    """What to do with a request.

    Admissions are built once per issued (or verified) JWT and reused for every request
    that JWT serves, so the hot path allocates nothing here.
    """

    status: int
    """200 admit, 302 (an application's login redirect), 401, 403, 429 or 503."""
    reason: str
    """Why, in words safe to show the caller."""
    jwt: str | None = None
    """The assertion for the upstream (on 200)."""
    set_cookie: bytes | None = None
    """The `Set-Cookie` value offering the JWT (without `Secure`), when the client should
    get it: a secret authenticated and the request did not already hold this JWT."""
    retry_after: float = 0.0
    location: str | None = None
    """Where a 302 points."""
