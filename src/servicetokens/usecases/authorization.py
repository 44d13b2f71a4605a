"""Authorization: the account or zone a request names, and whether a principal may act on it.

Every permission decision of the management API is `Authorization.require`: the container id
must be well formed (400/7003), and the principal must hold the permission on an existing
container; an unknown container and a foreign one are refused alike (403/10000), so
existence never leaks. Accounts and zones are never deleted or moved, so a container once
found is cached for good.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from servicetokens.domain.errors import InvalidIdentifier, PermissionDenied
from servicetokens.domain.permissions import (
    Container,
    ContainerKind,
    Permission,
    Principal,
    is_allowed,
)
from servicetokens.store.database import Database, Transaction

__all__ = ["Authorization", "ContainerRef", "check_container_id", "well_formed"]

_CONTAINER_ID = re.compile(r"^[0-9a-f]{32}$")
_MAX_CACHED_CONTAINERS = 100_000


@dataclass(frozen=True, slots=True)
class ContainerRef:
    """An account or zone as named in a request path (not yet checked to exist)."""

    kind: ContainerKind
    id: str
    path: str
    """The request path, for the 7003 'could not route' message."""


def well_formed(ref: ContainerRef) -> bool:
    """Whether the account or zone id is 32 lowercase hex digits."""
    return _CONTAINER_ID.match(ref.id) is not None


def check_container_id(ref: ContainerRef) -> None:
    """Refuse (400/7003) an account or zone id that is not 32 lowercase hex digits."""
    if not _CONTAINER_ID.match(ref.id):
        raise InvalidIdentifier(ref.path)


class Authorization:
    """Container lookups (cached) and the permission check, over one database."""

    def __init__(self, database: Database) -> None:
        self._database = database
        self._containers: dict[tuple[ContainerKind, str], Container] = {}

    def cached(self, ref: ContainerRef) -> Container | None:
        """The container `ref` names if it was found before (a dictionary lookup)."""
        return self._containers.get((ref.kind, ref.id))

    def container(self, ref: ContainerRef, tx: Transaction | None = None) -> Container | None:
        """The container `ref` names, None when there is none; read in `tx` (or a read
        transaction of its own) unless it is cached."""
        key = (ref.kind, ref.id)
        container = self._containers.get(key)
        if container is not None:
            return container
        if tx is None:
            with self._database.read() as own:
                container = own.containers.get(ref.kind, ref.id)
        else:
            container = tx.containers.get(ref.kind, ref.id)
        if container is not None:
            if len(self._containers) >= _MAX_CACHED_CONTAINERS:
                self._containers.clear()
            self._containers[key] = container
        return container

    def require(
        self,
        principal: Principal,
        ref: ContainerRef,
        need: Permission,
        tx: Transaction | None = None,
    ) -> Container:
        """The container `ref` names, once `principal` is known to hold `need` on it.

        Checks in the documented order: the id's format (400/7003), then the permission
        (403/10000, also when no such container exists). The caller has authenticated the
        principal already (the first check of all).
        """
        check_container_id(ref)
        container = self.container(ref, tx)
        if container is None or not is_allowed(principal, need, container):
            raise PermissionDenied()
        return container
