"""A cached principal is served only while its credentials version is current, its credential
has not expired, and it is younger than the cache's maximum age."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from servicetokens.domain.permissions import Principal, PrincipalKind
from servicetokens.usecases.caches import PRINCIPAL_MAX_AGE, PrincipalCache

T0 = datetime(2030, 1, 1, tzinfo=UTC)
PRINCIPAL = Principal(PrincipalKind.API_TOKEN, "p", ())
seconds = st.integers(min_value=0, max_value=10**9).map(lambda us: timedelta(microseconds=us))


@given(
    max_age=seconds.filter(bool),
    expires_in=st.none() | seconds,
    later=seconds,
    version=st.integers(0, 3),
    current=st.integers(0, 3),
)
def test_served_only_while_current_unexpired_and_young(
    max_age: timedelta,
    expires_in: timedelta | None,
    later: timedelta,
    version: int,
    current: int,
) -> None:
    cache = PrincipalCache(max_age=max_age)
    expires_at = None if expires_in is None else T0 + expires_in
    cache.put(b"k", PRINCIPAL, credentials_version=version, expires_at=expires_at, now=T0)
    now = T0 + later
    good = version == current and later < max_age and (expires_at is None or now < expires_at)
    served = cache.get(b"k", credentials_version=current, now=now)
    assert served == (PRINCIPAL if good else None)


def test_default_max_age_is_a_minute() -> None:
    cache = PrincipalCache()
    cache.put(b"k", PRINCIPAL, credentials_version=1, expires_at=None, now=T0)
    assert timedelta(seconds=60) == PRINCIPAL_MAX_AGE
    assert cache.get(b"k", credentials_version=1, now=T0 + timedelta(seconds=59)) is PRINCIPAL
    assert cache.get(b"k", credentials_version=1, now=T0 + timedelta(seconds=60)) is None
