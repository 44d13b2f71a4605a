"""Accounts and zones: the containers service tokens live in."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import insert, select

from servicetokens.domain.clock import to_micros
from servicetokens.domain.permissions import Container, ContainerKind
from servicetokens.store.dialect import Session
from servicetokens.store.schema import accounts, zones

__all__ = ["ContainerStore"]


class ContainerStore(Session):
    """Accounts and their zones."""

    __slots__ = ()

    def get(self, kind: ContainerKind, container_id: str) -> Container | None:
        """The account or zone with that id, if it exists."""
        if kind is ContainerKind.ACCOUNT:
            found = self._conn.execute(
                select(accounts.c.id).where(accounts.c.id == container_id)
            ).scalar()
            return None if found is None else Container(kind, container_id, container_id)
        account_id = self._conn.execute(
            select(zones.c.account_id).where(zones.c.id == container_id)
        ).scalar()
        return None if account_id is None else Container(kind, container_id, account_id)

    def zone_name(self, zone_id: str) -> str | None:
        """The zone's name (its apex hostname), if the zone exists."""
        name = self._conn.execute(select(zones.c.name).where(zones.c.id == zone_id)).scalar()
        return None if name is None else str(name)

    def account_names(self, account_ids: tuple[str, ...]) -> dict[str, str]:
        """The names of those accounts that exist, by id."""
        if not account_ids:
            return {}
        rows = self._conn.execute(
            select(accounts.c.id, accounts.c.name).where(accounts.c.id.in_(account_ids))
        )
        return {str(row.id): str(row.name) for row in rows}

    def add_account(self, account_id: str, name: str, *, now: datetime) -> None:
        """Store a new account."""
        self._conn.execute(
            insert(accounts).values(id=account_id, name=name, created_at=to_micros(now))
        )

    def add_zone(self, zone_id: str, account_id: str, name: str, *, now: datetime) -> None:
        """Store a new zone of an account."""
        self._conn.execute(
            insert(zones).values(
                id=zone_id, account_id=account_id, name=name, created_at=to_micros(now)
            )
        )

    def any_account(self) -> bool:
        """Whether any account exists yet."""
        return self._conn.execute(select(accounts.c.id).limit(1)).first() is not None
