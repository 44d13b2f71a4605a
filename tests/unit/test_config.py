"""Settings travel to `serve`'s uvicorn workers as environment variables: what
`as_environment()` writes is exactly what `Settings()` reads back, and a bad value is refused."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from servicetokens.config import (
    DATABASE_ENV,
    LEGACY_ORGANIZATIONS_ENV,
    LISTEN_DATABASE_ENV,
    LOG_FORMAT_ENV,
    MAX_APPLICATIONS_ENV,
    METRICS_ENV,
    POOL_SIZE_ENV,
    SESSION_IDLE_ENV,
    SESSION_LIFETIME_ENV,
    TRANSACTION_POOLER_ENV,
    TRUSTED_PROXIES_ENV,
    Settings,
)
from servicetokens.domain.network import DEFAULT_TRUSTED_PROXIES
from servicetokens.usecases.audit_retention import (
    AUDIT_RETENTION_ENV,
    DEFAULT_RETENTION_DAYS,
    MAX_RETENTION_DAYS,
)

CIDRS = st.sampled_from(["127.0.0.0/8", "::1/128", "10.0.0.0/8", "192.168.1.7/32", "fd00::/8"])
URLS = st.sampled_from(
    ["sqlite:///tmp/a.db", "sqlite:////var/lib/st/x y.db", "postgresql://u:p%40ss@db:5432/st"]
)
ENV_NAMES = (
    DATABASE_ENV,
    POOL_SIZE_ENV,
    AUDIT_RETENTION_ENV,
    TRUSTED_PROXIES_ENV,
    LEGACY_ORGANIZATIONS_ENV,
    MAX_APPLICATIONS_ENV,
    TRANSACTION_POOLER_ENV,
    LISTEN_DATABASE_ENV,
    LOG_FORMAT_ENV,
    METRICS_ENV,
    SESSION_IDLE_ENV,
    SESSION_LIFETIME_ENV,
)


@given(
    url=URLS,
    pool=st.integers(1, 500),
    days=st.integers(0, MAX_RETENTION_DAYS),
    proxies=st.one_of(st.just(("none",)), st.lists(CIDRS, min_size=1, max_size=4).map(tuple)),
    legacy=st.booleans(),
    max_apps=st.integers(1, 100_000),
    pooler=st.booleans(),
    listen=st.sampled_from([None, "postgresql://u@db-direct:5432/st"]),
    log_format=st.sampled_from(["text", "json"]),
    metrics=st.booleans(),
    idle=st.integers(1, 10_000),
    lifetime=st.integers(1, 10_000),
)
def test_settings_survive_the_trip_through_the_environment(
    url: str,
    pool: int,
    days: int,
    proxies: tuple[str, ...],
    legacy: bool,
    max_apps: int,
    pooler: bool,
    listen: str | None,
    log_format: str,
    metrics: bool,
    idle: int,
    lifetime: int,
) -> None:
    sent = Settings(
        database_url=url,
        pool_size=pool,
        audit_retention_days=days,
        trusted_proxies=proxies,
        legacy_organizations=legacy,
        max_applications=max_apps,
        transaction_pooler=pooler,
        listen_database_url=listen,
        log_format=log_format,
        metrics=metrics,
        session_idle_minutes=idle,
        session_lifetime_hours=lifetime,
    )
    with pytest.MonkeyPatch.context() as env:
        for name in ENV_NAMES:
            env.delenv(name, raising=False)
        for name, value in sent.as_environment().items():
            env.setenv(name, value)
        assert Settings() == sent


def test_without_variables_every_default_comes_from_its_one_place(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ENV_NAMES:
        monkeypatch.delenv(name, raising=False)
    settings = Settings()
    assert settings.database_url.startswith("sqlite:///")
    assert settings.database_url.endswith("/servicetokens.db")
    assert settings.pool_size == 10
    assert settings.audit_retention_days == DEFAULT_RETENTION_DAYS
    assert settings.trusted_proxies == DEFAULT_TRUSTED_PROXIES
    assert settings.legacy_organizations is False
    assert settings.max_applications == 500
    assert settings.transaction_pooler is False
    assert settings.listen_database_url is None
    assert settings.listens is True
    assert settings.log_format == "text"
    assert settings.metrics is True
    assert settings.session_idle_minutes == 30
    assert settings.session_lifetime_hours == 12


def test_behind_a_transaction_pooler_only_a_direct_url_is_listened_to() -> None:
    assert Settings(transaction_pooler=True).listens is False
    assert Settings(transaction_pooler=True, listen_database_url="postgresql://d/st").listens


@pytest.mark.parametrize(
    ("name", "value"),
    [
        (POOL_SIZE_ENV, "ten"),
        (POOL_SIZE_ENV, "0"),
        (AUDIT_RETENTION_ENV, "-1"),
        (LEGACY_ORGANIZATIONS_ENV, "maybe"),
        (MAX_APPLICATIONS_ENV, "0"),
        (TRANSACTION_POOLER_ENV, "yes please"),
        (LOG_FORMAT_ENV, "xml"),
        (METRICS_ENV, "on"),
        (SESSION_IDLE_ENV, "0"),
        (SESSION_LIFETIME_ENV, "half a day"),
    ],
)
def test_a_malformed_variable_is_refused_with_its_name(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValueError, match=r"SERVICETOKENS|retention"):
        Settings()
