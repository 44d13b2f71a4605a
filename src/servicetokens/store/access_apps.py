"""Self-hosted applications, the reusable policies linked to them, and the hostnames they
claim."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import ColumnElement, Row, and_, delete, func, insert, or_, select, update

from servicetokens.domain.access.applications import Application, stored_fields
from servicetokens.domain.access.listing import AppFilter
from servicetokens.domain.clock import from_micros, to_micros
from servicetokens.domain.permissions import Container, ContainerKind
from servicetokens.store.access_policies import decode_body, encode_body
from servicetokens.store.dialect import Session
from servicetokens.store.rows import micros_or_none, moment_or_none
from servicetokens.store.schema import access_app_claims, access_app_links, access_applications

__all__ = ["ApplicationStore"]

_APPS = access_applications
_ORDER = (_APPS.c.created_at, _APPS.c.id)


def _app_from_row(row: Row[Any]) -> Application:
    return Application(
        id=row.id,
        container=Container(ContainerKind(row.container_kind), row.container_id, row.account_id),
        aud=row.aud,
        fields=stored_fields(decode_body(row.body)),
        created_at=from_micros(row.created_at),
        updated_at=from_micros(row.updated_at),
        tokens_revoked_at=moment_or_none(row.tokens_revoked_at),
    )


def _values(app: Application) -> dict[str, Any]:
    return {
        "id": app.id,
        "account_id": app.container.account_id,
        "container_kind": app.container.kind.value,
        "container_id": app.container.id,
        "aud": app.aud,
        "name": app.fields.name,
        "domain": app.fields.domain,
        "body": encode_body(app.fields.body),
        "created_at": to_micros(app.created_at),
        "updated_at": to_micros(app.updated_at),
        "tokens_revoked_at": micros_or_none(app.tokens_revoked_at),
    }


def _in_container(container: Container) -> ColumnElement[bool]:
    return and_(
        _APPS.c.container_kind == container.kind.value, _APPS.c.container_id == container.id
    )


def _matching(where: AppFilter) -> list[ColumnElement[bool]]:
    conditions = []
    if where.aud is not None:
        conditions.append(_APPS.c.aud == where.aud)
    for column, value in ((_APPS.c.name, where.name), (_APPS.c.domain, where.domain)):
        if value is None:
            continue
        if where.exact:
            conditions.append(column == value)
        else:
            conditions.append(func.lower(column).contains(value.lower(), autoescape=True))
    if where.search is not None:
        text = where.search.lower()
        conditions.append(
            or_(
                func.lower(_APPS.c.name).contains(text, autoescape=True),
                func.lower(_APPS.c.domain).contains(text, autoescape=True),
            )
        )
    return conditions


class ApplicationStore(Session):
    """Every container's applications."""

    __slots__ = ()

    def get(self, container: Container, app_id: str) -> Application | None:
        """The container's application with that id."""
        row = self._conn.execute(
            select(_APPS).where(_APPS.c.id == app_id, _in_container(container))
        ).first()
        return None if row is None else _app_from_row(row)

    def page(
        self, container: Container, where: AppFilter, *, offset: int, limit: int
    ) -> tuple[list[Application], int]:
        """A page of the container's applications matching `where`, oldest first, and how
        many match."""
        conditions = [_in_container(container), *_matching(where)]
        rows = self._conn.execute(
            select(_APPS).where(*conditions).order_by(*_ORDER).offset(offset).limit(limit)
        )
        apps = [_app_from_row(row) for row in rows]
        if offset == 0 and len(apps) < limit:
            return apps, len(apps)
        total = self._conn.execute(
            select(func.count()).select_from(_APPS).where(*conditions)
        ).scalar_one()
        return apps, int(total)

    def count_in_account(self, account_id: str) -> int:
        """How many applications the account has (its own and its zones')."""
        return int(
            self._conn.execute(
                select(func.count()).select_from(_APPS).where(_APPS.c.account_id == account_id)
            ).scalar_one()
        )

    def of_account(self, account_id: str) -> list[Application]:
        """Every application of the account and its zones (a gate's snapshot)."""
        rows = self._conn.execute(
            select(_APPS).where(_APPS.c.account_id == account_id).order_by(*_ORDER)
        ).all()
        return [_app_from_row(row) for row in rows]

    def insert(self, app: Application) -> None:
        """Store a new application."""
        self._conn.execute(insert(_APPS), _values(app))

    def save(self, app: Application) -> None:
        """Overwrite an application's fields (its id, container, aud and creation stay)."""
        values = _values(app)
        for fixed in ("id", "account_id", "container_kind", "container_id", "aud", "created_at"):
            values.pop(fixed)
        self._conn.execute(update(_APPS).where(_APPS.c.id == app.id).values(**values))

    def delete(self, app: Application) -> None:
        """Remove an application, its policy links and its claims (its app-scoped policies
        are the policy store's)."""
        self._conn.execute(delete(access_app_links).where(access_app_links.c.app_id == app.id))
        self._conn.execute(delete(access_app_claims).where(access_app_claims.c.app_id == app.id))
        self._conn.execute(delete(_APPS).where(_APPS.c.id == app.id))

    # -- links to reusable policies ---------------------------------------------------------

    def links(self, app_ids: Sequence[str]) -> dict[str, list[tuple[str, int]]]:
        """Each application's linked reusable policies as (policy id, precedence)."""
        found: dict[str, list[tuple[str, int]]] = {app_id: [] for app_id in app_ids}
        for start in range(0, len(app_ids), 500):
            rows = self._conn.execute(
                select(access_app_links)
                .where(access_app_links.c.app_id.in_(app_ids[start : start + 500]))
                .order_by(access_app_links.c.precedence)
            )
            for row in rows:
                found[row.app_id].append((row.policy_id, int(row.precedence)))
        return found

    def set_links(self, app_id: str, links: Iterable[tuple[str, int]]) -> None:
        """Replace the application's links: (reusable policy id, precedence) pairs."""
        self._conn.execute(delete(access_app_links).where(access_app_links.c.app_id == app_id))
        rows = [{"app_id": app_id, "policy_id": p, "precedence": n} for p, n in links]
        if rows:
            self._conn.execute(insert(access_app_links), rows)

    def link_counts(self, policy_ids: Sequence[str]) -> dict[str, int]:
        """How many applications link each policy (`app_count`); 0 for those none links."""
        counts = dict.fromkeys(policy_ids, 0)
        for start in range(0, len(policy_ids), 500):
            rows = self._conn.execute(
                select(access_app_links.c.policy_id, func.count())
                .where(access_app_links.c.policy_id.in_(policy_ids[start : start + 500]))
                .group_by(access_app_links.c.policy_id)
            )
            counts.update((policy_id, int(count)) for policy_id, count in rows)
        return counts

    # -- claimed hostnames ------------------------------------------------------------------

    def claim_owners(self, account_id: str, claims: Iterable[str]) -> Mapping[str, str]:
        """Which application of the account holds each claim (only those held)."""
        wanted = sorted(set(claims))
        if not wanted:
            return {}
        rows = self._conn.execute(
            select(access_app_claims.c.claim, access_app_claims.c.app_id).where(
                access_app_claims.c.account_id == account_id,
                access_app_claims.c.claim.in_(wanted),
            )
        )
        return {claim: app_id for claim, app_id in rows}

    def set_claims(self, account_id: str, app_id: str, claims: Iterable[str]) -> None:
        """Replace the hostnames and paths the application claims."""
        self._conn.execute(delete(access_app_claims).where(access_app_claims.c.app_id == app_id))
        rows = [
            {"account_id": account_id, "claim": claim, "app_id": app_id}
            for claim in sorted(set(claims))
        ]
        if rows:
            self._conn.execute(insert(access_app_claims), rows)
