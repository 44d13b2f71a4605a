"""Settings from flags and SERVICETOKENS_* environment variables.

`Settings` is what every process (API server, gate, CLI, workers) is built from by the
composition root (`bootstrap.py`). Each default is written once, here or in the module that
owns the rule (`domain.network`, `usecases.audit_retention`). `serve` hands the settings to
its uvicorn workers as environment variables: `as_environment()` writes exactly what
`Settings()` reads back (`tests/unit/test_config.py`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from servicetokens.domain.access.applications import DEFAULT_MAX_APPLICATIONS
from servicetokens.domain.network import DEFAULT_TRUSTED_PROXIES
from servicetokens.domain.notifications.delivery import (
    DEFAULT_RETRY_SCHEDULE,
    parse_retry_schedule,
)
from servicetokens.domain.notifications.limits import DEFAULT_MAX_POLICIES, DEFAULT_MAX_WEBHOOKS
from servicetokens.usecases.audit_retention import AUDIT_RETENTION_ENV, retention_days_from_env
from servicetokens.usecases.inactivity import DEFAULT_JOBS_INTERVAL
from servicetokens.usecases.sign_in import SESSION_IDLE, SESSION_LIFETIME

__all__ = [
    "ALLOW_PRIVATE_WEBHOOKS_ENV",
    "DATABASE_ENV",
    "DEFAULT_POOL_SIZE",
    "JOBS_INTERVAL_ENV",
    "LEGACY_ORGANIZATIONS_ENV",
    "LISTEN_DATABASE_ENV",
    "LOG_FORMATS",
    "LOG_FORMAT_ENV",
    "MAX_ALERT_POLICIES_ENV",
    "MAX_APPLICATIONS_ENV",
    "MAX_WEBHOOKS_ENV",
    "METRICS_ENV",
    "NOTIFY_RETRY_SCHEDULE_ENV",
    "POOL_SIZE_ENV",
    "SESSION_IDLE_ENV",
    "SESSION_LIFETIME_ENV",
    "TRANSACTION_POOLER_ENV",
    "TRUSTED_PROXIES_ENV",
    "Settings",
    "default_database_url",
]

DATABASE_ENV = "SERVICETOKENS_DATABASE_URL"
POOL_SIZE_ENV = "SERVICETOKENS_POOL_SIZE"
TRUSTED_PROXIES_ENV = "SERVICETOKENS_TRUSTED_PROXIES"
LEGACY_ORGANIZATIONS_ENV = "SERVICETOKENS_LEGACY_ORGANIZATIONS"
MAX_APPLICATIONS_ENV = "SERVICETOKENS_MAX_APPLICATIONS"
MAX_WEBHOOKS_ENV = "SERVICETOKENS_MAX_WEBHOOKS"
MAX_ALERT_POLICIES_ENV = "SERVICETOKENS_MAX_ALERT_POLICIES"
JOBS_INTERVAL_ENV = "SERVICETOKENS_JOBS_INTERVAL"
ALLOW_PRIVATE_WEBHOOKS_ENV = "SERVICETOKENS_ALLOW_PRIVATE_WEBHOOKS"
NOTIFY_RETRY_SCHEDULE_ENV = "SERVICETOKENS_NOTIFY_RETRY_SCHEDULE"
TRANSACTION_POOLER_ENV = "SERVICETOKENS_TRANSACTION_POOLER"
LISTEN_DATABASE_ENV = "SERVICETOKENS_LISTEN_DATABASE_URL"
LOG_FORMAT_ENV = "SERVICETOKENS_LOG_FORMAT"
METRICS_ENV = "SERVICETOKENS_METRICS"
SESSION_IDLE_ENV = "SERVICETOKENS_SESSION_IDLE_MINUTES"
SESSION_LIFETIME_ENV = "SERVICETOKENS_SESSION_LIFETIME_HOURS"
LOG_FORMATS = ("text", "json")
"""`--log-format` values: uvicorn's plain lines, or one JSON object per line (and per
request)."""
DEFAULT_POOL_SIZE = 10


def default_database_url() -> str:
    """`sqlite:///…/servicetokens.db` in the current directory."""
    return f"sqlite:///{Path('servicetokens.db').resolve()}"


def _env_database() -> str:
    return os.environ.get(DATABASE_ENV) or default_database_url()


def _env_positive(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError:
        raise ValueError(f"{name} must be a whole number, not {value!r}") from None
    if number < 1:
        raise ValueError(f"{name} must be at least 1")
    return number


def _env_jobs_interval() -> float:
    value = os.environ.get(JOBS_INTERVAL_ENV)
    if value is None:
        return DEFAULT_JOBS_INTERVAL
    try:
        seconds = float(value)
    except ValueError:
        raise ValueError(
            f"{JOBS_INTERVAL_ENV} must be a number of seconds, not {value!r}"
        ) from None
    if not 0.01 <= seconds <= 86_400:
        raise ValueError(f"{JOBS_INTERVAL_ENV} must be 0.01 to 86400 seconds")
    return seconds


def _env_flag(name: str, default: bool) -> bool:
    value = os.environ.get(name, "1" if default else "0").strip().lower()
    if value not in ("0", "1", "true", "false", ""):
        raise ValueError(f"{name} must be 0 or 1, not {value!r}")
    return value in ("1", "true")


def _env_legacy_organizations() -> bool:
    return _env_flag(LEGACY_ORGANIZATIONS_ENV, False)


def _env_retry_schedule() -> tuple[float, ...]:
    value = os.environ.get(NOTIFY_RETRY_SCHEDULE_ENV)
    if value is None:
        return DEFAULT_RETRY_SCHEDULE
    try:
        return parse_retry_schedule(value)
    except ValueError as exc:
        raise ValueError(f"{NOTIFY_RETRY_SCHEDULE_ENV}: {exc}") from None


def _env_log_format() -> str:
    value = os.environ.get(LOG_FORMAT_ENV, "text").strip().lower() or "text"
    if value not in LOG_FORMATS:
        raise ValueError(f"{LOG_FORMAT_ENV} must be one of {', '.join(LOG_FORMATS)}")
    return value


def _env_trusted_proxies() -> tuple[str, ...]:
    value = os.environ.get(TRUSTED_PROXIES_ENV)
    if value is None:
        return DEFAULT_TRUSTED_PROXIES
    return tuple(part.strip() for part in value.split(",") if part.strip()) or ("none",)


@dataclass(frozen=True, slots=True)
class Settings:
    """How a servicetokens process connects and serves."""

    database_url: str = field(default_factory=_env_database)
    """`sqlite:///path` (default `./servicetokens.db`) or `postgresql://user@host:port/db`."""
    pool_size: int = field(default_factory=lambda: _env_positive(POOL_SIZE_ENV, DEFAULT_POOL_SIZE))
    """Database connections kept per process (`SERVICETOKENS_POOL_SIZE`, default 10)."""
    audit_retention_days: int = field(default_factory=retention_days_from_env)
    """Days of audit log kept (0: forever); `SERVICETOKENS_AUDIT_RETENTION_DAYS`, default 365."""
    trusted_proxies: tuple[str, ...] = field(default_factory=_env_trusted_proxies)
    """CIDRs of proxies whose `X-Forwarded-For` is believed (`none`: nobody's). Default:
    loopback. Decides the client address the audit log records."""
    legacy_organizations: bool = field(
        default_factory=lambda: _env_flag(LEGACY_ORGANIZATIONS_ENV, False)
    )
    """Organizations created while this is on behave as Cloudflare's created before
    2026-10-05: `strict_service_token_auth` starts off and may be turned off
    (`SERVICETOKENS_LEGACY_ORGANIZATIONS=1`; default off: strict for good)."""
    max_applications: int = field(
        default_factory=lambda: _env_positive(MAX_APPLICATIONS_ENV, DEFAULT_MAX_APPLICATIONS)
    )
    """Access applications per account (`SERVICETOKENS_MAX_APPLICATIONS`, default 500)."""
    max_webhooks: int = field(
        default_factory=lambda: _env_positive(MAX_WEBHOOKS_ENV, DEFAULT_MAX_WEBHOOKS)
    )
    """Webhook destinations per account (`SERVICETOKENS_MAX_WEBHOOKS`, default 100)."""
    max_alert_policies: int = field(
        default_factory=lambda: _env_positive(MAX_ALERT_POLICIES_ENV, DEFAULT_MAX_POLICIES)
    )
    """Notification policies per account (`SERVICETOKENS_MAX_ALERT_POLICIES`, default 200)."""
    jobs_interval: float = field(default_factory=_env_jobs_interval)
    """Seconds between runs of an API server's background jobs (the inactive-token job;
    `SERVICETOKENS_JOBS_INTERVAL`, `serve --jobs-interval`, default 60)."""
    allow_private_webhooks: bool = field(
        default_factory=lambda: _env_flag(ALLOW_PRIVATE_WEBHOOKS_ENV, False)
    )
    """Let webhook destinations reach loopback, private and link-local addresses and any
    port (`serve --allow-private-webhooks`, `SERVICETOKENS_ALLOW_PRIVATE_WEBHOOKS=1`; default
    off: public addresses on ports 80, 443 and 8088 only)."""
    notify_retry_schedule: tuple[float, ...] = field(default_factory=_env_retry_schedule)
    """Seconds between a failed webhook attempt and the next (`SERVICETOKENS_NOTIFY_RETRY_
    SCHEDULE`, e.g. `5,300,1800`; default 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 14 h, 20 h, 24 h,
    each ±20 %)."""
    transaction_pooler: bool = field(
        default_factory=lambda: _env_flag(TRANSACTION_POOLER_ENV, False)
    )
    """PostgreSQL is reached through a pooler in transaction mode, such as PgBouncer's
    `pool_mode = transaction` (`--transaction-pooler`, `SERVICETOKENS_TRANSACTION_POOLER=1`):
    no server-side prepared statements, no startup options, and LISTEN only on
    `listen_database_url`."""
    listen_database_url: str | None = field(
        default_factory=lambda: os.environ.get(LISTEN_DATABASE_ENV) or None
    )
    """A direct PostgreSQL URL (not through a pooler) on which gates LISTEN for changes
    (`gate --listen-database`, `SERVICETOKENS_LISTEN_DATABASE_URL`). Default: the database
    itself, or, behind a transaction pooler, nothing (followers poll)."""
    log_format: str = field(default_factory=_env_log_format)
    """`text` (default) or `json`: one JSON object per line, one line per request with its
    request id (`--log-format`, `SERVICETOKENS_LOG_FORMAT`)."""
    metrics: bool = field(default_factory=lambda: _env_flag(METRICS_ENV, True))
    """Whether the API counts requests and serves `/metrics` (`serve --metrics/--no-metrics`,
    `SERVICETOKENS_METRICS`, default on)."""

    session_idle_minutes: int = field(
        default_factory=lambda: _env_positive(
            SESSION_IDLE_ENV, SESSION_IDLE // timedelta(minutes=1)
        )
    )
    """A dashboard session unused this many minutes has ended
    (`SERVICETOKENS_SESSION_IDLE_MINUTES`, default 30)."""
    session_lifetime_hours: int = field(
        default_factory=lambda: _env_positive(
            SESSION_LIFETIME_ENV, SESSION_LIFETIME // timedelta(hours=1)
        )
    )
    """No dashboard session lasts longer than this many hours, however busy
    (`SERVICETOKENS_SESSION_LIFETIME_HOURS`, default 12)."""

    def __post_init__(self) -> None:
        if self.log_format not in LOG_FORMATS:
            raise ValueError(f"log format must be one of {', '.join(LOG_FORMATS)}")

    @property
    def listens(self) -> bool:
        """Whether a PostgreSQL database is LISTENed to: directly, or on the direct URL
        given when a transaction pooler is in front."""
        return self.listen_database_url is not None or not self.transaction_pooler

    def as_environment(self) -> dict[str, str]:
        """These settings as the SERVICETOKENS_* variables `Settings()` reads back."""
        return {
            DATABASE_ENV: self.database_url,
            POOL_SIZE_ENV: str(self.pool_size),
            AUDIT_RETENTION_ENV: str(self.audit_retention_days),
            TRUSTED_PROXIES_ENV: ",".join(self.trusted_proxies) or "none",
            LEGACY_ORGANIZATIONS_ENV: "1" if self.legacy_organizations else "0",
            TRANSACTION_POOLER_ENV: "1" if self.transaction_pooler else "0",
            LISTEN_DATABASE_ENV: self.listen_database_url or "",
            LOG_FORMAT_ENV: self.log_format,
            METRICS_ENV: "1" if self.metrics else "0",
            MAX_APPLICATIONS_ENV: str(self.max_applications),
            MAX_WEBHOOKS_ENV: str(self.max_webhooks),
            MAX_ALERT_POLICIES_ENV: str(self.max_alert_policies),
            JOBS_INTERVAL_ENV: repr(self.jobs_interval),
            ALLOW_PRIVATE_WEBHOOKS_ENV: "1" if self.allow_private_webhooks else "0",
            NOTIFY_RETRY_SCHEDULE_ENV: ",".join(repr(s) for s in self.notify_retry_schedule),
            SESSION_IDLE_ENV: str(self.session_idle_minutes),
            SESSION_LIFETIME_ENV: str(self.session_lifetime_hours),
        }
