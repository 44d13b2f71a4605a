"""Wiring: settings → engine → migrated database → database → service → app."""

from __future__ import annotations

from fastapi import FastAPI

from servicetokens.config import Settings
from servicetokens.store.database import Database
from servicetokens.store.engine import make_engine
from servicetokens.store.migrate import upgrade
from servicetokens.usecases.service import Service

__all__ = ["build_api", "build_service"]


def build_service(settings: Settings, *, migrate: bool = True) -> Service:
    """A service on the configured database, migrated to the newest schema first."""
    engine = make_engine(settings.database_url, pool_size=settings.pool_size)
    if migrate:
        upgrade(engine)
    return Service(Database(engine))


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
