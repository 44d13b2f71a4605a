"""Wiring, the one composition root: settings → engine → migrated database → database →
use cases → app (the management API, or a gate)."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from fastapi import FastAPI

from servicetokens.config import Settings
from servicetokens.domain.access.applications import DEFAULT_MAX_APPLICATIONS
from servicetokens.domain.clock import Clock, system_clock
from servicetokens.domain.notifications.limits import AlertLimits
from servicetokens.domain.notifications.targets import TargetRules
from servicetokens.store.database import Database
from servicetokens.store.engine import make_engine
from servicetokens.store.migrate import head_revision, upgrade
from servicetokens.usecases.access_apps import Applications
from servicetokens.usecases.access_common import ControlPlaneWrites
from servicetokens.usecases.access_policies import ReusablePolicies
from servicetokens.usecases.admin import Admin
from servicetokens.usecases.alert_common import NotificationScope, Poster
from servicetokens.usecases.alert_destinations import WebhookDestinations
from servicetokens.usecases.alert_policies import NotificationPolicies
from servicetokens.usecases.app_policies import AppPolicies
from servicetokens.usecases.audit_reading import AuditReading
from servicetokens.usecases.authentication import Authentication
from servicetokens.usecases.authorization import Authorization
from servicetokens.usecases.control_plane import ControlPlane
from servicetokens.usecases.expiring import ExpiringTokens
from servicetokens.usecases.facade import UseCases
from servicetokens.usecases.organizations import Organizations
from servicetokens.usecases.passwords import Passwords
from servicetokens.usecases.service_tokens import ServiceTokens
from servicetokens.usecases.sign_in import SESSION_IDLE, SESSION_LIFETIME, DashboardAuth
from servicetokens.usecases.usage import DEFAULT_FLUSH_INTERVAL, ApiTokenUsage
from servicetokens.usecases.webhook_secrets import WebhookSecrets

if TYPE_CHECKING:
    from servicetokens.gate.app import GateApp
    from servicetokens.gate.settings import GateSettings
    from servicetokens.signing.kek import KeyEncryptionKey
    from servicetokens.usecases.delivery_worker import DeliveryWorker
    from servicetokens.usecases.expiry_alerts import ExpiryAlerts

__all__ = [
    "build_api",
    "build_gate",
    "build_service",
    "build_use_cases",
    "gate_on",
    "notification_jobs",
    "open_database",
    "upgrade_database",
]


def build_use_cases(
    database: Database,
    *,
    clock: Clock = system_clock,
    usage_interval: float = DEFAULT_FLUSH_INTERVAL,
    legacy_organizations: bool = False,
    max_applications: int = DEFAULT_MAX_APPLICATIONS,
    allow_private_webhooks: bool = False,
    poster: Poster | None = None,
    passwords: Passwords | None = None,
    webhook_secrets: WebhookSecrets | None = None,
    alert_limits: AlertLimits | None = None,
    session_idle: timedelta = SESSION_IDLE,
    session_lifetime: timedelta = SESSION_LIFETIME,
) -> UseCases:
    """The use cases over `database`, telling time by `clock`; API tokens' uses are written
    behind every `usage_interval` seconds once `usage` is started. `legacy_organizations`
    and `max_applications` are the control plane's settings, `allow_private_webhooks` the
    webhook target rule (`config.Settings`); `poster` sends webhook test messages (default:
    `webhooks.sender`); `passwords` the dashboard's argon2id parameters (default:
    argon2-cffi's); `webhook_secrets` seals destinations' secrets (default: under the KEK
    `usecases.database_files.find_kek` finds for `database`); `alert_limits` caps each
    account's destinations and policies (default: `domain.notifications.limits`);
    `session_idle` and `session_lifetime` end dashboard sessions (`config.Settings`)."""
    authentication = Authentication(
        database, clock=clock, usage=ApiTokenUsage(database, interval=usage_interval)
    )
    authorization = Authorization(database)
    writes = ControlPlaneWrites(database, authorization, clock)
    notifications = NotificationScope(
        database,
        authorization,
        clock,
        rules=TargetRules(allow_private=allow_private_webhooks),
        poster=poster,
        secrets=webhook_secrets,
        limits=alert_limits,
    )
    return UseCases(
        database=database,
        clock=clock,
        authentication=authentication,
        authorization=authorization,
        tokens=ServiceTokens(database, authentication, authorization, clock=clock),
        admin=Admin(database, clock=clock),
        policies=ReusablePolicies(writes),
        applications=Applications(writes, max_applications=max_applications),
        app_policies=AppPolicies(writes),
        organizations=Organizations(writes, legacy=legacy_organizations),
        control_plane=ControlPlane(database),
        webhooks=WebhookDestinations(notifications),
        notification_policies=NotificationPolicies(notifications),
        expiring=ExpiringTokens(notifications),
        audit=AuditReading(database, authorization),
        people=DashboardAuth(
            database,
            clock=clock,
            passwords=passwords,
            idle=session_idle,
            lifetime=session_lifetime,
        ),
    )


def open_database(settings: Settings) -> Database:
    """The configured database (not migrated): its engine, and where it is LISTENed to."""
    engine = make_engine(
        settings.database_url,
        pool_size=settings.pool_size,
        transaction_pooler=settings.transaction_pooler,
    )
    return Database(engine, listen_url=settings.listen_database_url, listen=settings.listens)


def build_service(
    settings: Settings,
    *,
    migrate: bool = True,
    clock: Clock = system_clock,
    usage_interval: float = DEFAULT_FLUSH_INTERVAL,
) -> UseCases:
    """The use cases on the configured database, migrated to the newest schema first."""
    database = open_database(settings)
    if migrate:
        upgrade(database.engine)
    return build_use_cases(
        database,
        clock=clock,
        usage_interval=usage_interval,
        legacy_organizations=settings.legacy_organizations,
        max_applications=settings.max_applications,
        allow_private_webhooks=settings.allow_private_webhooks,
        alert_limits=AlertLimits(
            webhooks=settings.max_webhooks, policies=settings.max_alert_policies
        ),
        session_idle=timedelta(minutes=settings.session_idle_minutes),
        session_lifetime=timedelta(hours=settings.session_lifetime_hours),
    )


def upgrade_database(settings: Settings) -> str:
    """Create or migrate the configured database to the newest schema; that revision."""
    database = open_database(settings)
    try:
        upgrade(database.engine)
    finally:
        database.dispose()
    return head_revision()


def build_api(settings: Settings | None = None) -> FastAPI:
    """The management API app with the dashboard's pages beside it (used by `servicetokens
    serve` and by uvicorn workers)."""
    from servicetokens.api.app import create_app
    from servicetokens.dashboard import mount_dashboard
    from servicetokens.domain.network import TrustedProxies
    from servicetokens.usecases.audit_retention import AuditPruner
    from servicetokens.usecases.inactivity import InactiveTokens

    settings = settings or Settings()
    if settings.log_format == "json":
        from servicetokens.json_logs import use_json_logs

        use_json_logs()
    service = build_service(settings)
    proxies = TrustedProxies(settings.trusted_proxies)
    worker, alerts = notification_jobs(service.database, settings)
    _seal_stored_secrets(service)
    app = create_app(
        service,
        trusted_proxies=proxies,
        audit_pruner=AuditPruner(service.database, retention_days=settings.audit_retention_days),
        jobs=[InactiveTokens(service.database, interval=settings.jobs_interval), worker, alerts],
        metrics=settings.metrics,
        request_log=settings.log_format == "json",
    )
    if app.state.metrics is not None:
        app.state.metrics.gauge(
            "servicetokens_outbox_backlog",
            "Webhook deliveries not yet sent (due now or waiting for a retry).",
            worker.backlog,
        )
    mount_dashboard(app, service, trusted_proxies=proxies)
    return app


def _seal_stored_secrets(service: UseCases) -> None:
    """Seal webhook secrets written before they were sealed; without a KEK they stay as
    they are (logged) and the API refuses to store new ones until it has one."""
    import contextlib

    from servicetokens.domain.notifications.errors import SecretsUnavailable

    with contextlib.suppress(SecretsUnavailable):
        service.webhooks.seal_stored()


def notification_jobs(
    database: Database, settings: Settings, *, clock: Clock = system_clock
) -> tuple[DeliveryWorker, ExpiryAlerts]:
    """The delivery worker (polling every second, or every jobs interval when shorter) and
    the scheduled expiry alerts (every jobs interval), which wake the worker when they
    queue something."""
    from servicetokens.domain.notifications.delivery import RetrySchedule
    from servicetokens.usecases.delivery_worker import DeliveryWorker
    from servicetokens.usecases.expiry_alerts import ExpiryAlerts

    worker = DeliveryWorker(
        database,
        rules=TargetRules(allow_private=settings.allow_private_webhooks),
        schedule=RetrySchedule(settings.notify_retry_schedule),
        clock=clock,
        poll=min(1.0, settings.jobs_interval),
    )
    alerts = ExpiryAlerts(
        database, clock=clock, interval=settings.jobs_interval, queued=worker.wake
    )
    return worker, alerts


def build_gate(
    settings: GateSettings, database: Settings, *, kek: KeyEncryptionKey | None = None
) -> GateApp:
    """A gate (`servicetokens gate`) on the configured database, migrated to the newest
    schema first, signing under `kek` (default: found as `signing.kek_source.load_kek`
    says)."""
    opened = open_database(database)
    upgrade(opened.engine)
    return gate_on(settings, opened, kek=kek)


def gate_on(
    settings: GateSettings,
    database: Database,
    *,
    kek: KeyEncryptionKey | None = None,
    clock: Clock = system_clock,
) -> GateApp:
    """A gate on an already migrated `database`: its use cases (signing keys, verification,
    audit retention and, for a gate serving applications, the follower of the account's
    Access configuration) built and handed to the ASGI app, which disposes of the
    database's connections when it shuts down."""
    import logging

    from servicetokens.domain.policy import Policy
    from servicetokens.domain.signing_keys import KeySchedule
    from servicetokens.gate.app import GateApp
    from servicetokens.usecases.audit_retention import AuditPruner
    from servicetokens.usecases.database_files import find_kek
    from servicetokens.usecases.health import DatabaseHealth
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
    access = None
    if settings.applications:
        from servicetokens.usecases.access_follower import AccessFollower

        access = AccessFollower(database, settings.account_id, interval=settings.poll_interval)
    return GateApp(
        settings,
        keys=keys,
        verification=verification,
        audit_pruner=pruner,
        access=access,
        health=DatabaseHealth(database),
        close=database.dispose,
        clock=clock,
    )
