"""Access policies, reusable and app-scoped, and the service tokens their rules name."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import orjson
from sqlalchemy import Row, delete, func, insert, select, update

from servicetokens.domain.access.policies import AccessPolicy, PolicyFields
from servicetokens.domain.clock import from_micros, to_micros
from servicetokens.domain.permissions import Container, ContainerKind
from servicetokens.store.dialect import Session
from servicetokens.store.schema import access_policies, access_policy_tokens

__all__ = ["DecodedPolicies", "PolicyStore", "decode_body", "encode_body"]

_ORDER = (access_policies.c.created_at, access_policies.c.id)
_APP_ORDER = (access_policies.c.precedence, access_policies.c.created_at, access_policies.c.id)


def encode_body(body: object) -> str:
    """A JSON body as stored (compact; key order kept)."""
    return orjson.dumps(body).decode()


def decode_body(text: str) -> dict[str, Any]:
    """A stored JSON body."""
    decoded = orjson.loads(text)
    assert isinstance(decoded, dict)
    return decoded


def _policy_from_row(row: Row[Any]) -> AccessPolicy:
    return AccessPolicy(
        id=row.id,
        container=Container(ContainerKind(row.container_kind), row.container_id, row.account_id),
        app_id=row.app_id,
        precedence=row.precedence,
        fields=PolicyFields.from_stored(decode_body(row.body)),
        created_at=from_micros(row.created_at),
        updated_at=from_micros(row.updated_at),
    )


def _values(policy: AccessPolicy) -> dict[str, Any]:
    return {
        "id": policy.id,
        "account_id": policy.container.account_id,
        "container_kind": policy.container.kind.value,
        "container_id": policy.container.id,
        "app_id": policy.app_id,
        "precedence": policy.precedence,
        "name": policy.fields.name,
        "decision": policy.fields.decision.value,
        "body": encode_body(policy.fields.as_body()),
        "created_at": to_micros(policy.created_at),
        "updated_at": to_micros(policy.updated_at),
    }


class PolicyStore(Session):
    """Every account's policies."""

    __slots__ = ()

    def get(self, account_id: str, policy_id: str) -> AccessPolicy | None:
        """The account's policy with that id (reusable or app-scoped)."""
        row = self._conn.execute(
            select(access_policies).where(
                access_policies.c.id == policy_id, access_policies.c.account_id == account_id
            )
        ).first()
        return None if row is None else _policy_from_row(row)

    def reusable_page(self, account_id: str, *, offset: int, limit: int) -> list[AccessPolicy]:
        """A page of the account's reusable policies, oldest first."""
        rows = self._conn.execute(
            select(access_policies)
            .where(access_policies.c.account_id == account_id, access_policies.c.app_id.is_(None))
            .order_by(*_ORDER)
            .offset(offset)
            .limit(limit)
        )
        return [_policy_from_row(row) for row in rows]

    def reusable_count(self, account_id: str) -> int:
        """How many reusable policies the account has."""
        return int(
            self._conn.execute(
                select(func.count())
                .select_from(access_policies)
                .where(
                    access_policies.c.account_id == account_id, access_policies.c.app_id.is_(None)
                )
            ).scalar_one()
        )

    def of_apps(self, app_ids: Sequence[str]) -> dict[str, list[AccessPolicy]]:
        """The app-scoped policies of each application, in precedence order."""
        found: dict[str, list[AccessPolicy]] = {app_id: [] for app_id in app_ids}
        for chunk in _chunks(app_ids):
            rows = self._conn.execute(
                select(access_policies)
                .where(access_policies.c.app_id.in_(chunk))
                .order_by(access_policies.c.app_id, *_APP_ORDER)
            )
            for row in rows:
                found[row.app_id].append(_policy_from_row(row))
        return found

    def reusable_by_id(self, account_id: str, policy_ids: Iterable[str]) -> dict[str, AccessPolicy]:
        """The account's reusable policies among `policy_ids`, by id."""
        found: dict[str, AccessPolicy] = {}
        for chunk in _chunks(list(policy_ids)):
            rows = self._conn.execute(
                select(access_policies).where(
                    access_policies.c.id.in_(chunk),
                    access_policies.c.account_id == account_id,
                    access_policies.c.app_id.is_(None),
                )
            )
            found.update((row.id, _policy_from_row(row)) for row in rows)
        return found

    def of_account(
        self, account_id: str, decoded: DecodedPolicies | None = None
    ) -> list[AccessPolicy]:
        """Every policy of the account, reusable and app-scoped (a gate's snapshot); rows
        `decoded` holds from the previous read, unchanged, are not decoded again (and it
        then holds this read's)."""
        rows = self._conn.execute(
            select(access_policies)
            .where(access_policies.c.account_id == account_id)
            .order_by(*_ORDER)
        ).all()  # one fetch of every row (psycopg's row-by-row fetch costs more)
        if decoded is None:
            return [_policy_from_row(row) for row in rows]
        return decoded.refill(rows)

    def insert(self, policy: AccessPolicy) -> None:
        """Store a new policy and the tokens it names."""
        self._conn.execute(insert(access_policies), _values(policy))
        self._name_tokens(policy.id, policy.fields.token_ids)

    def save(self, policy: AccessPolicy) -> None:
        """Overwrite a policy's fields and precedence, and the tokens it names."""
        values = _values(policy)
        for fixed in ("id", "account_id", "container_kind", "container_id", "app_id"):
            values.pop(fixed)
        values.pop("created_at")
        self._conn.execute(
            update(access_policies).where(access_policies.c.id == policy.id).values(**values)
        )
        self._conn.execute(
            delete(access_policy_tokens).where(access_policy_tokens.c.policy_id == policy.id)
        )
        self._name_tokens(policy.id, policy.fields.token_ids)

    def delete(self, policy_ids: Sequence[str]) -> None:
        """Remove policies, with the tokens they name."""
        for chunk in _chunks(policy_ids):
            self._conn.execute(
                delete(access_policy_tokens).where(access_policy_tokens.c.policy_id.in_(chunk))
            )
            self._conn.execute(delete(access_policies).where(access_policies.c.id.in_(chunk)))

    def token_named(self, token_id: str) -> bool:
        """Whether any policy's rules name the service token (`service_token.token_id`)."""
        return (
            self._conn.execute(
                select(access_policy_tokens.c.policy_id)
                .where(access_policy_tokens.c.token_id == token_id)
                .limit(1)
            ).first()
            is not None
        )

    def _name_tokens(self, policy_id: str, token_ids: Iterable[str]) -> None:
        rows = [{"policy_id": policy_id, "token_id": token_id} for token_id in sorted(token_ids)]
        if rows:
            self._conn.execute(insert(access_policy_tokens), rows)


class DecodedPolicies:
    """The policies one read decoded, by their whole stored row (body text included), so
    that a row read again exactly as it was is not decoded again: decoding is most of what
    reading 10,000 policies costs, and a gate re-reads them all on every change. Holds
    one read's rows only (the last)."""

    __slots__ = ("_by_row",)

    def __init__(self) -> None:
        self._by_row: dict[tuple[Any, ...], AccessPolicy] = {}

    def __len__(self) -> int:
        return len(self._by_row)

    def refill(self, rows: Iterable[Row[Any]]) -> list[AccessPolicy]:
        """`rows` decoded (reusing the previous read's objects for unchanged rows), now
        the rows held."""
        earlier, held = self._by_row, {}
        policies: list[AccessPolicy] = []
        for row in rows:
            key = tuple(row)
            policy = earlier.get(key)
            if policy is None:
                policy = _policy_from_row(row)
            held[key] = policy
            policies.append(policy)
        self._by_row = held
        return policies


def _chunks(items: Sequence[str], size: int = 500) -> Iterable[Sequence[str]]:
    # Bounded IN lists: SQLite caps bound parameters per statement.
    for start in range(0, len(items), size):
        yield items[start : start + size]
