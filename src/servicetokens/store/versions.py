"""Versions and the change feed: how every process learns that something changed.

`container_versions` holds one row per account or zone (its version and token count, both
bumped in the transaction of every token mutation), one `credentials` row whose version
covers every API credential, and one `control_plane` row per account whose version moves
with every write to its policies, applications or organizations (with `NOTIFY` of the
account id on PostgreSQL). `token_changes` is the feed the gates' caches follow (with
`NOTIFY` on PostgreSQL).
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, delete, insert, select
from sqlalchemy.engine import Connection

from servicetokens.domain.changes import TokenChange
from servicetokens.domain.clock import to_micros
from servicetokens.domain.permissions import Container, ContainerKind
from servicetokens.domain.tokens import ServiceToken
from servicetokens.store.dialect import Dialect, Session
from servicetokens.store.schema import container_versions, token_changes

__all__ = [
    "CHANGES_CHANNEL",
    "CONTROL_PLANE_CHANNEL",
    "VersionStore",
    "fold_versions",
    "versions_on",
    "versions_sql",
]

_JOB_LOCK = 0x3B_0000_0000
"""Advisory lock keys of background jobs: this prefix and a CRC-32 of the job's name."""

CHANGES_CHANNEL = "servicetokens_changes"
"""PostgreSQL NOTIFY channel; the payload is the changed token's client id."""

CONTROL_PLANE_CHANNEL = "servicetokens_control_plane"
"""PostgreSQL NOTIFY channel of control-plane writes; the payload is the account id."""

_CONTROL_PLANE = "control_plane"
"""The container_kind of an account's control-plane version row."""

_CONTROL_PLANE_LOCK = 1 << 61
_NOTIFICATIONS_LOCK = 1 << 62

_KEYS = "keys_"
"""Prefix of the container_kind of a container's keys-version row (`bump_keys`)."""

_CREDENTIALS = ("credentials", "all")
"""The container_versions row whose version covers every API credential."""

VERSIONS_SQL = (
    "SELECT container_kind, version, token_count FROM container_versions "
    "WHERE (container_kind = {kind} AND container_id = {id}) "
    "OR (container_kind = 'credentials' AND container_id = 'all')"
)
"""The hottest query of the API, as plain SQL with `{kind}` and `{id}` slots."""

_INSERT_CHANGE = insert(token_changes)


