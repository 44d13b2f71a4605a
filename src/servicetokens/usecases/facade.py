"""`UseCases`: the service layer as the entrypoints are handed it, one piece per job.

Nothing here decides anything: it bundles the pieces `bootstrap.build_use_cases` makes over
one database and one clock, so that an entrypoint holds one value (`app.state.service`, the
CLI's `service_for`) and calls the piece it needs.
"""

from __future__ import annotations

from dataclasses import dataclass

from servicetokens.domain.clock import Clock
from servicetokens.store.database import Database
from servicetokens.usecases.access_apps import Applications
from servicetokens.usecases.access_policies import ReusablePolicies
from servicetokens.usecases.admin import Admin
from servicetokens.usecases.alert_destinations import WebhookDestinations
from servicetokens.usecases.alert_policies import NotificationPolicies
from servicetokens.usecases.app_policies import AppPolicies
from servicetokens.usecases.audit_reading import AuditReading
from servicetokens.usecases.authentication import Authentication
from servicetokens.usecases.authorization import Authorization
from servicetokens.usecases.control_plane import ControlPlane
from servicetokens.usecases.expiring import ExpiringTokens
from servicetokens.usecases.health import DatabaseHealth
from servicetokens.usecases.organizations import Organizations
from servicetokens.usecases.service_tokens import ServiceTokens
from servicetokens.usecases.sign_in import DashboardAuth
from servicetokens.usecases.usage import ApiTokenUsage

__all__ = ["UseCases"]


@dataclass(frozen=True, slots=True)
class UseCases:
    """The use cases over one database: who is calling (`authentication`), what they may
    touch (`authorization`), service tokens (`tokens`), the operator's actions (`admin`),
    the Access control plane's management (`policies`, `applications`, `app_policies`,
    `organizations`), what gates read of it (`control_plane`), notifications (`webhooks`,
    `notification_policies`, `expiring`), one account's audit log for its readers (`audit`)
    and the dashboard's people and sessions (`people`)."""

    database: Database
    clock: Clock
    authentication: Authentication
    authorization: Authorization
    tokens: ServiceTokens
    admin: Admin
    policies: ReusablePolicies
    applications: Applications
    app_policies: AppPolicies
    organizations: Organizations
    control_plane: ControlPlane
    webhooks: WebhookDestinations
    notification_policies: NotificationPolicies
    expiring: ExpiringTokens
    audit: AuditReading
    people: DashboardAuth

    @property
    def usage(self) -> ApiTokenUsage:
        """API tokens' `last_used_at`, written behind (an API process starts and stops it)."""
        return self.authentication.usage

    @property
    def health(self) -> DatabaseHealth:
        """The database as probes and metrics see it."""
        return DatabaseHealth(self.database)

    @property
    def inline_reads(self) -> bool:
        """Whether short reads may run on an event loop (an embedded engine: no network)."""
        return self.database.inline_reads

    def prepare(self) -> None:
        """Start reading, in the background, what a search's plan is chosen from (the
        number of tokens, the trigram sample), so that the first searches of a process find
        it read (the app's start; nothing to read on SQLite)."""
        self.database.refresh_plan_statistics()

    def close(self) -> None:
        """Close the database's pooled connections (a process's last act on it)."""
        self.database.dispose()

    async def close_async(self) -> None:
        """Close what the running event loop holds on the database (the app's shutdown,
        before `close`)."""
        await self.database.close_async()
