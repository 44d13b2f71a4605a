"""Settings from flags and SERVICETOKENS_* environment variables."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from servicetokens.domain.network import DEFAULT_TRUSTED_PROXIES
from servicetokens.store.engine import default_database_url
from servicetokens.usecases.audit_retention import retention_days_from_env

__all__ = ["DATABASE_ENV", "TRUSTED_PROXIES_ENV", "Settings"]

DATABASE_ENV = "SERVICETOKENS_DATABASE_URL"
TRUSTED_PROXIES_ENV = "SERVICETOKENS_TRUSTED_PROXIES"


def _env_database() -> str:
    return os.environ.get(DATABASE_ENV) or default_database_url()


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
    pool_size: int = field(
        default_factory=lambda: int(os.environ.get("SERVICETOKENS_POOL_SIZE", "10"))
    )
    """Database connections kept per process."""
    audit_retention_days: int = field(default_factory=retention_days_from_env)
    """Days of audit log kept (0: forever); `SERVICETOKENS_AUDIT_RETENTION_DAYS`, default 365."""
    trusted_proxies: tuple[str, ...] = field(default_factory=_env_trusted_proxies)
    """CIDRs of proxies whose `X-Forwarded-For` is believed (`none`: nobody's). Default:
    loopback. Decides the client address the audit log records."""
