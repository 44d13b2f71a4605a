"""The queries the service needs, and nothing else.

`Repository.read()` and `Repository.write()` open a transaction and hand out a `Transaction`
whose methods speak domain types; rows never leave this module.
"""

from __future__ import annotations

import enum
import json
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple, TypeVar

from sqlalchemy import (
    Engine,
    Row,
    Select,
    and_,
    bindparam,
    column,
    delete,
    func,
    insert,
    literal,
    select,
    table,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection
from sqlalchemy.sql.expression import UnaryExpression
from sqlalchemy.sql.operators import custom_op

from servicetokens.domain.audit import AuditEntry, detail_json, storable
from servicetokens.domain.clock import from_micros, to_micros
from servicetokens.domain.paging import ListQuery
from servicetokens.domain.permissions import Container, ContainerKind, Permission
from servicetokens.domain.tokens import ServiceToken
from servicetokens.store.engine import WRITE_INTENT
from servicetokens.store.group_commit import GroupCommitter
from servicetokens.store.schema import (
    accounts,
    api_tokens,
    audit_log,
    container_versions,
    memberships,
    service_tokens,
    signing_keys,
    token_changes,
    users,
    zones,
)

__all__ = [
    "CHANGES_CHANNEL",
    "ApiTokenRecord",
    "Repository",
    "SearchPlan",
    "SigningKeyRecord",
    "TokenChange",
    "Transaction",
    "UserRecord",
    "list_statements",
    "search_key",
]

_SIGNING_KEYS_LOCK = 0x5E_2F_1C_E8  # advisory lock key: one key rotation at a time

_CREDENTIALS = ("credentials", "all")
"""The container_versions row whose version covers every API credential."""

_VERSIONS_SQL = (
    "SELECT container_kind, version, token_count FROM container_versions "
    "WHERE (container_kind = {kind} AND container_id = {id}) "
    "OR (container_kind = 'credentials' AND container_id = 'all')"
)
_VERSIONS_SQL_SQLITE = _VERSIONS_SQL.format(kind="?", id="?")
_VERSIONS_SQL_PG = _VERSIONS_SQL.format(kind="%(kind)s", id="%(id)s")

T = TypeVar("T")


def _bump_statement(insert_fn: Any) -> Any:
    table = container_versions
    return (
        insert_fn(table)
        .values(
            container_kind=bindparam("kind"),
            container_id=bindparam("id"),
            version=1,
            token_count=bindparam("initial"),
        )
        .on_conflict_do_update(
            index_elements=[table.c.container_kind, table.c.container_id],
            set_={
                "version": table.c.version + 1,
                "token_count": table.c.token_count + bindparam("delta"),
            },
        )
    )


# A user and their memberships in one statement (the X-Auth-Email path).
_USER_WITH_MEMBERSHIPS = (
    select(users.c.email, users.c.api_key_digest, memberships.c.account_id)
    .select_from(users.outerjoin(memberships, memberships.c.email == users.c.email))
    .where(users.c.email == bindparam("email"))
    .order_by(memberships.c.account_id)
)

# Built once: the write path executes these for every mutation.
_BUMP_PG = _bump_statement(pg_insert)
_BUMP_SQLITE = _bump_statement(sqlite_insert)
_INSERT_TOKEN = insert(service_tokens)
_INSERT_CHANGE = insert(token_changes)
_INSERT_AUDIT = insert(audit_log)
_TOUCH_LAST_SEEN = (
    update(service_tokens)
    .where(
        service_tokens.c.id == bindparam("token_id"),
        service_tokens.c.last_seen_at.is_(None) | (service_tokens.c.last_seen_at < bindparam("at")),
    )
    .values(last_seen_at=bindparam("at"))
)

CHANGES_CHANNEL = "servicetokens_changes"
"""PostgreSQL NOTIFY channel; the payload is the changed token's client id."""


@dataclass(frozen=True, slots=True)
class TokenChange:
    """One committed write to a service token."""

    seq: int
    client_id: str
    container: tuple[str, str]
    """(container kind, container id)."""
    changed_at: int
    """Microseconds since the epoch."""


@dataclass(frozen=True, slots=True)
class SigningKeyRecord:
    """A stored JWT signing key: its private key wrapped under the key-encryption key
    `kek_id` names, its self-signed certificate, and when it starts signing (microseconds
    since the epoch)."""

    kid: str
    wrapped_key: str
    kek_id: str
    cert_pem: str
    created_at: int
    activates_at: int


@dataclass(frozen=True, slots=True)
class ApiTokenRecord:
    """A stored API token (for the management API): its scope and standing."""

    id: str
    name: str
    scope: ContainerKind
    scope_id: str
    permission: Permission
    status: str
    expires_at: datetime | None
    created_at: datetime | None = None
    last_used_at: datetime | None = None
    """Written behind by the API processes: a few seconds stale at most."""


@dataclass(frozen=True, slots=True)
class UserRecord:
    """A user who authenticates with X-Auth-Email + X-Auth-Key."""

    email: str
    api_key_digest: bytes
    account_ids: tuple[str, ...]


def search_key(name: str, client_id: str) -> str:
    """What `search` matches against: the case-folded name and client id."""
    return f"{name.casefold()}\n{client_id}"


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _micros(moment: datetime | None) -> int | None:
    return None if moment is None else to_micros(moment)


def _moment(micros: int | None) -> datetime | None:
    return None if micros is None else from_micros(micros)


def _api_token_from_row(row: Row[Any]) -> ApiTokenRecord:
    return ApiTokenRecord(
        id=row.id,
        name=row.name,
        scope=ContainerKind(row.scope_kind),
        scope_id=row.scope_id,
        permission=Permission(row.permission),
        status=row.status,
        expires_at=_moment(row.expires_at),
        created_at=from_micros(row.created_at),
        last_used_at=_moment(row.last_used_at),
    )


def _token_from_row(row: Row[Any]) -> ServiceToken:
    return ServiceToken(
        id=row.id,
        container=Container(ContainerKind(row.container_kind), row.container_id, row.account_id),
        name=row.name,
        client_id=row.client_id,
        secret_digest=bytes(row.secret_digest),
        client_secret_version=row.client_secret_version,
        previous_secret_digest=(
            None if row.previous_secret_digest is None else bytes(row.previous_secret_digest)
        ),
        previous_client_secret_expires_at=_moment(row.previous_client_secret_expires_at),
        duration=row.duration,
        expires_at=from_micros(row.expires_at),
        enabled=bool(row.enabled),
        created_at=from_micros(row.created_at),
        updated_at=from_micros(row.updated_at),
        last_seen_at=_moment(row.last_seen_at),
    )


def _token_values(token: ServiceToken) -> dict[str, Any]:
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
        "previous_client_secret_expires_at": _micros(token.previous_client_secret_expires_at),
        "duration": token.duration,
        "expires_at": to_micros(token.expires_at),
        "enabled": token.enabled,
        "created_at": to_micros(token.created_at),
        "updated_at": to_micros(token.updated_at),
        "last_seen_at": _micros(token.last_seen_at),
    }


