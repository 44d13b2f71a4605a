"""Self-hosted Access applications (`/{accounts|zones}/{id}/access/apps`): list (filters,
v4 paging), get, create, update (a whole replacement except `policies`, which an absent
field leaves alone), delete and revoke_tokens.

An application's public hostnames and paths are claimed in the account: a second
application claiming its `domain` is refused as `application_already_exists`, one claiming
another of its destinations as `destination belongs to another application` (both 409,
code 11010). A zone's application must stay inside the
zone's name. Deleting an application deletes its app-scoped policies and unlinks the
reusable ones (their `app_count` drops).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from servicetokens.domain.access.applications import (
    DEFAULT_MAX_APPLICATIONS,
    AppFields,
    Application,
    parse_app_fields,
)
from servicetokens.domain.access.destinations import claim_key
from servicetokens.domain.access.listing import AppFilter
from servicetokens.domain.access.snapshot import AppWithPolicies
from servicetokens.domain.errors import (
    ApplicationAlreadyExists,
    DestinationClaimed,
    NotFound,
    ValidationError,
)
from servicetokens.domain.paging import ListQuery, PageInfo
from servicetokens.domain.permissions import Container, ContainerKind, Permission, Principal
from servicetokens.domain.secrets import new_aud_tag, new_token_id
from servicetokens.store.database import Transaction
from servicetokens.usecases.access_common import ControlPlaneWrites, check_object_id, expand_apps
from servicetokens.usecases.app_policy_links import apply_resolution, resolve_policies
from servicetokens.usecases.authorization import ContainerRef

__all__ = ["AppPage", "Applications", "find_app"]


@dataclass(frozen=True, slots=True)
class AppPage:
    """One page of applications (policies expanded) and its `result_info`."""

    apps: list[AppWithPolicies]
    info: PageInfo


def find_app(tx: Transaction, container: Container, app_id: str) -> Application:
    """The container's application with that id; 404 otherwise."""
    app = tx.access_apps.get(container, check_object_id(app_id))
    if app is None:
        raise NotFound()
    return app


def _in_zone(host: str, zone: str) -> bool:
    host, zone = host.rstrip(".").lower(), zone.rstrip(".").lower()
    return host == zone or host.endswith(f".{zone}")


def _claim(tx: Transaction, container: Container, app_id: str, fields: AppFields) -> None:
    hosts = fields.hosts
    if container.kind is ContainerKind.ZONE:
        zone = tx.containers.zone_name(container.id)
        if zone is not None and not all(_in_zone(h.partition("/")[0], zone) for h in hosts):
            raise ValidationError("domain does not belong to zone")
    claims = {claim_key(host) for host in hosts}
    owners = tx.access_apps.claim_owners(container.account_id, claims)
    taken = {claim for claim, owner in owners.items() if owner != app_id}
    if claim_key(fields.domain) in taken:
        raise ApplicationAlreadyExists()
    if taken:
        raise DestinationClaimed()
    tx.access_apps.set_claims(container.account_id, app_id, claims)


def _audit(app: Application) -> dict[str, object]:
    return {
        "name": app.fields.name,
        "domain": app.fields.domain,
        "container": f"{app.container.kind.value}/{app.container.id}",
    }


