"""Wiring: settings → engine → migrated database → repository → service → app."""

from __future__ import annotations

from fastapi import FastAPI

from servicetokens.config import Settings
from servicetokens.service import Service
from servicetokens.store.engine import make_engine
from servicetokens.store.migrate import upgrade
from servicetokens.store.repository import Repository

__all__ = ["build_api", "build_service"]


def build_service(settings: Settings, *, migrate: bool = True) -> Service:
    """A service on the configured database, migrated to the newest schema first."""
    engine = make_engine(settings.database_url, pool_size=settings.pool_size)
    if migrate:
        upgrade(engine)
    return Service(Repository(engine))


def build_api(settings: Settings | None = None) -> FastAPI:
    """The management API app (used by `servicetokens serve` and by uvicorn workers)."""
    from servicetokens.api.app import create_app
    from servicetokens.domain.network import TrustedProxies

    settings = settings or Settings()
    return create_app(
        build_service(settings), trusted_proxies=TrustedProxies(settings.trusted_proxies)
    )
