"""Permissions, grants on accounts and zones, and the one question: may P do X on C?"""

from __future__ import annotations

import enum
from dataclasses import dataclass

__all__ = [
    "Container",
    "ContainerKind",
    "Grant",
    "Permission",
    "Principal",
    "PrincipalKind",
    "is_allowed",
]


class Permission(enum.IntEnum):
    """Permission groups, ordered so that a higher one implies the lower ones."""

    READ = 1  # "Access: Service Tokens Read"
    WRITE = 2  # "Access: Service Tokens Write"

    @property
    def group_name(self) -> str:
        """The permission group's name as Cloudflare spells it."""
        return f"Access: Service Tokens {self.name.title()}"

    @classmethod
    def parse(cls, text: str) -> Permission:
        """`read`/`write` (any case) or the full Cloudflare group name."""
        key = text.strip().lower().removeprefix("access: service tokens ").strip()
        try:
            return cls[key.upper()]
        except KeyError:
            raise ValueError(f"unknown permission {text!r}: expected read or write") from None


class ContainerKind(enum.StrEnum):
    """Where a service token lives: an account or a zone."""

    ACCOUNT = "account"
    ZONE = "zone"


@dataclass(frozen=True, slots=True)
class Container:
    """An account, or a zone together with the account that owns it."""

    kind: ContainerKind
    id: str
    account_id: str
    """The owning account: the account's own id for an account."""


@dataclass(frozen=True, slots=True)
class Grant:
    """A permission on one account (covering its zones) or on one zone."""

    kind: ContainerKind
    id: str
    permission: Permission

    def covers(self, container: Container) -> bool:
        """Whether this grant reaches `container`."""
        if self.kind is ContainerKind.ACCOUNT:
            return container.account_id == self.id
        return container.kind is ContainerKind.ZONE and container.id == self.id


class PrincipalKind(enum.StrEnum):
    """Who is calling: an API token (Bearer), a user (X-Auth-Email + X-Auth-Key), the
    operator at the command line (the CLI acts on one account with Write), or the server itself."""

    API_TOKEN = "api_token"
    USER = "user"
    OPERATOR = "cli"
    SYSTEM = "system"
    """A background job of the server itself (e.g. the inactive-token job)."""


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller and everything it may do."""

    kind: PrincipalKind
    id: str
    """The API token's id or the user's email."""
    grants: tuple[Grant, ...]
    origin: str | None = None
    """The network address the request came from (for the audit log)."""


def is_allowed(principal: Principal, need: Permission, container: Container) -> bool:
    """Whether `principal` holds `need` (or a higher permission) on `container`."""
    return any(g.permission >= need and g.covers(container) for g in principal.grants)
