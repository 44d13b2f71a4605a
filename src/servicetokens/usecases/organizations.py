"""The Zero Trust organization of an account or zone (`/access/organizations`): get (404
before one exists), create (POST: 409 when one exists), update (PUT and PATCH: a merge,
which creates the organization when there is none, as Terraform expects).

Whether a new organization may ever turn `strict_service_token_auth` off is decided when it
is created: Cloudflare's organizations created on or after 2026-10-05 cannot, and this
server's are new unless it runs with `legacy_organizations` (tests, migrations of older
setups).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from servicetokens.domain.access.organization import Organization, parse_organization
from servicetokens.domain.errors import Conflict, NotFound
from servicetokens.domain.permissions import Container, Permission, Principal
from servicetokens.store.database import Transaction
from servicetokens.usecases.access_common import ControlPlaneWrites
from servicetokens.usecases.authorization import ContainerRef

__all__ = ["Organizations"]


def _check_auth_domain(tx: Transaction, container: Container, organization: Organization) -> None:
    holder = tx.organizations.auth_domain_holder(organization.auth_domain)
    if holder is not None and holder != container:
        raise Conflict("auth_domain is already in use by another organization")


class Organizations:
    """Organizations of accounts and zones."""

    def __init__(self, writes: ControlPlaneWrites, *, legacy: bool = False) -> None:
        self._writes = writes
        self._strict_locked = not legacy

    def get(self, principal: Principal, ref: ContainerRef) -> Organization:
        """The organization (Read); 404 when the account or zone has none yet."""
        container = self._writes.container(principal, ref, Permission.READ)
        with self._writes.database.read() as tx:
            organization = tx.organizations.get(container)
        if organization is None:
            raise NotFound()
        return organization

    def create(self, principal: Principal, ref: ContainerRef, body: object) -> Organization:
        """A new organization (Write): `name` and `auth_domain` required; 409 when one
        exists, or when another organization uses the auth domain."""
        container = self._writes.container(principal, ref, Permission.WRITE)
        fields = parse_organization(body, stored=None, strict_locked=self._strict_locked)

        def unit(tx: Transaction, now: datetime) -> Organization:
            if tx.organizations.get(container) is not None:
                raise Conflict("organization already exists")
            organization = Organization(container, fields, self._strict_locked, now, now)
            _check_auth_domain(tx, container, organization)
            tx.organizations.insert(organization)
            self._record(tx, principal, "create", organization, now)
            return organization

        return self._writes.run(container, unit)

    def update(self, principal: Principal, ref: ContainerRef, body: object) -> Organization:
        """Merge the sent fields into the organization (Write), or create it from them when
        there is none (then `name` and `auth_domain` are required)."""
        container = self._writes.container(principal, ref, Permission.WRITE)

        def unit(tx: Transaction, now: datetime) -> Organization:
            stored = tx.organizations.get(container)
            if stored is None:
                fields = parse_organization(body, stored=None, strict_locked=self._strict_locked)
                organization = Organization(container, fields, self._strict_locked, now, now)
                _check_auth_domain(tx, container, organization)
                tx.organizations.insert(organization)
                self._record(tx, principal, "create", organization, now)
                return organization
            fields = parse_organization(
                body, stored=stored.body, strict_locked=stored.strict_locked
            )
            organization = replace(stored, body=fields, updated_at=now)
            _check_auth_domain(tx, container, organization)
            tx.organizations.save(organization)
            self._record(tx, principal, "update", organization, now)
            return organization

        return self._writes.run(container, unit)

    def _record(
        self,
        tx: Transaction,
        principal: Principal,
        action: str,
        organization: Organization,
        now: datetime,
    ) -> None:
        container = organization.container
        self._writes.record(
            tx,
            principal,
            f"access_organization.{action}",
            account_id=container.account_id,
            target=container.id,
            now=now,
            container=f"{container.kind.value}/{container.id}",
            auth_domain=organization.auth_domain,
        )
