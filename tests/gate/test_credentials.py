"""Reading credentials from headers (pure) and the failure limiter."""

from __future__ import annotations

import pytest

from servicetokens.gate.credentials import (
    ClientCredentials,
    JwtCredential,
    Malformed,
    Missing,
    presents_cookie,
    read_credentials,
    set_cookie_value,
)
from servicetokens.gate.rate_limit import FailureLimiter, address_key

ID, SECRET, SINGLE = b"cf-access-client-id", b"cf-access-client-secret", b"authorization"


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ([], Missing.NONE),
        ([(ID, b"i"), (SECRET, b"s")], ClientCredentials("i", "s")),
        ([(ID, b" i "), (SECRET, b"s")], ClientCredentials("i", "s")),
        ([(ID, b"i")], Malformed.INCOMPLETE),
        ([(ID, b"i"), (SECRET, b"\xff")], Malformed.INCOMPLETE),
        ([(ID, b"i"), (ID, b"i"), (SECRET, b"s")], Malformed.DUPLICATE),
        ([(ID, b"i"), (SECRET, b"s"), (SINGLE, b"{}")], Malformed.BOTH_FORMS),
        (
            [(SINGLE, b'{"cf-access-client-id":"i","cf-access-client-secret":"s"}')],
            ClientCredentials("i", "s"),
        ),
        ([(SINGLE, b"Bearer abc")], Malformed.INVALID),
        ([(SINGLE, b"[]")], Malformed.INVALID),
        ([(SINGLE, b'{"cf-access-client-id":1,"cf-access-client-secret":"s"}')], Malformed.INVALID),
        ([(SINGLE, b"{}"), (SINGLE, b"{}")], Malformed.DUPLICATE),
        ([(b"cf-access-token", b"j")], JwtCredential("j")),
        ([(b"cookie", b"a=1; CF_Authorization=j")], JwtCredential("j")),
        ([(b"cookie", b"CF_Authorization=j"), (b"cf-access-token", b"k")], JwtCredential("k")),
        ([(b"cf-access-token", b"j"), (b"cf-access-token", b"k")], Malformed.DUPLICATE),
        ([(b"cookie", b"CF_Authorization=j; CF_Authorization=k")], Malformed.DUPLICATE),
        ([(b"cookie", b"other=1")], Missing.NONE),
    ],
)
def test_read_credentials(headers: list[tuple[bytes, bytes]], expected: object) -> None:
    assert read_credentials(headers, token_header=SINGLE) == expected


def test_without_single_header_mode_that_header_is_ignored() -> None:
    assert read_credentials([(SINGLE, b"Bearer x")]) is Missing.NONE


def test_failure_limiter_refills_over_the_window() -> None:
    limiter = FailureLimiter(limit=2, window=10.0)
    key = ("k", "10.0.0.1")
    assert limiter.retry_after(key, 0.0) == 0
    assert limiter.record_failure(key, 0.0) == 0  # within budget: a plain 401
    assert limiter.record_failure(key, 0.0) == 0
    assert limiter.retry_after(key, 0.0) == pytest.approx(5.0)
    assert limiter.record_failure(key, 0.0) == pytest.approx(5.0)  # spent: 429
    assert limiter.retry_after(("other", "10.0.0.1"), 0.0) == 0
    assert limiter.retry_after(key, 5.0) == 0
    disabled = FailureLimiter(limit=0, window=10.0)
    assert disabled.record_failure(key, 0.0) == 0
    assert disabled.retry_after(key, 0.0) == 0


def test_failures_from_one_address_do_not_throttle_the_same_id_from_another() -> None:
    limiter = FailureLimiter(limit=3, window=60.0)
    for _ in range(10):
        limiter.record_failure(("victim.access", "203.0.113.9"), 0.0)
    assert limiter.retry_after(("victim.access", "203.0.113.9"), 0.0) > 0
    assert limiter.retry_after(("victim.access", "198.51.100.7"), 0.0) == 0
    assert limiter.retry_after(("victim.access", None), 0.0) == 0
    # The attacker's own bucket refills only with time.
    assert limiter.retry_after(("victim.access", "203.0.113.9"), 19.0) > 0
    assert limiter.retry_after(("victim.access", "203.0.113.9"), 20.0) == 0


def test_failure_limiter_memory_is_bounded_and_drops_the_least_recent() -> None:
    limiter = FailureLimiter(limit=5, window=60.0, max_keys=100)
    limiter.record_failure("busy", 0.0)
    for n in range(1000):
        limiter.record_failure(n, 0.0)
        if n % 50 == 0:
            limiter.record_failure("busy", 0.0)  # failing again keeps its bucket
    assert len(limiter) == 100
    assert limiter.retry_after("busy", 0.0) > 0


def test_an_ipv6_host_draws_on_one_budget_per_64() -> None:
    assert address_key("2001:db8:1:2:aaaa::1") == address_key("2001:db8:1:2:bbbb::7")
    assert address_key("2001:db8:1:3::1") != address_key("2001:db8:1:2::1")
    assert address_key("203.0.113.9") == "203.0.113.9"
    assert address_key(None) is None


@pytest.mark.parametrize(
    ("headers", "held"),
    [
        ((), False),
        ((b"CF_Authorization=abc.def",), True),
        ((b"a=1; CF_Authorization=abc.def; b=2",), True),
        ((b"a=1;CF_Authorization=abc.def",), True),
        ((b"a=1", b"CF_Authorization=abc.def"), True),
        ((b"CF_Authorization=abc.defg",), False),  # a longer value is another JWT
        ((b"xCF_Authorization=abc.def",), False),  # another cookie's name
        ((b"CF_Authorization=other; CF_Authorization=abc.def",), True),
        ((b"CF_Authorization=abc",), False),
    ],
)
def test_presents_cookie_matches_the_whole_value(headers: tuple[bytes, ...], held: bool) -> None:
    assert presents_cookie(headers, b"abc.def") is held


def test_the_offered_cookie_carries_the_jwt_and_its_attributes() -> None:
    value = set_cookie_value("abc.def", max_age=3600)
    assert value == b"CF_Authorization=abc.def; Path=/; HttpOnly; SameSite=Lax; Max-Age=3600"


def test_credentials_keep_the_cookie_headers_for_the_cookie_decision() -> None:
    presented = read_credentials(
        [(ID, b"i"), (b"cookie", b"a=1"), (SECRET, b"s"), (b"cookie", b"CF_Authorization=j")]
    )
    assert isinstance(presented, ClientCredentials)
    assert presented.cookies == (b"a=1", b"CF_Authorization=j")
