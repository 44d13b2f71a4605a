"""Service-token rows ↔ domain tokens, read by position (the hot path of every list page)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any, NamedTuple, cast

from sqlalchemy import Row, select, tuple_, update

from servicetokens.domain.clock import from_micros, to_micros
from servicetokens.domain.paging import ListQuery, Order, SeekKey
from servicetokens.domain.permissions import Container, ContainerKind
from servicetokens.domain.tokens import ServiceToken
from servicetokens.store.rows import micros_or_none
from servicetokens.store.schema import container_versions, service_tokens
from servicetokens.store.search import seek_key

__all__ = [
    "IN_EVERY_KEY",
    "StoredPage",
    "bump_containers_of",
    "search_key",
    "stored_page",
    "token_from_row",
    "token_seek_key",
    "token_values",
]

IN_EVERY_KEY = ".access"
"""Text every search key holds: each client id ends with it (`domain.secrets.new_client_id`,
`CLIENT_ID_PATTERN`), so a search for any part of it matches every token."""


def bump_containers_of(token_ids: Sequence[str]) -> Any:
    """An UPDATE moving the version of every container holding one of `token_ids`."""
    versions = container_versions.c
    holders = select(service_tokens.c.container_kind, service_tokens.c.container_id).where(
        service_tokens.c.id.in_(token_ids)
    )
    return (
        update(container_versions)
        .where(tuple_(versions.container_kind, versions.container_id).in_(holders))
        .values(version=versions.version + 1)
    )


def search_key(name: str, client_id: str) -> str:
    """What `search` matches against: the case-folded name and client id."""
    return f"{name.casefold()}\n{client_id}"


_COLUMNS = (
    "id",
    "container_kind",
    "container_id",
    "account_id",
    "name",
    "search_key",
    "client_id",
    "secret_digest",
    "client_secret_version",
    "previous_secret_digest",
    "previous_client_secret_expires_at",
    "duration",
    "expires_at",
    "enabled",
    "created_at",
    "updated_at",
    "last_seen_at",
)
# `_token_from_row` unpacks rows by position (a page of 1,000 tokens is read ~3x faster than
# by name), so the table's column order is checked once here.
assert tuple(service_tokens.c.keys()) == _COLUMNS, "service_tokens columns moved"
_KINDS = {kind.value: kind for kind in ContainerKind}
_EPOCH = from_micros(0)


def token_from_row(row: Row[Any], container: Container | None = None) -> ServiceToken:
    """The token of a `service_tokens` row (extra columns after the table's are ignored);
    `container` is reused when the row is of it (a page's rows share one)."""
    (
        token_id,
        kind,
        container_id,
        account_id,
        name,
        _search_key,
        client_id,
        secret_digest,
        secret_version,
        previous_digest,
        previous_expires,
        duration,
        expires_at,
        enabled,
        created_at,
        updated_at,
        last_seen_at,
    ) = cast("tuple[Any, ...]", row[:17])
    if container is None or container.id != container_id or container.kind.value != kind:
        container = Container(_KINDS[kind], container_id, account_id)
    return ServiceToken(
        id=token_id,
        container=container,
        name=name,
        client_id=client_id,
        secret_digest=bytes(secret_digest),
        client_secret_version=secret_version,
        previous_secret_digest=None if previous_digest is None else bytes(previous_digest),
        previous_client_secret_expires_at=(
            None if previous_expires is None else _EPOCH + timedelta(microseconds=previous_expires)
        ),
        duration=duration,
        expires_at=_EPOCH + timedelta(microseconds=expires_at),
        enabled=bool(enabled),
        created_at=_EPOCH + timedelta(microseconds=created_at),
        updated_at=_EPOCH + timedelta(microseconds=updated_at),
        last_seen_at=None
        if last_seen_at is None
        else _EPOCH + timedelta(microseconds=last_seen_at),
    )


def token_values(token: ServiceToken) -> dict[str, Any]:
    """The row values of a token."""
    return {
        "id": token.id,
        "container_kind": token.container.kind.value,
        "container_id": token.container.id,
        "account_id": token.container.account_id,
        "name": token.name,
        "search_key": search_key(token.name, token.client_id),
        "client_id": token.client_id,
        "secret_digest": token.secret_digest,
        "client_secret_version": token.client_secret_version,
        "previous_secret_digest": token.previous_secret_digest,
        "previous_client_secret_expires_at": micros_or_none(
            token.previous_client_secret_expires_at
        ),
        "duration": token.duration,
        "expires_at": to_micros(token.expires_at),
        "enabled": token.enabled,
        "created_at": to_micros(token.created_at),
        "updated_at": to_micros(token.updated_at),
        "last_seen_at": micros_or_none(token.last_seen_at),
    }


class StoredPage(NamedTuple):
    """A page of tokens as read, with the count of all matches and where the page ended."""

    tokens: list[ServiceToken]
    total: int
    end: SeekKey | None
    """The sort key of the page's last token (None for an empty page)."""


def stored_page(rows: Sequence[Any], query: ListQuery, total: int) -> StoredPage:
    """The page of `rows` (whole `service_tokens` rows, in page order, with attributes)."""
    if not rows:
        return StoredPage([], total, None)
    first = token_from_row(rows[0])
    shared = first.container  # every row of a page is of one container
    tokens = [first, *(token_from_row(r, shared) for r in rows[1:])]
    return StoredPage(tokens, total, seek_key(rows[-1], query.order))


def token_seek_key(token: ServiceToken, order: Order) -> SeekKey:
    """The sort key of `token` in `order`: what `search.seek_key` reads from its row."""
    created = to_micros(token.created_at)
    if order is Order.CREATED_AT:
        return (created, token.id)
    if order is Order.EXPIRES_AT:
        return (to_micros(token.expires_at), token.id)
    if order is Order.LAST_SEEN_AT:
        seen = token.last_seen_at
        return (created if seen is None else to_micros(seen), token.id)
    return (token.name, created, token.id)
