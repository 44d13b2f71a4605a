"""Wiring: settings → engine → migrated database → database → use cases → app."""

from __future__ import annotations

from fastapi import FastAPI

from servicetokens.config import Settings
from servicetokens.domain.clock import Clock, system_clock
from servicetokens.store.database import Database
from servicetokens.store.engine import make_engine
from servicetokens.store.migrate import head_revision, upgrade
from servicetokens.usecases.admin import Admin
from servicetokens.usecases.authentication import Authentication
from servicetokens.usecases.authorization import Authorization
from servicetokens.usecases.facade import UseCases
from servicetokens.usecases.service_tokens import ServiceTokens
from servicetokens.usecases.usage import DEFAULT_FLUSH_INTERVAL, ApiTokenUsage

__all__ = ["build_api", "build_service", "build_use_cases", "upgrade_database"]


def build_use_cases(
    database: Database,
    *,
    clock: Clock = system_clock,
    usage_interval: float = DEFAULT_FLUSH_INTERVAL,
) -> UseCases:
    """The use cases over `database`, telling time by `clock`; API tokens' uses are written
    behind every `usage_interval` seconds once `usage` is started."""
    authentication = Authentication(
        database, clock=clock, usage=ApiTokenUsage(database, interval=usage_interval)
    )
    authorization = Authorization(database)
    return UseCases(
        database=database,
        clock=clock,
        authentication=authentication,
        authorization=authorization,
        tokens=ServiceTokens(database, authentication, authorization, clock=clock),
        admin=Admin(database, clock=clock),
    )


def build_service(
    settings: Settings,
    *,
    migrate: bool = True,
    clock: Clock = system_clock,
    usage_interval: float = DEFAULT_FLUSH_INTERVAL,
) -> UseCases:
    """The use cases on the configured database, migrated to the newest schema first."""
    engine = make_engine(settings.database_url, pool_size=settings.pool_size)
    if migrate:
        upgrade(engine)
    return build_use_cases(Database(engine), clock=clock, usage_interval=usage_interval)


def upgrade_database(settings: Settings) -> str:
    """Create or migrate the configured database to the newest schema; that revision."""
    engine = make_engine(settings.database_url, pool_size=settings.pool_size)
    try:
        upgrade(engine)
    finally:
        engine.dispose()
    return head_revision()


def build_api(settings: Settings | None = None) -> FastAPI:
    """The management API app (used by `servicetokens serve` and by uvicorn workers)."""
    from servicetokens.api.app import create_app
    from servicetokens.domain.network import TrustedProxies
    from servicetokens.usecases.audit_retention import AuditPruner

    settings = settings or Settings()
    service = build_service(settings)
    return create_app(
        service,
        trusted_proxies=TrustedProxies(settings.trusted_proxies),
        audit_pruner=AuditPruner(service.database, retention_days=settings.audit_retention_days),
    )