_TOTAL = "total_matching"
_search_rows = table("search_rows", column("rowid"), column("token_id"))
_search_index = table("service_tokens_search", column("rowid"), column("search_key"))
_MIN_INDEXED_SEARCH = 3  # a trigram index can only narrow patterns of three characters or more


def _fold_versions(rows: Sequence[Any]) -> tuple[int, int, int]:
    container_version = token_count = credentials_version = 0
    for row_kind, row_version, row_count in rows:
        if row_kind == _CREDENTIALS[0]:
            credentials_version = row_version
        else:
            container_version, token_count = row_version, row_count
    return container_version, token_count, credentials_version


def _unindexed(column_: Any) -> Any:
    """`+column`: the same value, which SQLite's planner will not serve from an index."""
    return UnaryExpression(column_, operator=custom_op("+"), type_=column_.type)


def _glob_literal(text: str) -> str:
    return "".join(f"[{c}]" if c in "*?[" else c for c in text)


class ListStatements(NamedTuple):
    """The queries of a list request."""

    total: Select[Any]
    page: Select[Any]
    counted_page: Select[Any]


class SearchPlan(enum.Enum):
    """How a `search` finds its rows. Either gives the same rows; they differ in what they read.

    A trigram index covers every container, so it cannot be narrowed to the caller's account
    or zone before it is read: a term that most tokens share walks the whole table. The
    container's own list index can: `CONTAINER` reads exactly the caller's tokens.
    """

    CONTAINER = "container"
    """Walk the container's list index and test each of its rows: O(the container's tokens)."""
    INDEX = "index"
    """Let the trigram index lead (FTS5 on SQLite, pg_trgm on PostgreSQL): O(the rows, in any
    container, that share the term's trigrams)."""


