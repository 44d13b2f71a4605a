"""Wiring, the one composition root: settings → engine → migrated database → database →
use cases → app (the management API, or a gate)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import FastAPI

from servicetokens.config import Settings
from servicetokens.domain.clock import Clock, system_clock
from servicetokens.store.database import Database
from servicetokens.store.engine import make_engine
from servicetokens.store.migrate import upgrade
from servicetokens.usecases.service import Service

if TYPE_CHECKING:
    from servicetokens.gate.app import GateApp
    from servicetokens.gate.settings import GateSettings
    from servicetokens.signing.kek import KeyEncryptionKey

__all__ = ["build_api", "build_gate", "build_service", "gate_on"]


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


def build_gate(
    settings: GateSettings, database: Settings, *, kek: KeyEncryptionKey | None = None
) -> GateApp:
    """A gate (`servicetokens gate`) on the configured database, migrated to the newest
    schema first, signing under `kek` (default: found as `signing.kek_source.load_kek`
    says)."""
    engine = make_engine(database.database_url, pool_size=database.pool_size)
    upgrade(engine)
    return gate_on(settings, Database(engine), kek=kek)


def gate_on(
    settings: GateSettings,
    database: Database,
    *,
    kek: KeyEncryptionKey | None = None,
    clock: Clock = system_clock,
) -> GateApp:
    """A gate on an already migrated `database`: its use cases (signing keys, verification,
    audit retention) built and handed to the ASGI app, which disposes of the database's
    connections when it shuts down."""
    import logging

    from servicetokens.domain.policy import Policy
    from servicetokens.domain.signing_keys import KeySchedule
    from servicetokens.gate.app import GateApp
    from servicetokens.usecases.audit_retention import AuditPruner
    from servicetokens.usecases.database_files import find_kek
    from servicetokens.usecases.signing_keys import KeyRing
    from servicetokens.usecases.verification import Verification

    if kek is None:
        found = find_kek(database.engine.url.render_as_string(hide_password=False))
        if found.generated is not None:
            logging.getLogger("servicetokens.gate").warning(
                "generated a key-encryption key in %s: keep it", found.generated
            )
        kek = found.kek
    keys = KeyRing(
        database,
        schedule=KeySchedule(settings.key_rotation, settings.key_overlap, settings.key_lead),
        kek=kek,
        clock=clock,
    )
    verification = Verification(
        database,
        policy=Policy(settings.account_id, settings.policy),
        fingerprint=kek.fingerprint,
        cache_size=settings.cache_size,
        cache_max_age=settings.cache_max_age,
        poll_interval=settings.poll_interval,
        last_seen_interval=settings.last_seen_interval,
    )
    pruner = AuditPruner(
        database,
        retention_days=settings.audit_retention_days,
        clock=clock,
        interval=settings.audit_prune_interval,
        first_after=min(60.0, settings.audit_prune_interval),
    )
    return GateApp(
        settings,
        keys=keys,
        verification=verification,
        audit_pruner=pruner,
        close=database.dispose,
        clock=clock,
    )
