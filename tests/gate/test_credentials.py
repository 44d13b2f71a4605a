"""Reading credentials from headers (pure) and the failure limiter."""

from __future__ import annotations

import pytest

from servicetokens.gate.credentials import (
    ClientCredentials,
    JwtCredential,
    Malformed,
    Missing,
    read_credentials,
)
from servicetokens.gate.rate_limit import FailureLimiter

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
    assert limiter.retry_after("k", 0.0) == 0
    limiter.record_failure("k", 0.0)
    limiter.record_failure("k", 0.0)
    assert limiter.retry_after("k", 0.0) == pytest.approx(5.0)
    assert limiter.retry_after("other", 0.0) == 0
    assert limiter.retry_after("k", 5.0) == 0
    assert FailureLimiter(limit=0, window=10.0).retry_after("k", 0.0) == 0