_FTS_ROW_COST = 16
"""How many container rows SQLite tests with LIKE in the time the FTS5 path spends on one match.

Measured at 10^5 tokens: one match costs ~7 µs on the FTS path (GLOB on the trigram index,
`search_rows`, the token by primary key, the sort), one row of the container walk ~0.7 µs,
one match counted in the FTS table alone ~1 µs. Rounded up, so the index is chosen only when
it is clearly cheaper."""

_PG_INDEX_SHARE = 4
"""On PostgreSQL the trigram index may serve a container holding at least 1/4 of all tokens.

There a GIN bitmap over the whole table costs about what a walk of as many rows does (73 vs
61 ms for a term in all 10^5 rows), so the index path costs at most ~4 walks of the caller's
own tokens; below that share, the container's rows are read instead and the index is not
offered to the planner at all (a misestimate would cost a walk of every account's tokens)."""

_TOTAL_TTL = 5.0
"""Seconds the (approximate) number of all tokens is reused for plan choices."""


def list_statements(
    container: Container,
    query: ListQuery,
    *,
    dialect: str,
    plan: SearchPlan = SearchPlan.INDEX,
) -> ListStatements:
    """The count and page queries of a list request (exposed so tests can check their plans).

    `plan` says how a `search` finds its rows (`Transaction.list_tokens` chooses it).
    """
    folded = None if query.search is None else query.search.casefold()
    indexed_search = (
        dialect == "sqlite"
        and plan is SearchPlan.INDEX
        and folded is not None
        and len(folded) >= _MIN_INDEXED_SEARCH
    )
    kind_column, id_column = service_tokens.c.container_kind, service_tokens.c.container_id
    if indexed_search:
        # Let the trigram index lead: the few rows it finds are fetched by primary key and
        # then checked for the container. Without the unary `+` SQLite would walk the
        # container's list index instead (to skip a sort) and read every row of it.
        kind_column, id_column = _unindexed(kind_column), _unindexed(id_column)
    conditions: list[Any] = [kind_column == container.kind.value, id_column == container.id]
    if query.name is not None:
        conditions.append(service_tokens.c.name == query.name)
    if folded is not None:
        searched: Any = service_tokens.c.search_key
        if dialect == "postgresql" and plan is SearchPlan.CONTAINER:
            # `search_key || ''` is the same text, but no index covers the expression: the
            # planner cannot reach for the trigram index and reads the container's rows.
            searched = searched.concat(literal(""))
        # The LIKE decides; the index only narrows.
        conditions.append(searched.like(f"%{_escape_like(folded)}%", escape="\\"))
    if indexed_search:
        assert folded is not None
        matches = select(_search_index.c.rowid).where(
            _search_index.c.search_key.op("GLOB")(f"*{_glob_literal(folded)}*")
        )
        conditions.append(
            service_tokens.c.id.in_(
                select(_search_rows.c.token_id).where(_search_rows.c.rowid.in_(matches))
            )
        )
    where = and_(*conditions)
    count = select(func.count()).select_from(service_tokens).where(where)
    page = (
        select(service_tokens)
        .where(where)
        .order_by(service_tokens.c.created_at, service_tokens.c.id)
        .limit(query.per_page)
        .offset(query.offset)
    )
    # Filtered lists: the page with the number of matches beside each row (a window count),
    # so the filter is evaluated once, not once for the page and again for the count.
    counted = page.add_columns(func.count().over().label(_TOTAL))
    return ListStatements(count, page, counted)


def _fts_matches_below(connection: Connection, folded: str, budget: int) -> bool:
    """Whether fewer than `budget` tokens (in all containers) match, by reading at most
    `budget` entries of the FTS5 trigram index."""
    probe = (
        select(_search_index.c.rowid)
        .where(_search_index.c.search_key.op("GLOB")(f"*{_glob_literal(folded)}*"))
        .limit(budget)
        .subquery()
    )
    found: int = connection.execute(select(func.count()).select_from(probe)).scalar_one()
    return found < budget