def _bump_statement(dialect: Dialect) -> Any:
    table = container_versions
    return (
        dialect.upsert(table)
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


# Built once per engine: the write path executes it for every mutation.
_BUMP = {name: _bump_statement(Dialect(name)) for name in ("sqlite", "postgresql")}
_VERSIONS = {
    name: Dialect(name).placeholders(VERSIONS_SQL, "kind", "id")
    for name in ("sqlite", "postgresql")
}


def _keys_kind(container: Container) -> str:
    return _KEYS + container.kind.value


def fold_versions(rows: Sequence[Any]) -> tuple[int, int, int]:
    """Rows of `VERSIONS_SQL` → (container version, token count, credentials version)."""
    container_version = token_count = credentials_version = 0
    for row_kind, row_version, row_count in rows:
        if row_kind == _CREDENTIALS[0]:
            credentials_version = row_version
        else:
            container_version, token_count = row_version, row_count
    return container_version, token_count, credentials_version


def versions_sql(dialect: Dialect) -> str:
    """`VERSIONS_SQL` in the dialect's parameter style."""
    return _VERSIONS[dialect.name]


def versions_on(
    connection: Connection, dialect: Dialect, kind: ContainerKind, container_id: str
) -> tuple[int, int, int]:
    """`VersionStore.versions` on any connection (autocommit probes use it)."""
    params: Any = (
        {"kind": kind.value, "id": container_id} if dialect.postgres else (kind.value, container_id)
    )
    # Plain SQL, so no statement is built or compiled.
    return fold_versions(connection.exec_driver_sql(versions_sql(dialect), params).all())


class VersionStore(Session):
    """Container and credential versions, and the token change feed."""

    __slots__ = ()

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
        self._dialect.notify(self._conn, CHANGES_CHANNEL, token.client_id)

    def bump_container(self, container: Container, *, count_delta: int) -> None:
        """Advance the container's version; adjust its token count."""
        self._conn.execute(
            _BUMP[self._dialect.name],
            {
                "kind": container.kind.value,
                "id": container.id,
                "initial": max(count_delta, 0),
                "delta": count_delta,
            },
        )

    def bump_credentials(self) -> None:
        """Advance the credentials version: every cached principal must be read again."""
        table = container_versions
        statement = self._dialect.upsert(table).values(
            container_kind=_CREDENTIALS[0], container_id=_CREDENTIALS[1], version=1, token_count=0
        )
        self._conn.execute(
            statement.on_conflict_do_update(
                index_elements=[table.c.container_kind, table.c.container_id],
                set_={"version": table.c.version + 1},
            )
        )

    def claim_job_run(self, job: str) -> bool:
        """Whether this transaction is the one runner of background job `job` right now:
        other processes' runs of the same job (PostgreSQL) find it taken and skip; on
        SQLite the write transaction already excludes every other writer."""
        key = _JOB_LOCK | zlib.crc32(job.encode())
        return self._dialect.try_advisory_lock(self._conn, key)

    def lock_control_plane(self, account_id: str) -> None:
        """Serialise, until this transaction ends, with every other write to the account's
        control plane and with deletions of its service tokens (PostgreSQL; an SQLite write
        transaction holds the database lock already). Reference checks (a policy naming a
        token, an application claiming a hostname) then see no concurrent change."""
        # 60 bits of the account id, well away from the migration lock's key.
        self._dialect.advisory_lock(self._conn, _CONTROL_PLANE_LOCK | int(account_id[:15], 16))

    def lock_notifications(self, account_id: str) -> None:
        """Serialise, until this transaction ends, with every other write to the account's
        notification destinations and policies (PostgreSQL; an SQLite write transaction
        holds the database lock already), so their per-account caps hold exactly."""
        self._dialect.advisory_lock(self._conn, _NOTIFICATIONS_LOCK | int(account_id[:15], 16))

    def bump_control_plane(self, account_id: str) -> None:
        """Advance the account's control-plane version (policies, applications,
        organizations) and, on PostgreSQL, NOTIFY the account id on commit."""
        self._conn.execute(
            _BUMP[self._dialect.name],
            {"kind": _CONTROL_PLANE, "id": account_id, "initial": 0, "delta": 0},
        )
        self._dialect.notify(self._conn, CONTROL_PLANE_CHANNEL, account_id)

    def bump_keys(self, container: Container) -> None:
        """Advance the container's keys version: the set of its tokens' search keys (names
        and client ids) changed (a token created, deleted or renamed)."""
        self._conn.execute(
            _BUMP[self._dialect.name],
            {"kind": _keys_kind(container), "id": container.id, "initial": 0, "delta": 0},
        )

    def keys_version(self, container: Container) -> int:
        """The container's keys version (`bump_keys`); 0 before its first token.

        Unlike the container's version it does not move when a token is seen, rotated,
        refreshed or enabled: what matches a `name` or `search` filter, and so its count,
        is the same at every version with the same keys version."""
        row = self._conn.execute(
            select(container_versions.c.version).where(
                container_versions.c.container_kind == _keys_kind(container),
                container_versions.c.container_id == container.id,
            )
        ).first()
        return 0 if row is None else int(row.version)

    def control_plane_version(self, account_id: str) -> int:
        """The account's control-plane version; 0 before its first control-plane write."""
        row = self._conn.execute(
            select(container_versions.c.version).where(
                container_versions.c.container_kind == _CONTROL_PLANE,
                container_versions.c.container_id == account_id,
            )
        ).first()
        return 0 if row is None else int(row.version)

    def versions(self, kind: ContainerKind, container_id: str) -> tuple[int, int, int]:
        """(container version, its token count, credentials version) in one indexed query;
        0 for what was never bumped."""
        return versions_on(self._conn, self._dialect, kind, container_id)

    def container_state(self, container: Container) -> tuple[int, int]:
        """(version, token count) of a container; (0, 0) before its first token."""
        row = self._conn.execute(
            select(container_versions.c.version, container_versions.c.token_count).where(
                container_versions.c.container_kind == container.kind.value,
                container_versions.c.container_id == container.id,
            )
        ).first()
        return (0, 0) if row is None else (row.version, row.token_count)

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