class Applications:
    """The self-hosted applications of accounts and zones."""

    def __init__(
        self, writes: ControlPlaneWrites, *, max_applications: int = DEFAULT_MAX_APPLICATIONS
    ) -> None:
        self._writes = writes
        self._max_applications = max_applications

    def read_page(
        self, principal: Principal, ref: ContainerRef, where: AppFilter, query: ListQuery
    ) -> AppPage:
        """A page of the container's applications matching `where`, oldest first (Read)."""
        container = self._writes.container(principal, ref, Permission.READ)
        with self._writes.database.read() as tx:
            apps: list[Application] = []
            if query.past_any_end:
                total = tx.access_apps.page(container, where, offset=0, limit=1)[1]
            else:
                apps, total = tx.access_apps.page(
                    container, where, offset=query.offset, limit=query.per_page
                )
            expanded = expand_apps(tx, apps)
        return AppPage(expanded, PageInfo(query.page, query.per_page, len(expanded), total))

    def get(self, principal: Principal, ref: ContainerRef, app_id: str) -> AppWithPolicies:
        """One application with its policies (Read); 404 if the container has none such."""
        container = self._writes.container(principal, ref, Permission.READ)
        with self._writes.database.read() as tx:
            return expand_apps(tx, [find_app(tx, container, app_id)])[0]

    def create(self, principal: Principal, ref: ContainerRef, body: object) -> AppWithPolicies:
        """A new self-hosted application with a new `aud` tag (Write); its `policies` are
        linked or created."""
        container = self._writes.container(principal, ref, Permission.WRITE)
        fields = parse_app_fields(body)

        def unit(tx: Transaction, now: datetime) -> AppWithPolicies:
            if tx.access_apps.count_in_account(container.account_id) >= self._max_applications:
                raise ValidationError("maximum number of applications has been reached")
            app = Application(new_token_id(), container, new_aud_tag(), fields, now, now)
            _claim(tx, container, app.id, fields)
            tx.access_apps.insert(app)
            if fields.policies:
                resolved = resolve_policies(
                    tx,
                    container=container,
                    app_id=app.id,
                    items=fields.policies,
                    existing=[],
                    now=now,
                )
                apply_resolution(tx, app.id, resolved)
            self._record(tx, principal, "create", app, now)
            return expand_apps(tx, [app])[0]

        return self._writes.run(container, unit)

    def update(
        self, principal: Principal, ref: ContainerRef, app_id: str, body: object
    ) -> AppWithPolicies:
        """Replace the application's fields (Write); its id, `aud` and creation time stay,
        and its policies too unless `policies` is sent (`[]` removes them all)."""
        container = self._writes.container(principal, ref, Permission.WRITE)
        fields = parse_app_fields(body)
        check_object_id(app_id)

        def unit(tx: Transaction, now: datetime) -> AppWithPolicies:
            stored = find_app(tx, container, app_id)
            app = replace(stored, fields=AppFields(fields.body), updated_at=now)
            _claim(tx, container, app.id, fields)
            tx.access_apps.save(app)
            if fields.policies is not None:
                existing = tx.access_policies.of_apps([app.id])[app.id]
                resolved = resolve_policies(
                    tx,
                    container=container,
                    app_id=app.id,
                    items=fields.policies,
                    existing=existing,
                    now=now,
                )
                apply_resolution(tx, app.id, resolved)
            self._record(tx, principal, "update", app, now)
            return expand_apps(tx, [app])[0]

        return self._writes.run(container, unit)

    def delete(self, principal: Principal, ref: ContainerRef, app_id: str) -> Application:
        """Remove the application, its app-scoped policies and its links (Write)."""
        container = self._writes.container(principal, ref, Permission.WRITE)
        check_object_id(app_id)

        def unit(tx: Transaction, now: datetime) -> Application:
            app = find_app(tx, container, app_id)
            scoped = tx.access_policies.of_apps([app.id])[app.id]
            tx.access_policies.delete([policy.id for policy in scoped])
            tx.access_apps.delete(app)
            self._record(tx, principal, "delete", app, now)
            return app

        return self._writes.run(container, unit)

    def revoke_tokens(self, principal: Principal, ref: ContainerRef, app_id: str) -> None:
        """Stop accepting every JWT issued for the application until now (Write); service
        tokens keep working and get new JWTs."""
        container = self._writes.container(principal, ref, Permission.WRITE)
        check_object_id(app_id)

        def unit(tx: Transaction, now: datetime) -> None:
            app = replace(find_app(tx, container, app_id), tokens_revoked_at=now)
            tx.access_apps.save(app)
            self._record(tx, principal, "revoke_tokens", app, now)

        self._writes.run(container, unit)

    def _record(
        self, tx: Transaction, principal: Principal, action: str, app: Application, now: datetime
    ) -> None:
        self._writes.record(
            tx,
            principal,
            f"access_app.{action}",
            account_id=app.account_id,
            target=app.id,
            now=now,
            **_audit(app),
        )