class _TokenTotal:
    """The number of tokens in all containers, re-read at most every `ttl` seconds.

    Only plan choices use it, so a few seconds' staleness costs at most a slower plan."""

    def __init__(self, *, ttl: float = _TOTAL_TTL, clock: Callable[[], float] = time.monotonic):
        self._ttl = ttl
        self._clock = clock
        self._value = 0
        self._read_at: float | None = None
        self._lock = threading.Lock()

    def get(self, connection: Connection) -> int:
        now = self._clock()
        with self._lock:
            if self._read_at is not None and now - self._read_at < self._ttl:
                return self._value
        value = connection.execute(
            select(func.coalesce(func.sum(container_versions.c.token_count), 0))
        ).scalar_one()
        with self._lock:
            self._value, self._read_at = int(value), now
        return int(value)


class Transaction:
    """One open transaction; every method is a single statement or two."""

    def __init__(self, connection: Connection, *, token_total: _TokenTotal | None = None) -> None:
        self._conn = connection
        self._postgres = connection.dialect.name == "postgresql"
        self._token_total = token_total

    # -- containers ---------------------------------------------------------------------

    def container(self, kind: ContainerKind, container_id: str) -> Container | None:
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

    # -- API credentials ----------------------------------------------------------------

    def add_api_token(
        self,
        *,
        token_id: str,
        name: str,
        token_digest: bytes,
        scope: Container,
        permission: Permission,
        now: datetime,
        expires_at: datetime | None = None,
    ) -> None:
        """Store an API token's digest and its one grant."""
        self._conn.execute(
            insert(api_tokens).values(
                id=token_id,
                name=name,
                token_digest=token_digest,
                scope_kind=scope.kind.value,
                scope_id=scope.id,
                permission=int(permission),
                status="active",
                expires_at=_micros(expires_at),
                created_at=to_micros(now),
            )
        )

    def api_token_by_digest(self, token_digest: bytes) -> ApiTokenRecord | None:
        """The API token whose SHA-256 digest is `token_digest`."""
        row = self._conn.execute(
            select(api_tokens).where(api_tokens.c.token_digest == token_digest)
        ).first()
        return None if row is None else _api_token_from_row(row)

    def api_token_records(
        self, *, account_id: str | None = None, zone_id: str | None = None
    ) -> list[ApiTokenRecord]:
        """Stored API tokens in (created_at, id) order: all of them, those of one account
        (on the account itself or on any of its zones), or those on one zone."""
        statement = select(api_tokens).order_by(api_tokens.c.created_at, api_tokens.c.id)
        if zone_id is not None:
            statement = statement.where(
                api_tokens.c.scope_kind == ContainerKind.ZONE.value,
                api_tokens.c.scope_id == zone_id,
            )
        elif account_id is not None:
            on_account = and_(
                api_tokens.c.scope_kind == ContainerKind.ACCOUNT.value,
                api_tokens.c.scope_id == account_id,
            )
            on_its_zones = and_(
                api_tokens.c.scope_kind == ContainerKind.ZONE.value,
                api_tokens.c.scope_id.in_(
                    select(zones.c.id).where(zones.c.account_id == account_id)
                ),
            )
            statement = statement.where(on_account | on_its_zones)
        return [_api_token_from_row(row) for row in self._conn.execute(statement)]

    def touch_api_tokens_used(self, used: Iterable[tuple[str, datetime]]) -> None:
        """Move `last_used_at` forward (never back) for each (API token id, time)."""
        for token_id, moment in used:
            micros = to_micros(moment)
            self._conn.execute(
                update(api_tokens)
                .where(
                    api_tokens.c.id == token_id,
                    (api_tokens.c.last_used_at.is_(None)) | (api_tokens.c.last_used_at < micros),
                )
                .values(last_used_at=micros)
            )

    def set_api_token_status(self, token_id: str, status: str) -> bool:
        """Mark an API token active or revoked; False when there is no such token."""
        result = self._conn.execute(
            update(api_tokens).where(api_tokens.c.id == token_id).values(status=status)
        )
        return result.rowcount == 1

    def add_user(self, email: str, api_key_digest: bytes, *, now: datetime) -> None:
        """Store a user and the digest of their global API key."""
        self._conn.execute(
            insert(users).values(
                email=email, api_key_digest=api_key_digest, created_at=to_micros(now)
            )
        )

    def add_membership(self, email: str, account_id: str) -> None:
        """Make a user a member (with full rights) of an account."""
        self._conn.execute(insert(memberships).values(email=email, account_id=account_id))

    def user(self, email: str) -> UserRecord | None:
        """The user with that email and the accounts they belong to.

        One statement whether or not the user exists, so a known email costs the same
        database work as an unknown one (no timing oracle on X-Auth-Email).
        """
        rows = self._conn.execute(_USER_WITH_MEMBERSHIPS, {"email": email}).all()
        if not rows:
            return None
        account_ids = tuple(row.account_id for row in rows if row.account_id is not None)
        return UserRecord(rows[0].email, bytes(rows[0].api_key_digest), account_ids)

    def set_user_api_key(self, email: str, api_key_digest: bytes) -> bool:
        """Replace a user's global API key digest; False when there is no such user."""
        result = self._conn.execute(
            update(users).where(users.c.email == email).values(api_key_digest=api_key_digest)
        )
        return result.rowcount == 1

    def remove_membership(self, email: str, account_id: str) -> bool:
        """End a user's membership of an account; False when they were not a member."""
        result = self._conn.execute(
            delete(memberships).where(
                memberships.c.email == email, memberships.c.account_id == account_id
            )
        )
        return result.rowcount == 1

    def delete_user(self, email: str) -> None:
        """Remove a user row (its memberships must be gone already)."""
        self._conn.execute(delete(users).where(users.c.email == email))

    # -- service tokens -----------------------------------------------------------------

    def list_tokens(
        self,
        container: Container,
        query: ListQuery,
        *,
        token_count: int | None = None,
        plan: SearchPlan | None = None,
    ) -> tuple[list[ServiceToken], int]:
        """One page of a container's tokens, in (created_at, id) order, and the total count.

        `token_count` is the container's stored count, when the caller has already read it.
        A `search` reads at most about as much as a walk of the container's own tokens (see
        `search_plan`); `plan` forces one way (tests compare them).
        """
        if token_count is None:
            token_count = self.container_state(container)[1]
        if query.search is not None and plan is None:
            plan = self.search_plan(query.search, token_count=token_count)
        if query.search is not None and self._postgres:
            # One search, one backend: parallel workers would take every core for a walk
            # that is the caller's own cost, from other accounts' requests.
            self._conn.exec_driver_sql("SET LOCAL max_parallel_workers_per_gather = 0")
        count, page, counted_page = list_statements(
            container, query, dialect=self._conn.dialect.name, plan=plan or SearchPlan.INDEX
        )
        if query.name is None and query.search is None:
            total = token_count
            if query.past_any_end or query.offset >= total:
                return [], total
            return [_token_from_row(row) for row in self._conn.execute(page)], total
        if query.past_any_end:
            return [], self._conn.execute(count).scalar_one()
        if not self._postgres and plan is SearchPlan.INDEX and query.search is not None:
            # Few matches (the plan was chosen for it), found through FTS5 and sorted: one
            # query returns the page with the number of matches beside each row (a window
            # count), so the index is read once; only a page past the end needs a count.
            rows = self._conn.execute(counted_page).all()
            if rows:
                return [_token_from_row(row) for row in rows], int(rows[0]._mapping[_TOTAL])
            return [], self._conn.execute(count).scalar_one() if query.offset else 0
        # A walk of the container's rows in page order (or PostgreSQL's plan): a window count
        # would hold every match, whole, until the walk ends (3-7x the walk itself when most
        # rows match). The page stops at its last row; a page that is not full also gives
        # the count, so only a full page pays a second, narrow walk.
        tokens = [_token_from_row(row) for row in self._conn.execute(page)]
        if len(tokens) == query.per_page or (not tokens and query.offset):
            return tokens, self._conn.execute(count).scalar_one()
        return tokens, query.offset + len(tokens)

    def search_plan(self, search: str, *, token_count: int, total: int | None = None) -> SearchPlan:
        """How a search for `search` in a container of `token_count` tokens reads least.

        The trigram index is used only where it cannot cost much more than a walk of the
        container itself. On SQLite: when the container holds at least 1/16 of all tokens
        (below that, even reading the index's lists for a term, ~5 ns per entry and trigram
        over the whole table, can cost more than the walk) and the term matches fewer than
        `token_count / 16` tokens in the whole table (found by reading at most that many
        index entries). On PostgreSQL: when the container holds at least a quarter of all
        tokens (then the index reads at most ~4× the container's rows, and the planner
        weighs it against the walk). Terms shorter than three characters have no trigram to
        look up: always the walk. `total` is the number of all tokens (read when not given).
        """
        folded = search.casefold()
        if len(folded) < _MIN_INDEXED_SEARCH:
            return SearchPlan.CONTAINER
        if total is None:
            total = (self._token_total or _TokenTotal(ttl=0)).get(self._conn)
        share = _PG_INDEX_SHARE if self._postgres else _FTS_ROW_COST
        if token_count * share < total:
            return SearchPlan.CONTAINER
        if self._postgres:
            return SearchPlan.INDEX
        budget = token_count // _FTS_ROW_COST
        if budget and _fts_matches_below(self._conn, folded, budget):
            return SearchPlan.INDEX
        return SearchPlan.CONTAINER

    def token(
        self, container: Container, token_id: str, *, for_update: bool = False
    ) -> ServiceToken | None:
        """The container's token with that id (locked for update on PostgreSQL if asked)."""
        statement = select(service_tokens).where(
            service_tokens.c.id == token_id,
            service_tokens.c.container_kind == container.kind.value,
            service_tokens.c.container_id == container.id,
        )
        if for_update and self._postgres:
            statement = statement.with_for_update()
        row = self._conn.execute(statement).first()
        return None if row is None else _token_from_row(row)

    def token_by_client_id(self, client_id: str) -> ServiceToken | None:
        """The token with that client id, in any container."""
        row = self._conn.execute(
            select(service_tokens).where(service_tokens.c.client_id == client_id)
        ).first()
        return None if row is None else _token_from_row(row)

    def insert_token(self, token: ServiceToken) -> None:
        """Store a new token."""
        self._conn.execute(_INSERT_TOKEN, _token_values(token))

    def insert_tokens(self, tokens: Sequence[ServiceToken]) -> None:
        """Store many new tokens in one statement (bulk seeding)."""
        if not tokens:
            return
        self._conn.execute(_INSERT_TOKEN, [_token_values(t) for t in tokens])
        per_container: dict[Container, int] = {}
        for token in tokens:
            per_container[token.container] = per_container.get(token.container, 0) + 1
        for container, added in per_container.items():
            self.bump_container(container, count_delta=added)

    def save_token(self, token: ServiceToken) -> None:
        """Overwrite a token's mutable fields (last_seen_at is left to `touch_last_seen`)."""
        values = _token_values(token)
        for fixed in ("id", "container_kind", "container_id", "account_id", "created_at"):
            values.pop(fixed)
        values.pop("last_seen_at")
        self._conn.execute(
            update(service_tokens).where(service_tokens.c.id == token.id).values(**values)
        )

    def delete_token(self, token_id: str) -> None:
        """Remove a token for good."""
        self._conn.execute(delete(service_tokens).where(service_tokens.c.id == token_id))

    def record_change(self, token: ServiceToken, *, now: datetime, count_delta: int = 0) -> None:
        """Announce a write to `token` to every cache in every process (on commit), and bump
        its container's version (and token count by `count_delta`)."""
        self._conn.execute(
            _INSERT_CHANGE,
            dict(
                client_id=token.client_id,
                container_kind=token.container.kind.value,
                container_id=token.container.id,
                changed_at=to_micros(now),
            ),
        )
        self.bump_container(token.container, count_delta=count_delta)
        if self._postgres:
            self._conn.execute(select(func.pg_notify(CHANGES_CHANNEL, token.client_id)))

    def bump_container(self, container: Container, *, count_delta: int) -> None:
        """Advance the container's version; adjust its token count."""
        self._conn.execute(
            _BUMP_PG if self._postgres else _BUMP_SQLITE,
            {
                "kind": container.kind.value,
                "id": container.id,
                "initial": max(count_delta, 0),
                "delta": count_delta,
            },
        )

    def bump_credentials(self) -> None:
        """Advance the credentials version: every cached principal must be read again."""
        insert_fn = pg_insert if self._postgres else sqlite_insert
        table = container_versions
        statement = insert_fn(table).values(
            container_kind=_CREDENTIALS[0], container_id=_CREDENTIALS[1], version=1, token_count=0
        )
        self._conn.execute(
            statement.on_conflict_do_update(
                index_elements=[table.c.container_kind, table.c.container_id],
                set_={"version": table.c.version + 1},
            )
        )

    def versions(self, kind: ContainerKind, container_id: str) -> tuple[int, int, int]:
        """(container version, its token count, credentials version) in one indexed query;
        0 for what was never bumped."""
        # The hottest query of the API: plain SQL, so no statement is built or compiled.
        sql = _VERSIONS_SQL_PG if self._postgres else _VERSIONS_SQL_SQLITE
        params: Any = (
            {"kind": kind.value, "id": container_id}
            if self._postgres
            else (kind.value, container_id)
        )
        return _fold_versions(self._conn.exec_driver_sql(sql, params).all())

    def container_state(self, container: Container) -> tuple[int, int]:
        """(version, token count) of a container; (0, 0) before its first token."""
        row = self._conn.execute(
            select(container_versions.c.version, container_versions.c.token_count).where(
                container_versions.c.container_kind == container.kind.value,
                container_versions.c.container_id == container.id,
            )
        ).first()
        return (0, 0) if row is None else (row.version, row.token_count)

    def add_audit(self, entry: AuditEntry) -> None:
        """Record an audit entry (in the caller's transaction: it commits with the change).

        Every field is first bounded to what the columns hold (`domain.audit.storable`), so
        no entry, however hostile its values, can make the write fail."""
        entry = storable(entry)
        self._conn.execute(
            _INSERT_AUDIT,
            dict(
                at=to_micros(entry.at),
                account_id=entry.account_id,
                actor_kind=entry.actor_kind,
                actor_id=entry.actor_id,
                action=entry.action,
                target=entry.target,
                origin=entry.origin,
                detail=detail_json(entry),
            ),
        )

    def audit_entries(
        self, *, account_id: str | None, since: datetime | None, limit: int
    ) -> list[AuditEntry]:
        """The newest `limit` entries (optionally of one account, at or after `since`),
        oldest first."""
        statement = select(audit_log).order_by(audit_log.c.at.desc(), audit_log.c.id.desc())
        if account_id is not None:
            statement = statement.where(audit_log.c.account_id == account_id)
        if since is not None:
            statement = statement.where(audit_log.c.at >= to_micros(since))
        rows = list(self._conn.execute(statement.limit(limit)))
        return [
            AuditEntry(
                at=from_micros(row.at),
                actor_kind=row.actor_kind,
                actor_id=row.actor_id,
                action=row.action,
                account_id=row.account_id,
                target=row.target,
                origin=row.origin,
                detail=json.loads(row.detail),
            )
            for row in reversed(rows)
        ]

    def prune_audit(self, before: datetime, *, limit: int) -> int:
        """Delete at most `limit` entries older than `before`; how many were deleted.

        One bounded statement, so a large backlog never holds the write lock for long:
        callers repeat it, one short transaction each, until it deletes fewer than `limit`.
        """
        oldest = select(audit_log.c.id).where(audit_log.c.at < to_micros(before)).limit(limit)
        result = self._conn.execute(delete(audit_log).where(audit_log.c.id.in_(oldest)))
        return int(result.rowcount)

    def changes_since(self, changed_at: int) -> list[TokenChange]:
        """Changes recorded at or after `changed_at` (microseconds), oldest first."""
        rows = self._conn.execute(
            select(token_changes)
            .where(token_changes.c.changed_at >= changed_at)
            .order_by(token_changes.c.seq)
        )
        return [
            TokenChange(
                row.seq, row.client_id, (row.container_kind, row.container_id), row.changed_at
            )
            for row in rows
        ]

    def prune_changes(self, before: int) -> None:
        """Forget changes older than `before` (microseconds); readers look back seconds."""
        self._conn.execute(delete(token_changes).where(token_changes.c.changed_at < before))

    def touch_last_seen(self, seen: Iterable[tuple[str, datetime]]) -> None:
        """Move `last_seen_at` forward (never back) for each (token id, time), in one
        executemany (psycopg pipelines it: one round trip, not one per token)."""
        rows = [{"token_id": token_id, "at": to_micros(moment)} for token_id, moment in seen]
        if rows:
            self._conn.execute(_TOUCH_LAST_SEEN, rows)

    # -- gate: signing keys -------------------------------------------------------------

    def signing_keys(self) -> list[SigningKeyRecord]:
        """Every stored signing key, oldest activation first."""
        rows = self._conn.execute(
            select(signing_keys).order_by(signing_keys.c.activates_at, signing_keys.c.kid)
        )
        return [
            SigningKeyRecord(
                row.kid,
                row.wrapped_key,
                row.kek_id,
                row.cert_pem,
                row.created_at,
                row.activates_at,
            )
            for row in rows
        ]

    def lock_signing_keys(self) -> None:
        """Serialise key rotation across processes until this transaction ends.

        SQLite write transactions already hold the database lock (BEGIN IMMEDIATE).
        """
        if self._postgres:
            self._conn.execute(select(func.pg_advisory_xact_lock(_SIGNING_KEYS_LOCK)))

    def add_signing_key(self, key: SigningKeyRecord) -> None:
        """Store a new signing key."""
        self._conn.execute(
            insert(signing_keys).values(
                kid=key.kid,
                wrapped_key=key.wrapped_key,
                kek_id=key.kek_id,
                cert_pem=key.cert_pem,
                created_at=key.created_at,
                activates_at=key.activates_at,
            )
        )

    def delete_signing_keys(self, kids: Sequence[str]) -> None:
        """Forget retired signing keys."""
        if kids:
            self._conn.execute(delete(signing_keys).where(signing_keys.c.kid.in_(list(kids))))

    def rewrap_signing_key(self, kid: str, *, wrapped_key: str, kek_id: str) -> None:
        """Store `kid`'s private key wrapped anew (under the key-encryption key `kek_id`)."""
        self._conn.execute(
            update(signing_keys)
            .where(signing_keys.c.kid == kid)
            .values(wrapped_key=wrapped_key, kek_id=kek_id)
        )

    @contextmanager
    def erasing(self) -> Iterator[None]:
        """SQLite: content deleted or replaced inside the block is overwritten with zeros
        (`secure_delete`), so replaced key material does not linger in free pages.
        PostgreSQL keeps dead rows until VACUUM (see docs/gate.md)."""
        if self._postgres:
            yield
            return
        self._conn.exec_driver_sql("PRAGMA secure_delete=ON")
        try:
            yield
        finally:
            self._conn.exec_driver_sql("PRAGMA secure_delete=OFF")


