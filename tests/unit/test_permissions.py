"""Who may do what where: grants on accounts cover their zones; Write implies Read."""

from __future__ import annotations

import pytest

from servicetokens.domain.permissions import (
    Container,
    ContainerKind,
    Grant,
    Permission,
    Principal,
    PrincipalKind,
    is_allowed,
)

A, B = "a" * 32, "b" * 32
ACCOUNT_A = Container(ContainerKind.ACCOUNT, A, A)
ZONE_A = Container(ContainerKind.ZONE, "1" * 32, A)
ZONE_A2 = Container(ContainerKind.ZONE, "2" * 32, A)
ACCOUNT_B = Container(ContainerKind.ACCOUNT, B, B)


def principal(*grants: Grant) -> Principal:
    return Principal(PrincipalKind.API_TOKEN, "p", grants)


@pytest.mark.parametrize(
    ("grant", "need", "container", "allowed"),
    [
        (Grant(ContainerKind.ACCOUNT, A, Permission.WRITE), Permission.READ, ACCOUNT_A, True),
        (Grant(ContainerKind.ACCOUNT, A, Permission.WRITE), Permission.WRITE, ZONE_A, True),
        (Grant(ContainerKind.ACCOUNT, A, Permission.READ), Permission.WRITE, ACCOUNT_A, False),
        (Grant(ContainerKind.ACCOUNT, A, Permission.READ), Permission.READ, ZONE_A, True),
        (Grant(ContainerKind.ACCOUNT, A, Permission.WRITE), Permission.READ, ACCOUNT_B, False),
        (Grant(ContainerKind.ZONE, "1" * 32, Permission.WRITE), Permission.READ, ZONE_A, True),
        (Grant(ContainerKind.ZONE, "1" * 32, Permission.WRITE), Permission.READ, ZONE_A2, False),
        (Grant(ContainerKind.ZONE, "1" * 32, Permission.WRITE), Permission.READ, ACCOUNT_A, False),
        (Grant(ContainerKind.ZONE, "1" * 32, Permission.READ), Permission.WRITE, ZONE_A, False),
    ],
)
def test_is_allowed(grant: Grant, need: Permission, container: Container, allowed: bool) -> None:
    assert is_allowed(principal(grant), need, container) is allowed


def test_no_grants_no_access() -> None:
    assert not is_allowed(principal(), Permission.READ, ACCOUNT_A)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("read", Permission.READ),
        ("WRITE", Permission.WRITE),
        ("Access: Service Tokens Read", Permission.READ),
        ("access: service tokens write", Permission.WRITE),
    ],
)
def test_parse_permission(text: str, expected: Permission) -> None:
    assert Permission.parse(text) is expected
    assert expected.group_name.startswith("Access: Service Tokens ")


def test_parse_permission_rejects_unknown() -> None:
    with pytest.raises(ValueError, match="unknown permission"):
        Permission.parse("admin")
