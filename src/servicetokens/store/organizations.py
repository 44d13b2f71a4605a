"""Zero Trust organizations: one per account or zone."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Row, insert, select, update

from servicetokens.domain.access.organization import Organization
from servicetokens.domain.clock import from_micros, to_micros
from servicetokens.domain.permissions import Container, ContainerKind
from servicetokens.store.access_policies import decode_body, encode_body
from servicetokens.store.dialect import Session
from servicetokens.store.schema import access_organizations

__all__ = ["OrganizationStore"]

_ORGS = access_organizations


def _from_row(row: Row[Any]) -> Organization:
    return Organization(
        container=Container(ContainerKind(row.container_kind), row.container_id, row.account_id),
        body=decode_body(row.body),
        strict_locked=bool(row.strict_locked),
        created_at=from_micros(row.created_at),
        updated_at=from_micros(row.updated_at),
    )


def _values(organization: Organization) -> dict[str, Any]:
    return {
        "container_kind": organization.container.kind.value,
        "container_id": organization.container.id,
        "account_id": organization.container.account_id,
        "auth_domain": organization.auth_domain.lower(),
        "strict_locked": organization.strict_locked,
        "body": encode_body(organization.body),
        "created_at": to_micros(organization.created_at),
        "updated_at": to_micros(organization.updated_at),
    }


class OrganizationStore(Session):
    """Every account's and zone's organization."""

    __slots__ = ()

    def get(self, container: Container) -> Organization | None:
        """The container's organization, if it has one."""
        row = self._conn.execute(
            select(_ORGS).where(
                _ORGS.c.container_kind == container.kind.value,
                _ORGS.c.container_id == container.id,
            )
        ).first()
        return None if row is None else _from_row(row)

    def of_account(self, account_id: str) -> list[Organization]:
        """The account's organization and its zones' (a gate's snapshot)."""
        rows = self._conn.execute(
            select(_ORGS)
            .where(_ORGS.c.account_id == account_id)
            .order_by(_ORGS.c.container_kind, _ORGS.c.container_id)
        )
        return [_from_row(row) for row in rows]

    def all(self) -> list[Organization]:
        """Every organization (a handful per account: background jobs read their settings)."""
        rows = self._conn.execute(
            select(_ORGS).order_by(_ORGS.c.account_id, _ORGS.c.container_kind, _ORGS.c.container_id)
        )
        return [_from_row(row) for row in rows]

    def auth_domain_holder(self, auth_domain: str) -> Container | None:
        """The account or zone whose organization uses `auth_domain` (case-insensitive)."""
        row = self._conn.execute(
            select(_ORGS.c.container_kind, _ORGS.c.container_id, _ORGS.c.account_id).where(
                _ORGS.c.auth_domain == auth_domain.lower()
            )
        ).first()
        if row is None:
            return None
        return Container(ContainerKind(row.container_kind), row.container_id, row.account_id)

    def insert(self, organization: Organization) -> None:
        """Store a new organization."""
        self._conn.execute(insert(_ORGS), _values(organization))

    def save(self, organization: Organization) -> None:
        """Overwrite an organization's fields."""
        values = _values(organization)
        for fixed in ("container_kind", "container_id", "account_id", "created_at"):
            values.pop(fixed)
        self._conn.execute(
            update(_ORGS)
            .where(
                _ORGS.c.container_kind == organization.container.kind.value,
                _ORGS.c.container_id == organization.container.id,
            )
            .values(**values)
        )