class Repository:
    """Opens transactions on one engine."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.inline_reads = engine.dialect.name == "sqlite"
        """Whether short reads may run on the event loop (an embedded engine: no network)."""
        self._committer = GroupCommitter(engine, Transaction) if self.inline_reads else None
        database = engine.url.database if self.inline_reads else None
        self._probe_path = database if database and database != ":memory:" else None
        self._probes = threading.local()
        self._token_total = _TokenTotal()

    def probe_versions(self, kind: ContainerKind, container_id: str) -> tuple[int, int, int]:
        """`Transaction.versions` at the lowest cost the engine allows.

        On an SQLite file this is one statement on a per-thread read-only connection kept
        outside the pool (a few microseconds); elsewhere one statement on a pooled connection
        in autocommit (one statement reads one snapshot, so no BEGIN and COMMIT round trips).
        """
        if self._probe_path is None:
            if self.inline_reads:  # SQLite in memory: the pool's one connection
                with self.read() as tx:
                    return tx.versions(kind, container_id)
            with self.engine.connect() as pooled:
                autocommit = pooled.execution_options(isolation_level="AUTOCOMMIT")
                return Transaction(autocommit).versions(kind, container_id)
        connection = getattr(self._probes, "connection", None)
        if connection is None:
            connection = sqlite3.connect(
                self._probe_path, isolation_level=None, check_same_thread=False, timeout=10
            )
            connection.execute("PRAGMA query_only=1")
            self._probes.connection = connection
        rows = connection.execute(_VERSIONS_SQL_SQLITE, (kind.value, container_id)).fetchall()
        return _fold_versions(rows)

    def run_write(self, unit: Callable[[Transaction], T]) -> T:
        """Run `unit` in a committed write transaction and return its result.

        On SQLite concurrent units share one transaction and one fsync (group commit), each
        in its own savepoint; on PostgreSQL each runs in a transaction of its own. Either
        way the result comes back only once the write is durable, and an exception from
        `unit` undoes exactly that unit's writes.
        """
        if self._committer is not None:
            return self._committer.run(unit)
        with self.write() as tx:
            return unit(tx)

    @contextmanager
    def read(self) -> Iterator[Transaction]:
        """A read-only transaction."""
        with self.engine.connect() as connection, connection.begin():
            yield Transaction(connection, token_total=self._token_total)

    @contextmanager
    def write(self) -> Iterator[Transaction]:
        """A write transaction, committed when the block ends without an exception."""
        with self.engine.connect() as connection:
            connection.info[WRITE_INTENT] = True
            with connection.begin():
                yield Transaction(connection)
